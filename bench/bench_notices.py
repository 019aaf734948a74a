"""Notice fan-out to 10,000 members through the fake WeChat API: throughput, duplicates, losses.

    .venv/bin/python -m bench.bench_notices [--members 10000]

Part 1 runs embedded (SQLite, in-process Redis stand-in, in-process jobs). Part 2 runs `dengji worker`
processes against real Redis + PostgreSQL (DENGJI_TEST_REDIS_URL / DENGJI_TEST_DATABASE_URL, default
127.0.0.1) and kills the worker halfway (SIGTERM, then separately SIGKILL) before restarting it. Nothing
else is run after the restart: the worker's periodic sweep (every minute) resends rows a SIGKILL left in
`sending` with the same client_msg_id, which the fake (like WeChat) answers without a second message.
Baseline: the same messages sent directly with wechatpy from a thread pool of the gateway's size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakewechat import FakeWeChat  # noqa: E402

THREADS = 16  # WeChatGateway's default thread pool
DATA_KEY = base64.urlsafe_b64encode(b"b" * 32).decode()
CONFIG = """
categories: [{code: business, name: "业务通知", requires_review: false}]
org_template: {template_id: "TPL", url: "", fields: {title: "first", summary: "remark"}}
public_template: {template_id: "TPLP", page: "", fields: {title: "thing1"}}
delivery: {rate_per_second: 100000, burst: 2000, claim_size: 16, senders: 4, batch_size: 1000, lease_seconds: 5,
           max_attempts: 6, retry_base_seconds: 0.2, retry_max_seconds: 2}
