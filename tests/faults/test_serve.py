"""`dengji serve` as an operator runs it: fail fast at start-up with one line, restart a killed worker
(and say so), stop promptly on SIGTERM, and never signal processes that are not its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, TEST_DATA_KEY, _create_pg_database, _drop_pg_database, _pg_database_url
from tests.faults.conftest import REDIS_SERVER, free_port

DENGJI = str(Path(sys.executable).with_name("dengji"))


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DENGJI_")}
    return env | {"DENGJI_HOME": str(tmp_path), "DENGJI_DATA_KEY": TEST_DATA_KEY, "DENGJI_LOG_LEVEL": "WARNING"} | extra


def _run(args: list[str], env: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([DENGJI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    return lines[0]


def test_start_up_fails_fast_with_one_line_and_signals_nobody_else(tmp_path):
    cases = {
        "Redis": {"DENGJI_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        "PostgreSQL（127.0.0.1": {"DENGJI_DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/x"},
        "dengji db init": {},  # a SQLite file without tables
    }
    for n, (expected, extra) in enumerate(cases.items()):
        env = _env(tmp_path / str(n), **extra)
        if expected == "Redis":
            assert _run(["db", "init"], env).returncode == 0  # only Redis is missing
        workers = 2 if "DENGJI_REDIS_URL" in extra else 1
        marker = tmp_path / f"bystander{n}"
        # A process of the caller's in the command's own process group (a shell, a supervisor): it must
        # survive (Sanic's manager used to SIGKILL the whole group when workers failed to start).
        script = (f"sleep 60 >/dev/null 2>&1 & echo $! > {marker}; "
                  f'exec "$0" serve --workers {workers} --port {free_port()}')
        began = time.monotonic()
        result = subprocess.run(["sh", "-c", script, DENGJI], env=env, capture_output=True, text=True, timeout=30,
                                start_new_session=True)
        assert time.monotonic() - began < 15
        line = _one_line(result)
        assert expected in line and "请" in line, line
        bystander = int(marker.read_text())
        try:
            assert Path(f"/proc/{bystander}").exists(), "start-up signalled a process that is not its own"
        finally:
            os.kill(bystander, signal.SIGKILL)


@pytest.mark.skipif(not PG_URL, reason="DENGJI_TEST_DATABASE_URL not set: no PostgreSQL server")
def test_missing_postgres_database_says_how_to_create_it(tmp_path):
    url = _pg_database_url(PG_URL, f"dengji_absent_{uuid.uuid4().hex[:8]}")
    line = _one_line(_run(["serve"], _env(tmp_path, DENGJI_DATABASE_URL=url)))
    assert "没有数据库" in line and "createdb" in line and "dengji db init" in line


def test_misconfiguration_is_one_actionable_line(tmp_path):
    line = _one_line(_run(["serve"], _env(tmp_path, DENGJI_DATA_KEY="not-a-key")))
    assert "DENGJI_DATA_KEY" in line and "urandom(32)" in line
    line = _one_line(_run(["serve"], _env(tmp_path, DENGJI_PORT="eighty")))
    assert "DENGJI_PORT" in line and "应为整数" in line
    env = _env(tmp_path, DENGJI_ENV="production", DENGJI_DATABASE_URL="postgres://u@db/x",
               DENGJI_REDIS_URL="redis://r:6379/0", DENGJI_WECHAT_APPID="wx1")
    line = _one_line(_run(["serve"], env))
    assert "DENGJI_WECHAT_SECRET" in line and "DENGJI_MP_SECRET" in line and "DENGJI_WECHAT_APPID" not in line


def test_db_init_says_it_created_the_schema(tmp_path):
    env = _env(tmp_path)
    first = _run(["db", "init"], env)
    assert first.returncode == 0 and "已创建数据库结构" in first.stdout, first.stderr
    assert "restored" not in first.stderr, first.stderr  # a new database's indexes are no news
    again = _run(["db", "init"], env)
    assert again.returncode == 0 and "已是最新" in again.stdout


def _workers(pid: int) -> dict[str, int]:
    """Sanic worker name -> pid among the children of `pid`."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"SANIC_WORKER_NAME=Sanic-Server"):
                found[item.split(b"=", 1)[1].decode()] = int(child)
    return found


