"""Staff console benchmark: every console page's server time with 1 million cases and 100,000 bookings in
PostgreSQL (target: under 300 ms each).

    .venv/bin/python -m bench.bench_console [--cases 1000000] [--bookings 100000] [--pg postgres://…/postgres]
        [--redis redis://127.0.0.1:6379/0] [--rounds 20] [--db NAME]

Loads a throwaway database (the progress bench's 1 M cases by COPY, then bookings, queue tickets and audit
rows by COPY), starts `dengji serve` (1 worker), signs in through /console/login and requests each page
`--rounds` times. Server time is the page's own `Server-Timing` header (request start to rendered body);
the baseline in the same run is the login page (a template with no query). `--db NAME` keeps the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from bench.bench_progress import DATA_KEY, _dsn, _free_port, build_database, receipt, start_server

TZ = ZoneInfo("Asia/Shanghai")
HALLS = ["center", "east", "west", "south", "north", "newdistrict"]
TYPES = ["secondhand_transfer", "mortgage_first", "change", "new_home_transfer"]
STARTS = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00"]
PASSWORD = "bench-password-1"


def person(i: int) -> str:
    """A valid resident ID number per booking (check digit computed), distinct for the first 36 M."""
    from tests.factories import make_id_number

    birth = date(1950, 1, 1) + timedelta(days=i // 1000)
    return make_id_number(birth=birth.strftime("%Y%m%d"), seq=i % 1000)


def _end(start: str) -> str:
    h, m = map(int, start.split(":"))
    m += 30
    return f"{h + m // 60:02d}:{m % 60:02d}"


async def archive_old_cases(url: str, days: int) -> int:
    """Finish cases accepted more than `days` ago, as a real center's are (the progress bench leaves two thirds
    of its million cases unfinished forever); every fiftieth stays open and long overdue."""
    import asyncpg

    pg = await asyncpg.connect(_dsn(url))
    status = await pg.execute(
        "UPDATE cases SET stage = 'archived', finished_at = accepted_at + interval '20 days' "
        "WHERE accepted_at < now() - make_interval(days => $1) AND stage <> 'archived' AND id % 50 <> 1", days)
    await pg.execute("VACUUM ANALYZE cases")
    await pg.close()
    return int(status.split()[-1])


async def add_indexes(url: str) -> None:
    """The indexes migration 0003_queue adds (the bench schema comes from the models, so they exist when
    built fresh; a kept database from before gets them here)."""
    import asyncpg

    pg = await asyncpg.connect(_dsn(url))
    await pg.execute("CREATE INDEX IF NOT EXISTS bench_booking_date_hall ON booking (date, hall_code, status)")
    await pg.execute("CREATE INDEX IF NOT EXISTS bench_cases_overdue "
                     "ON cases (stage, promised_date, hall, business_type, id)")
    await pg.close()


async def add_bookings(url: str, bookings: int, today: date) -> None:
    """Bookings over 60 days around today (past ones finished), today's queue, and audit rows."""
    import asyncpg
    from tortoise import Tortoise

    from config.settings import Settings
    from models import StaffRole
    from server.core.crypto import PiiCipher
    from server.identity.service import id_hash
    from server.staff import service as staff

    settings = Settings(env="test", database_url=url, data_key=DATA_KEY, home=Path("/tmp/dengji-bench"))
    cipher = PiiCipher(settings.master_key)
    await Tortoise.init(config=settings.tortoise_config())
    await staff.create(username="bench-admin", password=PASSWORD, display_name="压测管理员", role=StaffRole.ADMIN)
    await Tortoise.close_connections()
    # Encrypting every row is the slow part: a small pool of real ciphertexts, reused.
    names = [cipher.encrypt(n) for n in ("张三", "李四", "王五", "赵六", "孙七", "周八")]
    mobiles = [cipher.encrypt(f"1380000{i:04d}") for i in range(50)]
    numbers = [cipher.encrypt(person(i)) for i in range(500)]
    now = datetime.now(UTC)
    rows, tickets, audit = [], [], []
    per_day = bookings // 60
    for i in range(bookings):
        day = today + timedelta(days=i // per_day - 45)
        hall, start = HALLS[i % 6], STARTS[(i // 6) % len(STARTS)]
        slot_at = datetime.combine(day, datetime.strptime(start, "%H:%M").time(), TZ)
        past = day < today
        status = ("checked_in" if i % 5 else "no_show") if past else ("pending" if i % 40 == 0 else "confirmed")
        queue_no = None
        if day == today and i % 3 == 0:
            status, queue_no = "checked_in", len(tickets) + 1
            tickets.append((hall, day, queue_no, TYPES[i % 4], i + 1, "waiting" if i % 2 else "done",
                            now - timedelta(minutes=30), now - timedelta(minutes=10) if i % 2 == 0 else None))
        rows.append((i + 1, f"B{i:08d}", id_hash(cipher, person(i)), names[i % 6],
                     numbers[i % 500], mobiles[i % 50], hall, TYPES[i % 4], day, start, _end(start), slot_at,
                     slot_at + timedelta(minutes=30), "online", status, 0, False, queue_no, now, now))
    for i in range(200_000):
        audit.append((now - timedelta(seconds=i), "staff", str(1 + i % 20), "pii.read", "booking", str(i),
                      '["name"]'))
    pg = await asyncpg.connect(_dsn(url))
    await pg.copy_records_to_table("booking", records=rows, columns=[
        "id", "code", "id_hash", "name_enc", "id_number_enc", "mobile_enc", "hall_code", "business_type", "date",
        "start", "end", "slot_at", "slot_end_at", "channel", "status", "counter_id", "subscribe", "queue_no",
        "created_at", "updated_at"])
    # Queue numbers are per hall: renumber in hall order.
    seen: dict[str, int] = {}
    ticket_rows = []
    for hall, day, _, bt, booking_id, status, issued, called in tickets:
        seen[hall] = seen.get(hall, 0) + 1
        ticket_rows.append((hall, day, seen[hall], bt, booking_id, status, issued, called,
                            "1" if called else None, 1 if called else 0, called))
    await pg.copy_records_to_table("queue_ticket", records=ticket_rows, columns=[
        "hall_code", "date", "number", "business_type", "booking_id", "status", "issued_at", "called_at", "window",
        "calls", "done_at"])
    await pg.copy_records_to_table("audit_log", records=audit, columns=[
        "at", "actor_kind", "actor_id", "action", "target_type", "target_id", "fields_read"])
    for table in ("booking", "queue_ticket", "audit_log"):
        await pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await pg.execute(f"VACUUM ANALYZE {table}")
    await pg.close()


def pages(today: date, cases: int) -> dict[str, str]:
    start = (today - timedelta(days=89)).isoformat()
    return {
        "登录页（基线）": "/console/login",
        "首页": "/console/",
        "大厅工作台（今日预约与排队）": "/console/halls/center/desk",
        "排队面板（htmx 刷新）": "/console/halls/center/queue",
        "预约审核": "/console/review",
        # Sent by POST like the page's form, so the ID number stays out of URLs.
        "电话预约：按身份证号查询": ("/console/hotline/find", {"id_number": person(123)}),
        "办件进度：超期统计": "/console/cases",
        "办件详情": f"/console/cases/{receipt(min(123_456, cases - 1))}",
        "通知公告": "/console/notices/",
        "知识库": "/console/kb/",
        "统计报表：全中心 90 天": f"/console/figures/?start={start}&end={today.isoformat()}",
        "统计报表：导出 Excel": f"/console/figures/export/xlsx?start={start}&end={today.isoformat()}",
        "日历与号源": "/console/calendar",
        "人员与审计": "/console/staff",
    }


def server_ms(res: httpx.Response) -> float | None:
    m = re.search(r"dur=([\d.]+)", res.headers.get("server-timing", ""))
    return float(m.group(1)) if m else None


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--bookings", type=int, default=100_000)
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--db", help="keep the bench database under this name and reuse it on later runs")
    ap.add_argument("--archive-after", type=int, default=60,
                    help="finish cases accepted more than this many days ago (0: leave the progress bench's data)")
    opts = ap.parse_args()
    import asyncpg

    name = opts.db or f"dengji_cbench_{uuid.uuid4().hex[:8]}"
    url = opts.pg.rpartition("/")[0] + "/" + name
    today = datetime.now(TZ).date()
    t0 = time.perf_counter()
    conn = await asyncpg.connect(_dsn(opts.pg))
    exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    await conn.close()
    if opts.db and exists:
        load_note = f"reused database {name}"
    else:
        await build_database(opts.pg, name, opts.cases)
        await add_bookings(url, opts.bookings, today)
        load_note = f"COPY load {time.perf_counter() - t0:.0f} s"
    await add_indexes(url)
    if opts.archive_after:
        archived = await archive_old_cases(url, opts.archive_after)
        load_note += f", cases older than {opts.archive_after} days archived ({archived:,} now)"
    pg = await asyncpg.connect(_dsn(url))
    overdue = await pg.fetchval("SELECT count(*) FROM cases WHERE promised_date < current_date "
                                "AND stage NOT IN ('archived', 'ready')")
    await pg.close()
    load_note += f", about {overdue:,} overdue"
    proc = None
    results = []
    try:
        port = _free_port()
        env = {**os.environ, "DENGJI_DATABASE_URL": url, "DENGJI_REDIS_URL": opts.redis, "DENGJI_DATA_KEY": DATA_KEY,
               "DENGJI_REDIS_PREFIX": f"cbench{uuid.uuid4().hex[:6]}:", "DENGJI_PORT": str(port),
               "DENGJI_LOG_LEVEL": "WARNING", "DENGJI_HOME": "/tmp/dengji-bench"}
        proc = start_server([sys.executable, "-m", "server.cli", "serve", "--workers", "1"], env, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            page = (await client.get("/console/login")).text
            form = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            res = await client.post("/console/login", data={"username": "bench-admin", "password": PASSWORD,
                                                             "csrf": form})
            assert res.status_code == 302, res.text[:500]
            csrf = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/console/password")).text).group(1)
            for label, path in pages(today, opts.cases).items():
                path, form = path if isinstance(path, tuple) else (path, None)
                # The queue panel is what htmx fetches every 5 s: the fragment alone.
                headers = {"HX-Request": "true"} if path.endswith("/queue") else {}

                async def fetch(path=path, form=form, headers=headers):
                    if form is not None:
                        return await client.post(path, data={"csrf": csrf, **form})
                    return await client.get(path, headers=headers)

                await fetch()  # warm-up
                server, wall = [], []
                for _ in range(opts.rounds):
                    t = time.perf_counter()
                    res = await fetch()
                    wall.append((time.perf_counter() - t) * 1000)
                    assert res.status_code == 200, (path, res.status_code, res.text[:300])
                    server.append(server_ms(res))
                server_known = [s for s in server if s is not None]
                results.append((label, path, statistics.median(server_known) if server_known else None,
                                max(server_known) if server_known else None, statistics.median(wall), max(wall),
                                len(res.content)))
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        if not opts.db:
            conn = await asyncpg.connect(_dsn(opts.pg))
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    base = results[0][2] or 1.0
    print(f"\n### Console pages ({opts.cases:,} cases, {opts.bookings:,} bookings in PostgreSQL, {load_note}, "
          f"1 worker, {opts.rounds} requests each)\n")
    print("| page | server ms p50 | server ms max | ratio to baseline (p50) | wall ms p50 | wall ms max | KiB |")
    print("|---|---|---|---|---|---|---|")
    for label, path, s50, smax, w50, wmax, size in results:
        s50_text = f"{s50:.1f}" if s50 is not None else "—"
        smax_text = f"{smax:.1f}" if smax is not None else "—"
        ratio = f"{s50 / base:.1f}x" if s50 is not None else "—"
        print(f"| {label} `{path.split('?')[0]}` | {s50_text} | {smax_text} | {ratio} | {w50:.1f} | {wmax:.1f} "
              f"| {size / 1024:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
