"""/wechat text messages in safe (AES) mode against a real `dengji serve`, vs a bare Sanic endpoint.

    .venv/bin/python bench/bench_wechat.py [-n 20000] [-c 100] [--workers 1] [--redis redis://127.0.0.1:6379/0]
                                           [--rate 1000] [--no-pin] [--only dengji]

Each server is its own process (`dengji serve --workers W`, and a bare Sanic app with the same worker
count) and the load generator is a third process. The generator signs and encrypts every request
before the clock starts (distinct MsgIds, so dedup never short-circuits; questions from the dev set;
500 distinct openids) and sends the pre-built bytes over `-c` keep-alive HTTP/1.1 connections with a
small raw-asyncio client (uvloop), so the client costs a few µs per request. After the timed part it
decrypts every reply and counts the ones that are not a valid encrypted text reply as errors.

With one worker, the server is pinned to CPU 0 and the client to CPU 1 (`taskset`) so they do not
compete for a core; with two workers the server gets both cores and the client is not pinned.

Runs per server: warm-up, then
  saturate: every connection sends its next message as soon as it has the reply (throughput, and the
            latency at 100 clients in flight);
  paced:    the connections together offer `--rate` messages/s (latency at a steady load below saturation).
The baseline answers a fixed XML reply without signature, crypto, Redis or the bot, so "ratio" is what
the whole pipeline costs relative to Sanic itself on this machine, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEV = REPO.parent / "shared/policy/dev_questions.jsonl"

BASELINE = r'''
import sys
from sanic import Sanic
from sanic.response import text
app = Sanic("baseline")
REPLY = ("<xml><ToUserName><![CDATA[u]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>"
         "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ok]]></Content></xml>")
@app.post("/wechat")
async def wechat(request):
    return text(REPLY, content_type="application/xml")
@app.get("/healthz")
async def healthz(request):
    return text("ok")
if __name__ == "__main__":
    workers = int(sys.argv[2])
    app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=workers, single_process=workers == 1,
            access_log=False, motd=False)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def questions() -> list[str]:
    if DEV.exists():
        return [json.loads(line)["q"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ["二手房过户要带什么材料", "可以提前多少天预约", "城东大厅在哪里", "今天天气怎么样"]


def wait_healthy(url: str, proc: subprocess.Popen, started: float, timeout: float = 60) -> float:
    """Poll /healthz every 10 ms; return the seconds from process start to the first 200."""
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=0.5) as res:
                if res.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise TimeoutError("server did not become healthy")


def prepare_home(env: dict[str, str]) -> None:
    """Create the schema from the models (the bench does not depend on migrations)."""
    code = ("import asyncio\nfrom tortoise import Tortoise\nfrom config.settings import load_settings\n"
            "async def main():\n    s = load_settings()\n    await Tortoise.init(config=s.tortoise_config())\n"
            "    await Tortoise.generate_schemas()\n    await Tortoise.close_connections()\nasyncio.run(main())\n")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)


# ───────────────────────── load generator (runs in its own process) ─────────────────────────


def build_requests(n: int, first_msgid: int, appid: str, host: str) -> list[bytes]:
    """Sign and encrypt n safe-mode text pushes the way WeChat's servers do, as raw HTTP/1.1 requests."""
    from urllib.parse import urlencode

    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, appid)
    qs = questions()
    now = str(int(time.time()))
    out = []
    for i in range(n):
        nonce = secrets.token_hex(5)
        xml = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o-bench-{i % 500}]]>"
               f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{qs[i % len(qs)]}]]></Content><MsgId>{first_msgid + i}</MsgId></xml>")
        enc = crypto.encrypt_message(xml, nonce, now)
        msig = enc.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
        encrypt = enc.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        sig = hashlib.sha1("".join(sorted([TOKEN, now, nonce])).encode()).hexdigest()
        query = urlencode({"signature": sig, "timestamp": now, "nonce": nonce, "openid": f"o-bench-{i % 500}",
                           "encrypt_type": "aes", "msg_signature": msig})
        body = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                f"</xml>").encode()
        head = (f"POST /wechat?{query} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _open(port: int, concurrency: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    conns = []
    # Open in batches: 100 simultaneous connects can overflow the listen backlog, and a SYN retry (1 s)
    # would then show up as latency.
    for start in range(0, concurrency, 10):
        conns += await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port)
                                        for _ in range(min(10, concurrency - start))])
    return conns


