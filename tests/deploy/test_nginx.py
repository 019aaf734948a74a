"""Debian's nginx with deploy/nginx/dengji.conf in front of the service: per-citizen limits see each
client's own address (request.remote_addr through PROXIES_COUNT), a forged X-Forwarded-For does not
escape them, and the site's body limits hold."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_app, stop_app
from tests.faults.conftest import free_port, port_open

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (apt-get install nginx-light): "
                                                      "the reverse-proxy test needs Debian's nginx")


def _nginx_conf(tmp: Path, listen: int, upstream: str) -> Path:
    site = (DEPLOY / "nginx" / "dengji.conf").read_text()
    assert "server 127.0.0.1:8000;" in site and "listen 80;" in site
    site = site.replace("server 127.0.0.1:8000;", f"server {upstream};").replace("listen 80;",
                                                                                 f"listen 127.0.0.1:{listen};")
    temp = "".join(f"{kind}_temp_path {tmp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                    "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    {temp}
    {site}
}}
""")
    return conf


@pytest.fixture
async def proxied(settings, tmp_path):
    live, server = await start_app(settings.model_copy(update={"proxies_count": 1}))
    port = free_port()
    conf = _nginx_conf(tmp_path, port, live.url.removeprefix("http://"))
    proc = subprocess.Popen([NGINX, "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await stop_app(live, server)


def _client(base_url: str, source: str) -> httpx.AsyncClient:
    # Loopback answers on all of 127/8: each client connects to nginx from an address of its own.
    return httpx.AsyncClient(base_url=base_url, timeout=10,
                             transport=httpx.AsyncHTTPTransport(local_address=source))


async def _guess(client: httpx.AsyncClient, n: int, **headers) -> int:
    res = await client.post("/api/progress/lookup", headers=headers,
                            json={"receipt_no": f"2026-0930-{n:06d}", "id_last6": "123456"})
    assert res.status_code != 500 and res.headers.get("x-request-id")
    return res.status_code


async def test_per_citizen_limits_see_each_clients_own_address_behind_nginx(proxied):
    async with _client(proxied, "127.0.0.2") as first, _client(proxied, "127.0.0.3") as second:
        tries = 0
        while await _guess(first, 100 + tries) != 429:
            tries += 1
            assert tries < 100, "no limit on wrong guesses"
        assert tries >= 3
        # Posing as someone else does not reset the counter: nginx replaces the header.
        assert await _guess(first, 999, **{"X-Forwarded-For": "10.1.2.3"}) == 429
        # Another citizen behind the same proxy has a counter of their own.
        assert [await _guess(second, 500 + n) for n in range(tries)].count(429) == 0


async def test_the_site_limits_bodies(proxied):
    async with _client(proxied, "127.0.0.4") as client:
        res = await client.post("/api/progress/lookup", content=b"x" * (3 * 1024 * 1024),
                                headers={"content-type": "application/json"})
        assert res.status_code == 413
        res = await client.post("/wechat", content=b"<xml>" + b"x" * (100 * 1024) + b"</xml>")
        assert res.status_code == 413
        res = await client.request("PUT", "/wechat", content=b"<xml/>")
        assert res.status_code == 403
        assert (await client.get("/healthz")).status_code == 200
