"""Case progress benchmark: lookups and signed ingest over HTTP with 1 million cases in PostgreSQL.

    .venv/bin/python -m bench.bench_progress [--cases 1000000] [--pg postgres://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/0] [--workers 1] [--db NAME]

Bulk-loads a throwaway database with COPY (asyncpg), starts `dengji serve` and a bare Sanic endpoint as
subprocesses, and measures both with the same client in the same run (lookup ratio = dengji / bare).
`--db NAME` keeps the loaded database and reuses it on the next run with the same name (the cases the
ingest step moved are put back first); drop it yourself when done. Reuse only while the schema is unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA_KEY = base64.urlsafe_b64encode(b"b" * 32).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def id_number(i: int) -> str:
    return f"320102{19500101 + (i % 400000):08d}{i % 1000:03d}{i % 10}"[:18]


def receipt(i: int) -> str:
    return f"2024-{1 + i // 100000:04d}-{i % 1000000:06d}"


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def reusable(admin_url: str, name: str, cases: int) -> bool:
    """Tell whether a kept bench database with at least `cases` cases exists."""
    import asyncpg

    conn = await asyncpg.connect(_dsn(admin_url))
    exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    await conn.close()
    if not exists:
        return False
    pg = await asyncpg.connect(_dsn(admin_url.rpartition("/")[0] + "/" + name))
    try:
        return (await pg.fetchval("SELECT max(id) FROM cases") or 0) >= cases
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await pg.close()


async def reset_ingest_targets(url: str) -> None:
    """Undo a previous run's ingest: targets back to "accepted", bench events and their history removed."""
    import asyncpg

    pg = await asyncpg.connect(_dsn(url))
    await pg.execute("DELETE FROM case_stage_entry WHERE event_id LIKE 'bench-%'")
    await pg.execute("DELETE FROM case_event WHERE event_id LIKE 'bench-%'")
    await pg.execute("UPDATE cases SET stage = 'accepted', stage_at = created_at, stage_seq = 0 "
                     "WHERE id % 6 = 1 AND stage <> 'accepted'")
    await pg.execute("VACUUM ANALYZE cases")
    await pg.execute("VACUUM ANALYZE case_stage_entry")
    await pg.close()


async def build_database(admin_url: str, name: str, cases: int) -> str:
    import asyncpg
    from tortoise import Tortoise

    from config.settings import Settings
    from server.catalog.seed import seed
    from server.core.crypto import PiiCipher
    from server.identity.service import id_hash

    conn = await asyncpg.connect(_dsn(admin_url))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin_url.rpartition("/")[0] + "/" + name
    settings = Settings(env="test", database_url=url, data_key=DATA_KEY, home=Path("/tmp/dengji-bench"))
    await Tortoise.init(config=settings.tortoise_config())
    await Tortoise.generate_schemas()
    await seed(settings)
    await Tortoise.close_connections()

    cipher = PiiCipher(settings.master_key)
    halls = ["center", "east", "west", "south", "north", "newdistrict"]
    types = ["secondhand_transfer", "mortgage_first", "change", "new_home_transfer"]
    stages = ["accepted", "reviewing", "registered", "certificate", "ready", "archived"]
    now = datetime.now(UTC)
    pg = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    chunk = 100_000
    for start in range(0, cases, chunk):
        ids = range(start, min(cases, start + chunk))
        case_rows, applicant_rows, entry_rows = [], [], []
        for i in ids:
            at = now - timedelta(days=i % 900, minutes=i % 600)
            st = stages[i % len(stages)]
            case_rows.append((i + 1, receipt(i), types[i % 4], halls[i % 6], st, at, 0, "[]", at, date(2024, 1, 2)
                              if i % 50 == 0 else (at + timedelta(days=5)).date(), None, "window", None, None, None,
                              at, at))
            number = id_number(i)
            applicant_rows.append((i + 1, i + 1, id_hash(cipher, number), cipher.digest(number[-6:], purpose="id6"),
                                   None))
            entry_rows.append((i + 1, i + 1, f"bulk-{i}", st, at, 0, None, "[]", True, at))
        await pg.copy_records_to_table(
            "cases", records=case_rows,
            columns=["id", "receipt_no", "business_type", "hall", "stage", "stage_at", "stage_seq",
                     "missing_materials", "accepted_at", "promised_date", "finished_at", "delivery_method",
                     "tracking_no", "delivery_at", "overdue_flagged_at", "created_at", "updated_at"])
        await pg.copy_records_to_table("case_applicant", records=applicant_rows,
                                       columns=["id", "case_id", "id_hash", "id_last6_hash", "name_enc"])
        await pg.copy_records_to_table(
            "case_stage_entry", records=entry_rows,
            columns=["id", "case_id", "event_id", "stage", "occurred_at", "seq", "note", "missing_materials",
                     "applied", "created_at"])
    for table in ("cases", "case_applicant", "case_stage_entry"):
        await pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await pg.execute(f"VACUUM ANALYZE {table}")
    await pg.close()
    return url