async def _drive(conns, requests: list[bytes], rate: float) -> dict:
    """Send every request once over the connections; each connection waits for its reply before the next."""
    lat = [0.0] * len(requests)
    statuses = [0] * len(requests)
    bodies: list[bytes] = [b""] * len(requests)
    nxt_index = iter(range(len(requests)))
    concurrency = len(conns)
    interval = concurrency / rate if rate else 0.0
    clock = time.perf_counter

    async def worker(w: int, reader, writer) -> None:
        due = clock() + (interval * w / concurrency if interval else 0.0)
        for i in nxt_index:
            if interval:
                delay = due - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                due += interval
            s = clock()
            statuses[i], bodies[i] = await _exchange(reader, writer, requests[i])
            lat[i] = clock() - s

    t0 = clock()
    await asyncio.gather(*[worker(w, r, wr) for w, (r, wr) in enumerate(conns)])
    wall = clock() - t0
    return {"wall": wall, "lat": lat, "statuses": statuses, "bodies": bodies}


def _valid_replies(bodies: list[bytes], statuses: list[int], appid: str, encrypted: bool) -> int:
    """Count replies that are not a 200 carrying a text reply (decrypting safe-mode replies)."""
    from wechatpy import parse_message
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, appid)
    errors = 0
    for status, body in zip(statuses, bodies, strict=True):
        if status != 200:
            errors += 1
            continue
        try:
            if encrypted:
                text = body.decode()
                msig = text.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
                ts = text.split("<TimeStamp>")[1].split("</TimeStamp>")[0]
                nonce = text.split("<Nonce><![CDATA[")[1].split("]]>")[0]
                xml = crypto.decrypt_message(text, msig, ts, nonce)
            else:
                xml = body.decode()
            reply = parse_message(xml)
            if reply.type != "text" or not reply.content:
                errors += 1
        except Exception:
            errors += 1
    return errors


def client_main(port: int, n: int, concurrency: int, rate: float, appid: str, first_msgid: int,
                encrypted: bool) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    t = time.perf_counter()
    requests = build_requests(n, first_msgid, appid, f"127.0.0.1:{port}")
    build_s = time.perf_counter() - t

    async def run() -> dict:
        conns = await _open(port, concurrency)
        out = await _drive(conns, requests, rate)
        for _, writer in conns:
            writer.close()
        return out

    out = asyncio.run(run())
    lat = sorted(out["lat"])
    pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] * 1000  # noqa: E731
    print(json.dumps({"rps": len(lat) / out["wall"], "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                      "max": lat[-1] * 1000, "mean": statistics.fmean(lat) * 1000, "n": len(lat),
                      "errors": _valid_replies(out["bodies"], out["statuses"], appid, encrypted),
                      "build_s": build_s}))


