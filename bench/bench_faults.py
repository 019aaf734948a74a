"""Outages under load (issue 11): `dengji serve --workers 2` on PostgreSQL + a Redis of its own while
citizens book, cancel and read slots; per fault, how many answers were 5xx, how many contradict the
database (must be 0) and how long the service took to recover.

    .venv/bin/python bench/bench_faults.py [--clients 30] [--fault-seconds 10] [--only redis_kill,...]

Needs PostgreSQL (DENGJI_TEST_DATABASE_URL, default 127.0.0.1:5432; a throw-away database is created and
dropped) and the redis-server binary (its own server on a free port, append-only so a killed Redis comes
back with its data, as a production Redis would). Faults, each after a few seconds of normal load:

  none        the baseline of the same run;
  redis_kill  Redis SIGKILLed, restarted after --fault-seconds;
  redis_pause Redis SIGSTOPped for --fault-seconds, then SIGCONT;
  pg_kill     pg_terminate_backend of every service connection, once a second for --fault-seconds;
  worker_kill one of the two workers SIGKILLed (the manager restarts it).

Contradictions, from the database afterwards: a booking answered 200/201 without its row, or answered
anything else (4xx, 5xx) although a row with its Idempotency-Key exists; a cancel answered 200 whose
booking is not cancelled, or answered 4xx although it is (a cancel answered 5xx is retried, as a citizen
would, up to three times; every try counts in the 5xx column). Requests that got no answer at all (a
killed worker's connections) are counted apart. Recovery: seconds from the end of the fault (the kill, for
worker_kill) until /healthz answers 200 with both workers up and no request answers 5xx any more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_booking import (  # noqa: E402
    DATA_KEY,
    PG_DEFAULT,
    _citizens,
    _overbookings,
    _pg_admin,
    _prepare_db,
    _wait,
    free_port,
)

FAULTS = ("none", "redis_kill", "redis_pause", "pg_kill", "worker_kill")


class OwnRedis:
    def __init__(self, directory: Path) -> None:
        self.directory, self.port, self.proc = directory, free_port(), None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait()


def _workers(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"SANIC_WORKER_NAME=Sanic-Server" in Path(f"/proc/{child}/environ").read_bytes():
                found.append(int(child))
        except OSError:
            pass
    return found


async def _terminate(db_url: str) -> None:
    await _pg_admin(PG_DEFAULT if "?" in db_url else db_url,
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    f"'{db_url.rpartition('/')[2].partition('?')[0]}' AND pid <> pg_backend_pid()")


async def run_fault(name: str, *, url: str, auths: list[str], plan: dict, redis: OwnRedis, serve: subprocess.Popen,
                    db_url: str, admin_url: str, fault_seconds: float) -> dict:
    import httpx

    records: list[tuple] = []  # (kind, t, status, key-or-id, booking id, seconds)
    stop = asyncio.Event()
    day = plan["day1"].isoformat()
    starts = plan["center_starts"]

    async def citizen(auth: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(6.0)) as client:
            while not stop.is_set():
                key = uuid.uuid4().hex
                began = time.monotonic()
                try:
                    res = await client.post("/api/bookings", headers={"Authorization": auth, "Idempotency-Key": key},
                                            json={"hall": "center", "business_type": "secondhand_transfer",
                                                  "date": day, "start": random.choice(starts)})
                    status, booking_id = res.status_code, (res.json().get("id") if res.status_code < 300 else None)
                except httpx.HTTPError:
                    status, booking_id = None, None
                records.append(("book", began, status, key, booking_id, time.monotonic() - began))
                for _ in range(3 if booking_id else 0):  # a citizen retries a cancel that failed (idempotent)
                    began = time.monotonic()
                    try:
                        res = await client.post(f"/api/bookings/{booking_id}/cancel", headers={"Authorization": auth})
                        status = res.status_code
                    except httpx.HTTPError:
                        status = None
                    records.append(("cancel", began, status, booking_id, None, time.monotonic() - began))
                    if status is not None and status < 500:
                        break
                    await asyncio.sleep(0.5)
                began = time.monotonic()
                try:
                    status = (await client.get(f"/api/halls/center/slots?date={day}")).status_code
                except httpx.HTTPError:
                    status = None
                records.append(("read", began, status, None, None, time.monotonic() - began))

    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient(base_url=url, timeout=1.0) as client:
                ok = (await client.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False
        return ok and len(_workers(serve.pid)) == 2

    tasks = [asyncio.create_task(citizen(a)) for a in auths]
    await asyncio.sleep(3)
    began = time.monotonic()
    if name == "redis_kill":
        redis.signal(signal.SIGKILL)
        await asyncio.sleep(fault_seconds)
        redis.start()
    elif name == "redis_pause":
        redis.signal(signal.SIGSTOP)
        await asyncio.sleep(fault_seconds)
        redis.signal(signal.SIGCONT)
    elif name == "pg_kill":
        for _ in range(int(fault_seconds)):
            await _terminate(db_url)
            await asyncio.sleep(1)
    elif name == "worker_kill":
        os.kill(_workers(serve.pid)[0], signal.SIGKILL)
    else:
        await asyncio.sleep(fault_seconds)
    restored = time.monotonic()
    while not await healthy() and time.monotonic() - restored < 60:
        await asyncio.sleep(0.1)
    healthy_at = time.monotonic()
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*tasks)
    bad = [r for r in records if r[2] is None or r[2] >= 500]
    last_bad = max((r[1] for r in bad), default=restored)
    return {"name": name, "records": records, "began": began,
            "recovery": 0.0 if name == "none" else max(healthy_at, last_bad) - restored}


async def contradictions(settings, records: list[tuple]) -> tuple[int, list]:
    from tortoise import Tortoise

    from models import Booking, BookingStatus

    await Tortoise.init(config=settings.tortoise_config())
    try:
        rows = {key: (bid, status) for key, bid, status in
                await Booking.filter(idem_key__not_isnull=True).values_list("idem_key", "id", "status")}
        by_id = {bid: status for bid, status in await Booking.all().values_list("id", "status")}
    finally:
        await Tortoise.close_connections()
    wrong = []
    for kind, _, status, ref, booking_id, _ in records:
        if kind == "book" and status is not None:
            exists = ref in rows
            if (status in (200, 201)) != exists or (booking_id and rows.get(ref, (None,))[0] != booking_id):
                wrong.append((kind, status, ref))
        elif kind == "cancel" and status is not None and status < 500:
            # (a 5xx cancel is retried by the citizen; its outcome is the retry's answer)
            cancelled = by_id.get(ref) == BookingStatus.CANCELLED
            if (status == 200) != cancelled:
                wrong.append((kind, status, ref))
    return len(wrong), wrong[:5]


def main() -> None:
    from config.settings import Settings
    from tests.fakewechat import FakeWeChat

    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--fault-seconds", type=float, default=10)
    ap.add_argument("--only", default=",".join(FAULTS))
    args = ap.parse_args()
    faults = [f for f in args.only.split(",") if f]
    pg = os.environ.get("DENGJI_TEST_DATABASE_URL") or PG_DEFAULT
    tmp = Path(tempfile.mkdtemp(prefix="dengji-faults-"))
    dbname = f"dengji_faults_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{dbname}"'))
    db_url = pg.rpartition("/")[0] + f"/{dbname}"
    redis = OwnRedis(tmp)
    redis.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = None
    try:
        with FakeWeChat() as fake:
            env = {**os.environ, "DENGJI_ENV": "development", "DENGJI_HOME": str(tmp), "DENGJI_DATABASE_URL": db_url,
                   "DENGJI_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "DENGJI_DATA_KEY": DATA_KEY,
                   "DENGJI_WECHAT_API_BASE": fake.base_url, "DENGJI_MP_APPID": fake.mp_appid,
                   "DENGJI_MP_SECRET": fake.mp_secret, "DENGJI_WECHAT_APPID": fake.appid,
                   "DENGJI_WECHAT_SECRET": fake.secret, "DENGJI_LOG_LEVEL": "ERROR"}
            settings = Settings(env="development", home=tmp, database_url=db_url, data_key=DATA_KEY)
            plan = asyncio.run(_prepare_db(settings))
            serve = subprocess.Popen([str(REPO / ".venv/bin/dengji"), "serve", "--port", str(port), "--workers", "2"],
                                     env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "w"))
            _wait(url + "/healthz", serve, timeout=120)
            while len(_workers(serve.pid)) < 2:
                time.sleep(0.2)
            auths = asyncio.run(_citizens(url, args.clients))
            results = []
            for name in faults:
                result = asyncio.run(run_fault(name, url=url, auths=auths, plan=plan, redis=redis, serve=serve,
                                               db_url=db_url, admin_url=pg, fault_seconds=args.fault_seconds))
                result["wrong"], result["examples"] = asyncio.run(contradictions(settings, result["records"]))
                results.append(result)
                print(f"{name}: done", flush=True)
            over, mismatch, total = asyncio.run(_overbookings(settings))
    finally:
        stop_seconds, left = None, []
        if serve is not None:
            children = [int(c) for c in Path(f"/proc/{serve.pid}/task/{serve.pid}/children").read_text().split()]
            began = time.monotonic()
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=20)
                stop_seconds = time.monotonic() - began
            except subprocess.TimeoutExpired:
                serve.kill()
            time.sleep(0.5)
            left = [c for c in children if Path(f"/proc/{c}").exists()
                    and "zombie" not in Path(f"/proc/{c}/status").read_text()]
        redis.signal(signal.SIGCONT)
        redis.signal(signal.SIGKILL)
        asyncio.run(_pg_admin(pg, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))

    print(f"\n{args.clients} citizens booking, cancelling and reading slots; faults of {args.fault_seconds:g} s; "
          "dengji serve --workers 2, PostgreSQL, own Redis\n")
    print("| fault | requests | answered 5xx | no answer | contradict the database | recovery s | bookings ok "
          "| slowest answer s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        recs = r["records"]
        five = sum(1 for x in recs if x[2] is not None and x[2] >= 500)
        none = sum(1 for x in recs if x[2] is None)
        ok = sum(1 for x in recs if x[0] == "book" and x[2] in (200, 201))
        slowest = max((x[5] for x in recs if x[2] is not None), default=0.0)
        print(f"| {r['name']} | {len(recs):,} | {five:,} | {none:,} | {r['wrong']} | {r['recovery']:.1f} | {ok:,} "
              f"| {slowest:.2f} |")
        slow = sorted(((round(x[5], 2), x[0], round(x[1] - r["began"], 1), x[2]) for x in recs if x[2] is not None),
                      reverse=True)[:5]
        print(f"  slowest (seconds, kind, started s after the fault began, status): {slow}")
        if none:
            kinds = sorted({(x[0], round(x[5], 1)) for x in recs if x[2] is None})
            print(f"  no answer (kind, seconds until the client gave up): {kinds[:8]}")
        if r["examples"]:
            print(f"  contradictions, e.g.: {r['examples']}")
    print(f"\noverbooked places: {over}; counters different from their rows: {mismatch}; booking rows: {total:,}")
    print(f"after the faults, SIGTERM stopped the service in {stop_seconds:.1f} s; processes left behind: {len(left)}"
          if stop_seconds is not None else "the service did not stop within 20 s of SIGTERM")


if __name__ == "__main__":
    main()