"""


def baseline(fake: FakeWeChat, n: int) -> float:
    from wechatpy import WeChatClient

    from server.wechat.client import DengjiWeChatClient

    client = DengjiWeChatClient(fake.appid, fake.secret, api_base=fake.base_url, timeout=5, pool=THREADS)
    token = client.fetch_stable_token()["access_token"]
    WeChatClient.access_token = token  # plain wechatpy token handling, no gateway

    from server.wechat import client as wc

    wc._current_token.set(token)
    started = time.perf_counter()

    def one(i: int) -> None:
        wc._current_token.set(token)
        client.message.send_template(f"base-{i}", "TPL", {"first": {"value": "基线"}})

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - started)


def tally(fake: FakeWeChat, openids: list[str]) -> tuple[int, int]:
    counts = Counter(b["touser"] for b in fake.sent("template"))
    return sum(1 for o in openids if counts[o] > 1), sum(1 for o in openids if counts[o] == 0)


async def seed(settings, n: int):
    from tortoise import Tortoise

    from models import Notice, NoticeStatus, Organization, OrgMember, OrgType

    await Tortoise.init(config=settings.tortoise_config())
    await Tortoise.generate_schemas()
    orgs = [await Organization.create(name=f"机构{i}", type=OrgType.AGENCY, district="新区") for i in range(10)]
    openids = [f"o{uuid.uuid4().hex[:27]}" for _ in range(n)]
    await OrgMember.bulk_create([OrgMember(org_id=orgs[i % 10].id, openid=o) for i, o in enumerate(openids)],
                                batch_size=1000)
    notice = await Notice.create(title="周末临时加开服务窗口", body="3 月 21–22 日周末两天临时加开服务窗口",
                                 category="business", target={"all": True}, status=NoticeStatus.APPROVED,
                                 created_by_id=1)
    return notice.id, openids


async def embedded_run(fake: FakeWeChat, n: int) -> dict:
    from tortoise import Tortoise

    from config.settings import Settings
    from models import Notice, NoticeStatus
    from notices import delivery
    from server.core.crypto import PiiCipher
    from server.core.jobs import create_queue
    from server.core.redis import Keys, create_redis
    from server.wechat.client import WeChatGateway

    home = Path(tempfile.mkdtemp(prefix="bench-notices-"))
    (home / "notices.yaml").write_text(CONFIG, encoding="utf-8")
    settings = Settings(env="test", home=home, database_url=f"sqlite://{home}/db.sqlite3", redis_url="",
                        data_key=DATA_KEY, wechat_api_base=fake.base_url, wechat_appid=fake.appid,
                        wechat_secret=fake.secret, mp_appid=fake.mp_appid, mp_secret=fake.mp_secret,
                        log_level="WARNING")
    notice_id, openids = await seed(settings, n)
    for openid in openids:  # template messages reach followers only (the fake refuses others with 43004)
        fake.follow(openid)
    await Tortoise.close_connections()
    from server.core import db

    await db.open_db(settings)
    redis, keys = create_redis(settings), Keys("bench:")
    common = dict(api_base=fake.base_url, timeout=5, redis=redis, keys=keys)
    ctx = {"settings": settings, "redis": redis, "keys": keys, "cipher": PiiCipher(settings.master_key),
           "wechat": WeChatGateway(name="oa", appid=fake.appid, secret=fake.secret, **common),
           "mp": WeChatGateway(name="mp", appid=fake.mp_appid, secret=fake.mp_secret, **common)}
    ctx["jobs"] = await create_queue(settings, ctx)
    started = time.perf_counter()
    await delivery.expand(ctx, notice_id)
    while (await Notice.get(id=notice_id)).status != NoticeStatus.SENT:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await ctx["jobs"].close()
    ctx["wechat"].close()
    ctx["mp"].close()
    await db.close_db()
    dup, lost = tally(fake, openids)
    return {"elapsed": elapsed, "rate": n / elapsed, "dup": dup, "lost": lost}


def _reachable(host: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


async def worker_run(fake: FakeWeChat, n: int, sig: int, pg_admin: str, redis_url: str) -> dict:
    import asyncpg
    from tortoise import Tortoise

    from config.settings import Settings

    name = f"dengji_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_admin.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    db_url = pg_admin.rpartition("/")[0] + "/" + name
    home = Path(tempfile.mkdtemp(prefix="bench-notices-"))
    (home / "notices.yaml").write_text(CONFIG, encoding="utf-8")
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    env = {**os.environ, "DENGJI_DATABASE_URL": db_url, "DENGJI_REDIS_URL": redis_url, "DENGJI_REDIS_PREFIX": prefix,
           "DENGJI_HOME": str(home), "DENGJI_DATA_KEY": DATA_KEY, "DENGJI_ENV": "test",
           "DENGJI_WECHAT_API_BASE": fake.base_url, "DENGJI_WECHAT_APPID": fake.appid,
           "DENGJI_WECHAT_SECRET": fake.secret, "DENGJI_MP_APPID": fake.mp_appid, "DENGJI_MP_SECRET": fake.mp_secret,
           "DENGJI_LOG_LEVEL": "WARNING"}
    settings = Settings(env="test", home=home, database_url=db_url, redis_url=redis_url, redis_prefix=prefix,
                        data_key=DATA_KEY)
    notice_id, openids = await seed(settings, n)
    for openid in openids:  # template messages reach followers only (the fake refuses others with 43004)
        fake.follow(openid)
    from models import Notice, NoticeDelivery, NoticeStatus
    from server.core.jobs import create_queue

    def spawn():
        with (home / "worker.log").open("a") as log:  # kept for a look after the run
            return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env,
                                    stdout=log, stderr=log)

    queue = await create_queue(settings, {})
    worker = spawn()
    started = time.perf_counter()
    await queue.enqueue("notices.notice.expand", notice_id=notice_id)
    while len(fake.sent("template")) < n // 2:
        await asyncio.sleep(0.01)
    worker.send_signal(sig)
    worker.wait(timeout=60)
    killed_at = len(fake.sent("template"))
    stuck = await NoticeDelivery.filter(notice_id=notice_id, status="sending").count()
    worker = spawn()
    deadline = time.monotonic() + 300
    while (await Notice.get(id=notice_id)).status != NoticeStatus.SENT:
        if time.monotonic() > deadline:
            raise RuntimeError("notice not finished 300 s after the restart")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    unknown = await NoticeDelivery.filter(notice_id=notice_id, error_code=-2).count()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    await queue.close()
    await Tortoise.close_connections()
    conn = await asyncpg.connect(pg_admin.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()
    dup, lost = tally(fake, openids)
    return {"elapsed": elapsed, "rate": n / elapsed, "dup": dup, "lost": lost, "killed_at": killed_at,
            "stuck": stuck, "unknown": unknown, "deduped": fake.deduped}


def run_part(part: str, n: int) -> dict:
    """Run one measured part with its own fake WeChat (each part in a fresh process: one ORM per process)."""
    with FakeWeChat() as fake:
        if part == "embedded":
            return asyncio.run(embedded_run(fake, n))
        pg = os.environ.get("DENGJI_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        redis_url = os.environ.get("DENGJI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        return asyncio.run(worker_run(fake, n, signal.SIGTERM if part == "sigterm" else signal.SIGKILL, pg, redis_url))


def main() -> None:
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--part", choices=["embedded", "sigterm", "sigkill"])
    args = parser.parse_args()
    n = args.members
    if args.part:
        print(json.dumps(run_part(args.part, n)))
        return
    with FakeWeChat() as fake:
        base = baseline(fake, n)

    def part(name: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "bench.bench_notices", "--part", name, "--members", str(n)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    rows = [("embedded (SQLite, in-process jobs)", part("embedded"), "-")]
    skip = None
    if not _reachable("127.0.0.1", 5432) and "DENGJI_TEST_DATABASE_URL" not in os.environ:
        skip = "PostgreSQL not reachable"
    elif not _reachable("127.0.0.1", 6379) and "DENGJI_TEST_REDIS_URL" not in os.environ:
        skip = "Redis not reachable"
    if skip is None:
        for label in ("SIGTERM", "SIGKILL"):
            res = part(label.lower())
            rows.append((f"`dengji worker` (PG+Redis), {label} at half, restarted", res,
                         f"{res['killed_at']} sent at kill; {res['stuck']} left in sending; "
                         f"{res['unknown']} reported unknown; {res['deduped']} resends deduped by client_msg_id"))
    print(f"\nNotice to {n} members via fake WeChat template API; baseline = raw wechatpy, {THREADS} threads: "
          f"{base:,.0f} msg/s\n")
    print("| run | time to deliver all (s) | deliveries/s | ratio to baseline | duplicates | losses | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for label, r, note in rows:
        print(f"| {label} | {r['elapsed']:.1f} | {r['rate']:,.0f} | {r['rate'] / base:.2f} | {r['dup']} | "
              f"{r['lost']} | {note} |")
    if skip:
        print(f"\nworker kill/restart runs skipped: {skip}")


if __name__ == "__main__":
    main()
