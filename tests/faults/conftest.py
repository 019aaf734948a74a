"""Fault-test helpers: a Redis server of the test's own (started, paused, killed), and PostgreSQL backend
termination. Never the shared Redis on 6379: these tests stop their servers on purpose."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time

import pytest

REDIS_SERVER = shutil.which("redis-server")
requires_redis_server = pytest.mark.skipif(REDIS_SERVER is None,
                                           reason="redis-server not installed: the Redis fault tests need their own")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class OwnRedis:
    """A redis-server on a free port in a temporary directory, owned by one test."""

    def __init__(self, directory) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            assert time.monotonic() < deadline, "own redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def own_redis(tmp_path):
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed: the Redis fault tests need a Redis of their own")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def terminate_backends(database_url: str, *, wait: bool = True) -> int:
    """pg_terminate_backend every other connection to the test's own database; return how many.

    Synchronous on purpose (its own event loop in a thread): the caller's event loop does not run
    meanwhile, so its pooled connections have not yet noticed they are dead, as under load.
    """
    import asyncio
    import threading

    import asyncpg

    result: list = []
    dsn = database_url.replace("postgres://", "postgresql://", 1)

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            for _ in range(100):
                if not wait or not await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"):
                    break
                await asyncio.sleep(0.02)
            result.append(killed)
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(run()))
    thread.start()
    thread.join()
    return result[0]