def _wait(check, seconds: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of a service this test started (its own session): no orphaned workers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _serve_two_workers(tmp_path: Path, own_redis) -> tuple[subprocess.Popen, Path, int]:
    """`dengji serve --workers 2` on a new SQLite database and a Redis of the test's own, logging to serve.log."""
    env = _env(tmp_path, DENGJI_REDIS_URL=own_redis.url, DENGJI_LOG_LEVEL="INFO")
    assert _run(["db", "init"], env).returncode == 0
    log = tmp_path / "serve.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([DENGJI, "serve", "--workers", "2", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log, port


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.skipif(not PG_URL, reason="DENGJI_TEST_DATABASE_URL not set: no PostgreSQL server")
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed: the test needs a Redis of its own")
def test_a_killed_worker_is_restarted_and_logged_and_sigterm_stops_promptly(tmp_path, own_redis):
    name = f"dengji_serve_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create_pg_database(PG_URL, name))
    port = free_port()
    env = _env(tmp_path, DENGJI_DATABASE_URL=_pg_database_url(PG_URL, name), DENGJI_REDIS_URL=own_redis.url,
               DENGJI_LOG_LEVEL="INFO")
    log = tmp_path / "serve.log"
    proc = None
    try:
        assert _run(["db", "init"], env).returncode == 0
        with log.open("w") as out:
            proc = subprocess.Popen([DENGJI, "serve", "--workers", "2", "--port", str(port)], env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait(lambda: _healthy(port), 180, "the service to start", log)
        def two_workers(but: int = 0) -> dict | None:
            found = _workers(proc.pid)
            return found if len(found) == 2 and but not in found.values() else None

        workers = _wait(two_workers, 60, "two workers", log)
        _wait(lambda: log.read_text().count("Worker ready") >= 2, 60, "both workers ready", log)
        victim_name, victim = sorted(workers.items())[0]
        os.kill(victim, signal.SIGKILL)
        restarted = _wait(lambda: two_workers(but=victim), 120, "the killed worker to be restarted", log)
        assert set(restarted) == set(workers)
        _wait(lambda: "Worker ready" in log.read_text().split("died (signal SIGKILL)")[-1], 180, "the new worker", log)
        text = log.read_text()
        assert f"worker {victim_name} [{victim}] died (signal SIGKILL); restarting it" in text
        assert _healthy(port)

        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - began < 8
        for pid in restarted.values():  # nothing left behind
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        if proc is not None:
            _kill_group(proc)
        asyncio.run(_drop_pg_database(PG_URL, name))


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed: the test needs a Redis of its own")
def test_a_worker_killed_while_starting_is_restarted(tmp_path, own_redis):
    # Sanic's manager waits for every worker to report ready; a worker killed before it did sent nothing,
    # so the manager used to wait out its 30 s and stop the whole service.
    proc, log, port = _serve_two_workers(tmp_path, own_redis)
    try:
        workers = _wait(lambda: (found := _workers(proc.pid)) and len(found) == 2 and found, 60, "workers", log)
        victim_name, victim = sorted(workers.items())[0]
        os.kill(victim, signal.SIGKILL)
        if "Worker ready" in log.read_text():
            pytest.skip("the workers were ready before the kill: nothing of the start-up to test")
        _wait(lambda: log.read_text().count("Worker ready") >= 2, 60, "both workers ready", log)
        text = log.read_text()
        assert f"worker {victim_name} [{victim}] died (signal SIGKILL); restarting it" in text
        assert "did not report ready" not in text
        found = _workers(proc.pid)
        assert len(found) == 2 and victim not in found.values()
        assert _healthy(port)
    finally:
        _kill_group(proc)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed: the test needs a Redis of its own")
@pytest.mark.parametrize("delay", [0.0, 0.8, 1.6])
def test_sigterm_while_workers_start_stops_the_service(tmp_path, own_redis, delay):
    # Sanic's manager, told to stop while waiting for its workers to report ready, used to re-read its own
    # stop message forever (a core at ~50 %) instead of stopping. A worker still being spawned, or between
    # ignoring signals and installing its handler, also lost its stop signal and served on while the
    # manager waited for it; and a signal landing inside a call on the shared worker state crashed the
    # manager and left its workers running. Several moments of the start-up are tried.
    proc, log, _ = _serve_two_workers(tmp_path, own_redis)
    try:
        workers = _wait(lambda: (found := _workers(proc.pid)) and len(found) == 2 and found, 60, "workers", log)
        time.sleep(delay)
        if "Worker ready" in log.read_text():
            pytest.skip("the workers were ready before the signal: nothing of the start-up to test")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) is not None
        time.sleep(0.5)
        for pid in workers.values():
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        text = log.read_text()
        assert "received signal SIGTERM; stopping" in text
        assert "Experienced exception while trying to serve" not in text
        assert "did not stop within" not in text  # a missed signal is sent again, not waited out
    finally:
        _kill_group(proc)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed: the test needs a Redis of its own")
def test_a_worker_that_hangs_while_stopping_is_killed_and_the_service_exits(tmp_path, own_redis):
    from server.core.manager import STOP_GRACE

    proc, log, _ = _serve_two_workers(tmp_path, own_redis)
    try:
        workers = _wait(lambda: (found := _workers(proc.pid)) and len(found) == 2 and found, 60, "workers", log)
        _wait(lambda: log.read_text().count("Worker ready") >= 2, 120, "both workers ready", log)
        (hung_name, hung), (_, other) = sorted(workers.items())
        os.kill(hung, signal.SIGSTOP)  # stands for a worker stuck in a blocking call: it cannot stop
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_GRACE + 20) is not None
        took = time.monotonic() - began
        assert STOP_GRACE - 1 < took < STOP_GRACE + 20
        text = log.read_text()
        assert f"worker {hung_name} [{hung}] did not stop within {STOP_GRACE:.0f} s; killing it" in text
        assert text.count("did not stop within") == 1  # the other worker stopped by itself
        time.sleep(0.5)
        for pid in (hung, other):
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        _kill_group(proc)