async def query_plans(url: str) -> list[str]:
    import asyncpg

    pg = await asyncpg.connect(_dsn(url))
    plan = await pg.fetch("EXPLAIN SELECT * FROM cases WHERE receipt_no = $1", receipt(12345))
    plan += await pg.fetch("EXPLAIN SELECT * FROM case_applicant WHERE case_id = $1", 12346)
    plan += await pg.fetch("EXPLAIN SELECT * FROM case_stage_entry WHERE case_id = $1", 12346)
    plan += await pg.fetch("EXPLAIN SELECT case_id FROM case_applicant WHERE id_hash = $1", "x")
    await pg.close()
    return [r[0] for r in plan]


def start_server(args: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-3000:]) from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def bare_server(port: int) -> None:
    """A bare Sanic app answering a JSON body of similar size: the HTTP floor."""
    from sanic import Sanic
    from sanic.response import json as sjson

    app = Sanic("bare")
    payload = {"receipt_no": "2024-0001-000001", "stage": "reviewing", "stage_label": "审核中",
               "history": [{"stage": "accepted", "label": "已受理", "at": "2024-01-01T10:00:00+08:00"}] * 2,
               "applicants": [{"name": "张*"}]}

    @app.post("/api/progress/lookup")
    async def lookup(request):
        return sjson(payload, ensure_ascii=False)

    app.run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)


