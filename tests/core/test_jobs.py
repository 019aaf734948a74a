"""The same job functions run in-process (embedded) and on arq with real Redis."""

import asyncio

import pytest
from arq import Retry

from server.core.jobs import InlineQueue, job
from tests.conftest import requires_redis

RUNS: list[tuple[str, int]] = []


@job("test.echo", max_tries=3)
async def echo(ctx: dict, *, value: str) -> None:
    RUNS.append((value, ctx["job_try"]))
    if value == "flaky" and ctx["job_try"] < 2:
        raise Retry(defer=0.01)


@pytest.fixture(autouse=True)
def _clear():
    RUNS.clear()


async def test_inline_queue_runs_retries_and_dedupes():
    queue = InlineQueue({})
    assert await queue.enqueue("test.echo", value="a", job_id="j1")
    assert not await queue.enqueue("test.echo", value="a", job_id="j1")  # same id while queued
    await queue.enqueue("test.echo", value="flaky")
    await queue.drain()
    assert sorted(RUNS) == [("a", 1), ("flaky", 1), ("flaky", 2)]
    with pytest.raises(KeyError):
        await queue.enqueue("no.such.job")
    await queue.close()


@requires_redis
async def test_arq_worker_runs_the_same_job(settings):
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    from server.core.jobs import ArqQueue
    from server.worker import worker_settings

    ws = worker_settings(settings)
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    queue = ArqQueue(pool, ws.queue_name)
    assert await queue.enqueue("test.echo", value="b", job_id=f"{settings.redis_prefix}b")
    assert not await queue.enqueue("test.echo", value="b", job_id=f"{settings.redis_prefix}b")
    await queue.enqueue("test.echo", value="flaky")
    worker = Worker(functions=ws.functions, redis_pool=pool, queue_name=ws.queue_name, burst=True,
                    on_startup=ws.on_startup, on_shutdown=ws.on_shutdown, poll_delay=0.05,
                    handle_signals=False, max_tries=3)
    await asyncio.wait_for(worker.main(), timeout=30)
    await worker.close()
    assert sorted(RUNS) == [("b", 1), ("flaky", 1), ("flaky", 2)]
