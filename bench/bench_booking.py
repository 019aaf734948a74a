"""Booking under load (issue 2): the real server (`dengji serve`) against a bare Sanic baseline, same run.

    .venv/bin/python bench/bench_booking.py [-n 200] [--bursts 5] [--seconds 5] [--connections 50] [--workers 1]

PostgreSQL + Redis when reachable (DENGJI_TEST_DATABASE_URL / DENGJI_TEST_REDIS_URL, else the 127.0.0.1
defaults; a throwaway database is created and dropped), SQLite + embedded Redis otherwise. N citizens log in
through the fake WeChat API and bind a real name; then, from a separate load process:
  1. availability reads/s (GET /api/halls/center/slots) vs a bare Sanic JSON endpoint served the same way;
  2. N clients racing for one slot; 3. N clients booking spread over many slots;
each scenario is `--bursts` bursts of N simultaneous requests (fresh citizens each burst), and its
percentiles pool every request of its bursts. Overbookings are computed from the database afterwards
(must be 0).

As in production, the slot counters of the booking window exist before the rush (the periodic job
`booking.counters.prepare` keeps them; the bench runs the same function once after seeding), and the
server is warm: N extra citizens book another day in one burst before the measured ones (database
statements prepared on the pool's connections, caches filled), as the read phase warms up too.
With one worker and at least two CPUs, the server is pinned to CPU 0 and the load process to CPU 1
(PostgreSQL and Redis float), as in bench_wechat.py.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
DATA_KEY = base64.urlsafe_b64encode(b"b" * 32).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ───────────────────────── bare Sanic baseline (own process) ─────────────────────────


def bare_main(port: int) -> None:
    from sanic import Sanic
    from sanic.response import json as sjson

    app = Sanic("bare")
    payload = {"hall": {"id": 1, "code": "center", "name": "中心大厅"}, "date": "2026-11-24", "slots": [
        {"start": f"{h:02d}:{m:02d}", "remaining": 10, "bookable": True} for h in range(9, 16) for m in (0, 30)]}

    @app.get("/slots")
    async def slots(request):
        return sjson(payload)

    app.run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)


# ───────────────────────── load generator (own process) ─────────────────────────


async def _hammer(host: str, port: int, path: str, connections: int, seconds: float) -> dict:
    """Keep-alive GETs on raw sockets: a client light enough not to be the bottleneck."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def conn() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                done += 1
            else:
                errors += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    return {"rps": done / (time.perf_counter() - start), "errors": errors}