async def load(base: str, make_request, total: int, concurrency: int, warmup: range | None = None) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(range(total))
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker():
            for n in queue:
                t0 = time.perf_counter()
                res = await make_request(client, n)
                latencies.append(time.perf_counter() - t0)
                statuses[res.status_code] = statuses.get(res.status_code, 0) + 1

        for n in warmup if warmup is not None else range(total, total + min(50, total)):
            await make_request(client, n)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"rps": total / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "statuses": statuses, "elapsed": elapsed}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--lookups", type=int, default=5000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1, help="dengji serve worker processes")
    ap.add_argument("--db", help="keep the bench database under this name and reuse it on later runs")
    opts = ap.parse_args()

    name = opts.db or f"dengji_bench_{uuid.uuid4().hex[:8]}"
    url = opts.pg.rpartition("/")[0] + "/" + name
    t0 = time.perf_counter()
    if opts.db and await reusable(opts.pg, name, opts.cases):
        await reset_ingest_targets(url)
        load_note = f"reused database {name}"
    else:
        await build_database(opts.pg, name, opts.cases)
        load_note = f"COPY load {time.perf_counter() - t0:.0f} s"
    plan = await query_plans(url)
    procs: list[subprocess.Popen] = []
    try:
        port, bare_port = _free_port(), _free_port()
        prefix = f"bench{uuid.uuid4().hex[:6]}:"
        env = {**os.environ, "DENGJI_DATABASE_URL": url, "DENGJI_REDIS_URL": opts.redis, "DENGJI_DATA_KEY": DATA_KEY,
               "DENGJI_REDIS_PREFIX": prefix, "DENGJI_PORT": str(port), "DENGJI_LOG_LEVEL": "WARNING",
               "DENGJI_WORKERS": str(opts.workers), "DENGJI_HOME": "/tmp/dengji-bench"}
        procs.append(start_server([sys.executable, "-m", "server.cli", "serve", "--workers", str(opts.workers)],
                                  env, port))
        procs.append(start_server([sys.executable, "-m", "bench.bench_progress", "--bare", str(bare_port)],
                                  os.environ.copy(), bare_port))

        def lookup_req(client, n):
            i = random.randrange(opts.cases)
            return client.post("/api/progress/lookup", json={"receipt_no": receipt(i), "id_last6": id_number(i)[-6:]})

        rows = []
        for conc in (1, 16):
            bare = await load(f"http://127.0.0.1:{bare_port}", lookup_req, opts.lookups, conc)
            real = await load(f"http://127.0.0.1:{port}", lookup_req, opts.lookups, conc)
            assert set(real["statuses"]) == {200}, real["statuses"]
            rows.append((conc, bare, real))

        # Ingest: a registered client posting signed batches of stage changes for existing cases.
        from tortoise import Tortoise

        from config.settings import Settings
        from server.core.crypto import PiiCipher
        from server.progress import service

        settings = Settings(env="test", database_url=url, data_key=DATA_KEY, home=Path("/tmp/dengji-bench"))
        await Tortoise.init(config=settings.tortoise_config())
        client_row, secret = await service.create_client(cipher=PiiCipher(settings.master_key),
                                                          name=f"bench-{uuid.uuid4().hex[:6]}")
        await Tortoise.close_connections()
        # Cases whose stage is "accepted" (i % 6 == 0) move to reviewing; each event is a new stage change.
        targets = [i for i in range(0, opts.cases, 6)]
        random.shuffle(targets)
        batches = []
        warm_batches = 3
        opts.events = (min(opts.events, len(targets)) // opts.batch - warm_batches) * opts.batch
        for b in range(opts.events // opts.batch + warm_batches):
            events = [{"event_id": f"bench-{b}-{k}", "type": "case.stage_changed",
                       "occurred_at": datetime.now(UTC).isoformat(),
                       "data": {"receipt_no": receipt(targets[b * opts.batch + k]), "stage": "reviewing"}}
                      for k in range(opts.batch)]
            batches.append(json.dumps({"events": events}).encode())

        outcomes: dict[str, int] = {}

        async def ingest_req(client, n):
            body = batches[n]
            ts = str(int(time.time()))
            res = await client.post("/api/ingest/events", content=body, headers={
                "Content-Type": "application/json", "X-Dengji-Key": client_row.key_id, "X-Dengji-Timestamp": ts,
                "X-Dengji-Signature": service.sign(secret, ts, body)})
            if res.status_code == 200:
                for key in ("accepted", "duplicate", "rejected"):
                    outcomes[key] = outcomes.get(key, 0) + res.json()[key]
            return res

        real_batches = len(batches) - warm_batches
        ingest = await load(f"http://127.0.0.1:{port}", ingest_req, real_batches, 4,
                            warmup=range(real_batches, len(batches)))
        assert set(ingest["statuses"]) == {200}, ingest["statuses"]
        # Every event is a fresh, legal stage change (warm-up batches included).
        assert outcomes == {"accepted": opts.events + warm_batches * opts.batch, "duplicate": 0, "rejected": 0}, \
            outcomes
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        if not opts.db:
            import asyncpg

            conn = await asyncpg.connect(_dsn(opts.pg))
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()

    print(f"\n### Case progress ({opts.cases:,} cases in PostgreSQL, {load_note}, {opts.workers} worker(s))\n")
    print("| lookup | concurrency | req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for conc, bare, real in rows:
        print(f"| bare Sanic endpoint | {conc} | {bare['rps']:.0f} | {bare['p50']:.2f} | {bare['p99']:.2f} |")
        print(f"| dengji lookup (Redis limit + 2 parallel queries) | {conc} | {real['rps']:.0f} | {real['p50']:.2f} "
              f"| {real['p99']:.2f} |")
        print(f"| ratio dengji / bare | {conc} | {real['rps'] / bare['rps']:.2f}x | | |")
    eps = opts.events / ingest["elapsed"]
    print(f"\n| ingest | batch | concurrency | events/s | batch p50 ms | batch p99 ms |\n|---|---|---|---|---|---|\n"
          f"| signed HMAC batches, stage changes ({outcomes}) | {opts.batch} | 4 | {eps:.0f} | {ingest['p50']:.1f} "
          f"| {ingest['p99']:.1f} |")
    print("\nQuery plans:\n")
    for line in plan:
        print(f"    {line}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        bare_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
