"""Background jobs: arq on Redis in production, the same job functions in-process when embedded.

A job is `async def fn(ctx: dict, **kwargs)` registered with @job("domain.thing.action"). ctx holds
the worker's shared resources (settings, redis, keys, wechat gateways, jobs). A job raises
arq.Retry(defer=seconds) to be tried again later; both runners honour it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from arq import Retry

from server.core.metrics import JOBS

log = logging.getLogger("dengji.jobs")

JobFn = Callable[..., Awaitable[object]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: JobFn
    max_tries: int


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    fn: JobFn
    every_seconds: int


REGISTRY: dict[str, JobSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}


def job(name: str, *, max_tries: int = 5) -> Callable[[JobFn], JobFn]:
    """Register a background job under a stable name."""

    def wrap(fn: JobFn) -> JobFn:
        REGISTRY[name] = JobSpec(name, fn, max_tries)
        return fn

    return wrap


def periodic(name: str, *, every_seconds: int) -> Callable[[JobFn], JobFn]:
    """Register a job that runs every N seconds (an arq cron in production)."""

    def wrap(fn: JobFn) -> JobFn:
        PERIODIC[name] = PeriodicSpec(name, fn, every_seconds)
        return fn

    return wrap


def load_job_modules() -> None:
    """Import the modules that register jobs, so both runners know every job."""
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)


# Every domain module that defines jobs.
JOB_MODULES = (
    "server.booking.scheduled",
    "server.progress.scheduled",
    "notices.jobs",
    "bot.scheduled",
)


class InlineQueue:
    """Runs jobs as tasks in this process; job ids deduplicate like arq's do."""

    def __init__(self, ctx: dict) -> None:
        self.ctx = ctx
        self._tasks: set[asyncio.Task] = set()
        self._ids: set[str] = set()
        self._periodic: list[asyncio.Task] = []

    async def enqueue(self, name: str, *, job_id: str | None = None, delay: float = 0,
                      defer_until: datetime | None = None, **kwargs) -> bool:
        if name not in REGISTRY:
            raise KeyError(f"unknown job {name}")
        if job_id is not None:
            if job_id in self._ids:
                return False
            self._ids.add(job_id)
        if defer_until is not None:
            delay = max(0.0, (defer_until - datetime.now(defer_until.tzinfo)).total_seconds())
        task = asyncio.create_task(self._run(REGISTRY[name], kwargs, delay, job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, spec: JobSpec, kwargs: dict, delay: float, job_id: str | None) -> None:
        try:
            for attempt in range(1, spec.max_tries + 1):
                if delay:
                    await asyncio.sleep(delay)
                self.ctx["job_try"] = attempt
                try:
                    await spec.fn(self.ctx, **kwargs)
                    JOBS.labels(spec.name, "ok").inc()
                    return
                except Retry as retry:
                    JOBS.labels(spec.name, "retry").inc()
                    defer = retry.defer_score
                    delay = (defer / 1000) if defer else attempt
                except Exception:
                    JOBS.labels(spec.name, "error").inc()
                    log.exception("job %s failed", spec.name)
                    return
            log.warning("job %s gave up after %d tries", spec.name, spec.max_tries)
        finally:
            if job_id is not None:
                self._ids.discard(job_id)

    def start_periodic(self) -> None:
        for spec in PERIODIC.values():
            self._periodic.append(asyncio.create_task(self._loop(spec)))

    async def _loop(self, spec: PeriodicSpec) -> None:
        while True:
            await asyncio.sleep(spec.every_seconds)
            try:
                await spec.fn(self.ctx)
            except Exception:
                log.exception("periodic job %s failed", spec.name)

    async def drain(self, timeout: float = 30) -> None:
        """Wait for queued jobs (tests and graceful shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.01, deadline - asyncio.get_running_loop().time()))

    async def close(self) -> None:
        for task in [*self._periodic, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._periodic, *self._tasks, return_exceptions=True)


class ArqQueue:
    """Enqueues onto arq's Redis queue; `dengji worker` runs them.

    Jobs are enqueued after the write they follow has committed, so an unavailable Redis must not fail the
    request: the job waits in this worker's outbox and is enqueued when Redis is back (its job id keeps a
    late duplicate out).
    """

    def __init__(self, pool, queue_name: str, timeout: float = 1.0) -> None:
        from server.core.redis import Outbox

        self.pool = pool
        self.queue_name = queue_name
        self.timeout = timeout
        self.outbox = Outbox()

    async def enqueue(self, name: str, *, job_id: str | None = None, delay: float = 0,
                      defer_until: datetime | None = None, **kwargs) -> bool:
        from server.core.redis import after_commit

        if name not in REGISTRY:
            raise KeyError(f"unknown job {name}")
        if delay and defer_until is None:
            defer_until = datetime.now().astimezone() + timedelta(seconds=delay)  # a late retry keeps the time
        result = []

        async def send() -> None:
            job = await asyncio.wait_for(self.pool.enqueue_job(
                name, _job_id=job_id, _queue_name=self.queue_name, _defer_until=defer_until, **kwargs,
            ), self.timeout)
            result.append(job is not None)

        if not await after_commit(self.outbox, f"job {name} {job_id or ''}", send):
            return True
        return result[0]

    async def drain(self, timeout: float = 30) -> None:
        return None

    async def close(self) -> None:
        self.outbox.cancel()
        try:
            await asyncio.wait_for(self.pool.aclose(), 1)
        except Exception:  # a stop never waits on an unavailable Redis
            log.warning("job queue connection not closed cleanly")


async def create_queue(settings, ctx: dict):
    load_job_modules()
    if settings.jobs == "arq":
        from arq import create_pool
        from arq.connections import RedisSettings

        # No retries at start-up (the command checked Redis already); connecting gives up in time.
        redis_settings = RedisSettings.from_dsn(settings.redis_url)
        redis_settings.conn_retries = 0
        redis_settings.conn_timeout = max(1, round(settings.redis_timeout_seconds))
        pool = await create_pool(redis_settings)
        return ArqQueue(pool, settings.redis_prefix + "arq:queue", timeout=max(1.0, settings.redis_timeout_seconds))
    return InlineQueue(ctx)