def load(port: int, n: int, concurrency: int, rate: float, appid: str, first_msgid: int, *, encrypted: bool,
         cpu: str | None) -> dict:
    cmd = [sys.executable, __file__, "--client", str(port), "-n", str(n), "-c", str(concurrency),
           "--rate", str(rate), "--appid", appid, "--first-msgid", str(first_msgid)]
    if encrypted:
        cmd.append("--encrypted")
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ───────────────────────── orchestration ─────────────────────────


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000, help="messages per run")
    ap.add_argument("-c", type=int, default=100, help="concurrent keep-alive connections")
    ap.add_argument("--rate", type=float, default=1000, help="offered messages/s in the paced run (0: skip)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes (both servers)")
    ap.add_argument("--redis", default="", help="Redis URL (needed for --workers > 1); default embedded")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and client to separate CPUs")
    ap.add_argument("--only", choices=("baseline", "dengji"), help="run one server only")
    ap.add_argument("--client", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--appid", default="wx-bench-appid", help=argparse.SUPPRESS)
    ap.add_argument("--first-msgid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--encrypted", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client_main(args.client, args.n, args.c, args.rate, args.appid, args.first_msgid, args.encrypted)
        return

    from tests.fakewechat import FakeWeChat

    pin = not args.no_pin and args.workers == 1 and (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = ("0", "1") if pin else (None, None)
    msgids = iter(range(int(time.time() * 1000), 2**62, 10**7))
    with FakeWeChat() as fake, tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DENGJI_ENV": "development", "DENGJI_HOME": home, "DENGJI_REDIS_URL": args.redis,
               "DENGJI_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
               "DENGJI_DATABASE_URL": f"sqlite://{home}/bench.sqlite3", "DENGJI_LOG_LEVEL": "WARNING",
               "DENGJI_WECHAT_TOKEN": TOKEN, "DENGJI_WECHAT_AES_KEY": AES_KEY, "DENGJI_WECHAT_APPID": fake.appid,
               "DENGJI_WECHAT_SECRET": fake.secret, "DENGJI_WECHAT_API_BASE": fake.base_url}
        prepare_home(env)
        baseline = Path(home) / "baseline_app.py"  # a file, so Sanic's spawned workers can import it
        baseline.write_text(BASELINE, encoding="utf-8")
        results = {}
        for name in ("baseline", "dengji"):
            if args.only and name != args.only:
                continue
            port = free_port()
            if name == "baseline":
                cmd = [sys.executable, str(baseline), str(port), str(args.workers)]
            else:
                cmd = [sys.executable, "-m", "server.cli", "serve", "--port", str(port),
                       "--workers", str(args.workers)]
            if server_cpu is not None:
                cmd = ["taskset", "-c", server_cpu, *cmd]
            started = time.perf_counter()
            # A session of its own: Sanic's manager SIGKILLs its whole process group when shutdown drags.
            proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=True)
            try:
                startup = wait_healthy(f"http://127.0.0.1:{port}", proc, started)
                enc = name == "dengji"
                def run(n: int, rate: float, port: int = port, enc: bool = enc) -> dict:
                    return load(port, n, args.c, rate, fake.appid, next(msgids), encrypted=enc, cpu=client_cpu)

                run(min(3000, args.n), 0)  # warm-up: connections, jieba caches, SQLite pages
                sat = run(args.n, 0)
                paced = run(min(args.n, int(args.rate * 10)), args.rate) if args.rate else None
                results[name] = (startup, sat, paced)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    redis = "real Redis" if args.redis else "embedded Redis"
    pinning = "server on CPU 0, client on CPU 1" if pin else "not pinned"
    print(f"/wechat safe-mode text messages, {args.c} keep-alive connections, {args.n} messages per saturate "
          f"run, {args.workers} worker(s), {redis}, {pinning}\n")
    names = [k for k in ("baseline", "dengji") if k in results]
    print("| metric | " + " | ".join({"baseline": "bare Sanic", "dengji": "dengji /wechat"}[k] for k in names)
          + (" | ratio |" if len(names) == 2 else " |"))
    print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")

    def row(label: str, values: list[float], fmt: str, ratio: bool = True) -> None:
        cells = " | ".join(fmt.format(v) for v in values)
        tail = f" | {values[1] / values[0]:.2f} |" if len(values) == 2 and ratio else (" | |" if len(values) == 2
                                                                                       else " |")
        print(f"| {label} | {cells}{tail}")

    row("start-up to first healthz 200", [results[k][0] for k in names], "{:.2f} s")
    row("saturate: replies/s", [results[k][1]["rps"] for k in names], "{:,.0f}")
    for q in ("p50", "p90", "p99", "max"):
        row(f"saturate: {q}", [results[k][1][q] for k in names], "{:.1f} ms")
    if args.rate:
        row(f"paced {args.rate:.0f}/s: replies/s", [results[k][2]["rps"] for k in names], "{:,.0f}", ratio=False)
        for q in ("p50", "p99"):
            row(f"paced {args.rate:.0f}/s: {q}", [results[k][2][q] for k in names], "{:.1f} ms")
    errors = [results[k][1]["errors"] + (results[k][2]["errors"] if args.rate else 0) for k in names]
    row("errors (non-200 or no valid text reply)", errors, "{}", ratio=False)


if __name__ == "__main__":
    main()