async def _race(host: str, port: int, jobs: list[dict]) -> dict:
    """Fire every booking at once, one keep-alive connection per client (raw HTTP/1.1: a light client)."""
    conns = [await asyncio.open_connection(host, port) for _ in jobs]
    requests = []
    for job in jobs:
        body = json.dumps(job["body"]).encode()
        requests.append(f"POST /api/bookings HTTP/1.1\r\nHost: {host}\r\nAuthorization: {job['auth']}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    # Open the connections first (one GET each) so the burst measures booking, not TCP set-up.
    for _, writer in conns:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    for reader, _ in conns:
        await _read_response(reader)
    lat: list[float] = []
    statuses: dict[int, int] = {}

    async def one(conn, request: bytes) -> None:
        reader, writer = conn
        t = time.perf_counter()
        writer.write(request)
        status, _ = await _read_response(reader)
        lat.append(time.perf_counter() - t)
        statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(one(c, r) for c, r in zip(conns, requests, strict=True)))
    wall = time.perf_counter() - start
    for _, writer in conns:
        writer.close()
    return {"wall": wall, "ok": statuses.get(201, 0), "statuses": statuses, "lat": lat}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _bursts(results: list[dict]) -> dict:
    """Pool the bursts of one scenario: every booking's latency counts once in the percentiles."""
    lat = [x for r in results for x in r["lat"]]
    statuses: dict[str, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    return {"bursts": len(results), "requests": len(lat), "ok": sum(r["ok"] for r in results),
            "statuses": statuses, "wall": sum(r["wall"] for r in results),
            "p50_ms": _pct(lat, 0.50), "p99_ms": _pct(lat, 0.99),
            "burst_p99_ms": [_pct(r["lat"], 0.99) for r in results]}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return int(head[9:12]), await reader.readexactly(length)


def load_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = {}
    try:  # the client shares a CPU with the database: keep it light
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def run() -> None:
        host, port = "127.0.0.1", spec["port"]
        for _ in range(2):  # warm both servers
            await _hammer(host, spec["bare_port"], "/slots", 4, 0.5)
            await _hammer(host, port, spec["slots_path"], 4, 0.5)
        out["bare"] = await _hammer(host, spec["bare_port"], "/slots", spec["connections"], spec["seconds"])
        out["avail"] = await _hammer(host, port, spec["slots_path"], spec["connections"], spec["seconds"])
        await _race(host, port, spec["warm"])  # not reported: warms the server like the reads
        out["one_slot"] = _bursts([await _race(host, port, burst) for burst in spec["one_slot"]])
        out["many_slots"] = _bursts([await _race(host, port, burst) for burst in spec["many_slots"]])

    asyncio.run(run())
    print(json.dumps(out))


# ───────────────────────── orchestration ─────────────────────────


async def _reachable(pg: str, redis_url: str) -> bool:
    import asyncpg
    import redis.asyncio as aioredis

    try:
        conn = await asyncpg.connect(pg.replace("postgres://", "postgresql://", 1), timeout=2)
        await conn.close()
        r = aioredis.from_url(redis_url)
        await r.ping()
        await r.aclose()
        return True
    except Exception:
        return False


async def _pg_admin(pg: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _prepare_db(settings) -> dict:
    """Create the schema, seed the sample data and pick the days to book (real time, Asia/Shanghai)."""
    from tortoise import Tortoise

    from server.booking import availability
    from server.catalog import seed
    from server.catalog import service as catalog_service

    await Tortoise.init(config=settings.tortoise_config())
    await Tortoise.generate_schemas()
    await seed.seed(settings)
    catalog = await catalog_service.load()
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    days = [now.date() + timedelta(days=n) for n in range(1, catalog.rules.window_days - 1)]
    await availability.prepare_window(catalog, now)  # what the periodic job keeps in place
    await Tortoise.close_connections()
    days = [d for d in days if catalog.slot_starts("center", d) and catalog.slot_starts("east", d)]
    plan = {"day1": days[0], "day2": days[1] if len(days) > 1 else days[0], "warm": days[-1]}
    plan["many"] = [(h, s.strftime("%H:%M")) for h in catalog.halls for s in catalog.slot_starts(h, plan["day2"])]
    plan["center_starts"] = [s.strftime("%H:%M") for s in catalog.slot_starts("center", plan["day1"])]
    return plan


async def _overbookings(settings) -> tuple[int, int, int]:
    """Return (overbooked places, counter/row mismatches, booking rows), from the database."""
    from tortoise import Tortoise

    from models import Booking, SlotCounter

    await Tortoise.init(config=settings.tortoise_config())
    over = mismatch = 0
    for c in await SlotCounter.all():
        rows = await Booking.filter(counter_id=c.id, released_at=None).count()
        over += max(0, rows - c.quota)
        mismatch += rows != c.booked
    total = await Booking.all().count()
    await Tortoise.close_connections()
    return over, mismatch, total


async def _citizens(url: str, n: int) -> list[str]:
    import httpx

    from tests.factories import face_bind, make_id_number, person_code

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        sem = asyncio.Semaphore(20)

        async def one(i: int) -> str:
            async with sem:
                id_number = make_id_number(birth=f"19{50 + i // 1000:02d}0{1 + i // 100 % 9}1{i // 10 % 10}",
                                           seq=i % 1000)
                # The person really is 测试 with this ID: the fake WeChat's face verification passes.
                code = person_code(f"bench-{uuid.uuid4().hex[:12]}", name="测试", id_number=id_number)
                res = await client.post("/api/mp/login", json={"code": code})
                auth = f"Bearer {res.json()['token']}"
                res = await face_bind(client, {"Authorization": auth}, name="测试", id_number=id_number,
                                      mobile=f"139{i:08d}")
                assert res.status_code == 200, res.text
                return auth

        return await asyncio.gather(*(one(i) for i in range(n)))


def _wait(url: str, proc: subprocess.Popen, timeout: float = 40) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="citizens / concurrent booking clients")
    ap.add_argument("--seconds", type=float, default=5, help="duration of each read phase")
    ap.add_argument("--connections", type=int, default=50, help="concurrent connections for reads")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bursts", type=int, default=5, help="measured bursts per scenario (fresh citizens each)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and load process to separate CPUs")
    ap.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--load", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        return bare_main(args.bare)
    if args.load:
        return load_main(args.load)

    from config.settings import Settings
    from tests.fakewechat import FakeWeChat

    pg = os.environ.get("DENGJI_TEST_DATABASE_URL") or PG_DEFAULT
    redis_url = os.environ.get("DENGJI_TEST_REDIS_URL") or REDIS_DEFAULT
    real = asyncio.run(_reachable(pg, redis_url))
    tmp = Path(tempfile.mkdtemp(prefix="dengji-bench-"))
    dbname = f"dengji_bench_{uuid.uuid4().hex[:8]}"
    if real:
        asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{dbname}"'))
        db_url = pg.rpartition("/")[0] + f"/{dbname}?maxsize=20"
    else:
        db_url, redis_url = f"sqlite://{tmp}/bench.sqlite3", ""
        args.workers = 1
    port, bare_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    with FakeWeChat() as fake:
        env = {**os.environ, "DENGJI_ENV": "development", "DENGJI_HOME": str(tmp), "DENGJI_DATABASE_URL": db_url,
               "DENGJI_REDIS_URL": redis_url, "DENGJI_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:6]}:",
               "DENGJI_DATA_KEY": DATA_KEY, "DENGJI_WECHAT_API_BASE": fake.base_url,
               "DENGJI_MP_APPID": fake.mp_appid, "DENGJI_MP_SECRET": fake.mp_secret,
               "DENGJI_WECHAT_APPID": fake.appid, "DENGJI_WECHAT_SECRET": fake.secret}
        settings = Settings(env="development", home=tmp, database_url=db_url, data_key=DATA_KEY)
        try:
            plan = asyncio.run(_prepare_db(settings))
            # One worker runs in a single process (no Sanic manager process), like the bare baseline.
            pin = not args.no_pin and args.workers == 1 and (os.cpu_count() or 1) >= 2
            server_cpu = ["taskset", "-c", "0"] if pin else []
            load_cpu = ["taskset", "-c", "1"] if pin else []
            procs.append(subprocess.Popen([*server_cpu, str(REPO / ".venv/bin/dengji"), "serve", "--port", str(port),
                                           "--workers", str(args.workers)], env=env, cwd=REPO,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen([*server_cpu, sys.executable, __file__, "--bare", str(bare_port)], cwd=REPO,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            url = f"http://127.0.0.1:{port}"
            _wait(url + "/healthz", procs[0])
            _wait(f"http://127.0.0.1:{bare_port}/slots", procs[1])
            # One group of N citizens per burst, plus one group for the warm-up burst.
            auths = asyncio.run(_citizens(url, (args.bursts + 1) * args.n))
            groups = [auths[i * args.n:(i + 1) * args.n] for i in range(args.bursts + 1)]
            rng = random.Random(7)

            def spread(group: list[str], day) -> list[dict]:
                return [{"auth": a, "body": {"hall": h, "business_type": "secondhand_transfer",
                                             "date": day.isoformat(), "start": s}}
                        for a, (h, s) in zip(group, (rng.choice(plan["many"]) for _ in group), strict=True)]

            # Burst k races for the k-th slot of the center hall on day 1, then spreads over day 2.
            one_slot = [[{"auth": a, "body": {"hall": "center", "business_type": "secondhand_transfer",
                                              "date": plan["day1"].isoformat(),
                                              "start": plan["center_starts"][k % len(plan["center_starts"])]}}
                         for a in group] for k, group in enumerate(groups[:-1])]
            many = [spread(group, plan["day2"]) for group in groups[:-1]]
            warm = spread(groups[-1], plan["warm"])
            spec = {"port": port, "warm": warm, "bare_port": bare_port, "url": url, "seconds": args.seconds,
                    "connections": args.connections, "one_slot": one_slot, "many_slots": many,
                    "slots_path": f"/api/halls/center/slots?date={plan['day1'].isoformat()}"}
            spec_path = tmp / "spec.json"
            spec_path.write_text(json.dumps(spec))
            res = subprocess.run([*load_cpu, sys.executable, __file__, "--load", str(spec_path)], cwd=REPO,
                                 capture_output=True, text=True, check=True)
            out = json.loads(res.stdout.strip().splitlines()[-1])
            over, mismatch, rows = asyncio.run(_overbookings(settings))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
            if real:
                asyncio.run(_pg_admin(pg, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))

    backend = "PostgreSQL + Redis" if real else "SQLite + embedded Redis"
    pinning = "server on CPU 0, load on CPU 1" if pin else "not pinned"
    print(f"\n## Booking benchmark ({backend}, {args.workers} worker(s), {args.n} clients, "
          f"{os.cpu_count()} cores, {pinning})\n")
    print("| measure | value |\n|---|---|")
    print(f"| bare Sanic JSON reads/s ({args.connections} conns) | {out['bare']['rps']:.0f} |")
    print(f"| availability reads/s (GET /api/halls/center/slots) | {out['avail']['rps']:.0f} |")
    print(f"| **availability / bare Sanic** (target ≥ 50%) | **{out['avail']['rps'] / out['bare']['rps']:.0%}** |")
    for name, label in (("one_slot", "one slot"), ("many_slots", "many slots")):
        r = out[name]
        print(f"| {label}: {r['bursts']} bursts of {args.n} concurrent bookings, booked | {r['ok']} "
              f"({r['statuses']}) |")
        print(f"| {label}: requests/s · bookings/s | {r['requests'] / r['wall']:.0f} · {r['ok'] / r['wall']:.0f} |")
        print(f"| {label}: p50 / p99 latency over all bursts (target p99 < 100 ms) | {r['p50_ms']:.1f} ms / "
              f"{r['p99_ms']:.1f} ms |")
        print(f"| {label}: p99 of each burst, in order | {' · '.join(f'{x:.0f}' for x in r['burst_p99_ms'])} ms |")
    print(f"| overbooked places (from the DB; must be 0) | {over} |")
    print(f"| counters ≠ booking rows | {mismatch} (of {rows} bookings) |")


if __name__ == "__main__":
    main()
