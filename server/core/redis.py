"""Redis through redis.asyncio, or an embedded in-process stand-in (fakeredis) when no URL is set."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import Settings

log = logging.getLogger("dengji.redis")

# What a Redis outage looks like to a caller: the server is gone, paused or unreachable.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


class Breaker:
    """Fails Redis calls at once for a moment after one timed out or lost its connection.

    Every call already has a timeout; without this, a request making several calls while Redis is paused
    would wait for each in turn and miss WeChat's 5-second reply window.
    """

    def __init__(self, pause: float, deadline: float) -> None:
        self.pause = pause
        self.deadline = deadline  # a whole call, waiting for a pooled connection included
        self.open_until = 0.0

    def check(self) -> None:
        if self.open_until and time.monotonic() < self.open_until:
            raise RedisConnectionError("Redis unavailable (recent failure)")

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.pause

    def reset(self) -> None:
        self.open_until = 0.0


async def _guarded(breaker: Breaker, call):
    breaker.check()
    try:
        # redis-py 5 connects new pooled connections while holding the pool's lock, so behind a paused
        # server calls queue there one socket timeout after another: bound the whole call, not each read.
        async with asyncio.timeout(breaker.deadline):
            result = await call()
    except TimeoutError:
        breaker.trip()
        raise RedisTimeoutError("Redis call timed out") from None
    except UNAVAILABLE:
        breaker.trip()
        raise
    breaker.reset()
    return result


class GuardedPipeline(Pipeline):
    breaker: Breaker

    async def execute(self, raise_on_error: bool = True):
        return await _guarded(self.breaker, lambda: super(GuardedPipeline, self).execute(raise_on_error))


class GuardedRedis(aioredis.Redis):
    """redis.asyncio with a per-call timeout (from the URL's settings) and a `Breaker`."""

    breaker: Breaker

    async def execute_command(self, *args, **options):
        return await _guarded(self.breaker, lambda: super(GuardedRedis, self).execute_command(*args, **options))

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.breaker = self.breaker
        return pipe


def create_redis(settings: Settings) -> aioredis.Redis:
    """Open the shared Redis client (pooled); embedded mode keeps data in this process only."""
    if settings.redis_url:
        timeout = settings.redis_timeout_seconds
        client = GuardedRedis.from_url(settings.redis_url, decode_responses=True, health_check_interval=30,
                                       socket_timeout=timeout, socket_connect_timeout=timeout)
        client.breaker = Breaker(pause=1.0, deadline=2 * timeout)
        return client
    import fakeredis

    # One server per process so every client in this worker sees the same data.
    global _EMBEDDED_SERVER
    if _EMBEDDED_SERVER is None:
        _EMBEDDED_SERVER = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=_EMBEDDED_SERVER, decode_responses=True)


_EMBEDDED_SERVER = None


class Keys:
    """Builds namespaced Redis keys so several deployments (or test runs) can share one Redis."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)


# ───────────────────────── writes sent together ─────────────────────────

# A Redis command to send later: (method name of the client, args, kwargs), e.g. ("set", (key, value), {"ex": 60}).
Write = tuple[str, tuple, dict]


class WriteBatch:
    """Writes a request makes to Redis, sent in one round trip together with its final write.

    A request that must write Redis once at its end anyway (the WeChat dedup stores its reply) opens a
    batch; code deeper down hands its writes to `write()`, which adds them to the open batch instead of
    making a round trip of its own. Once the batch is sent it is closed, and later writes go out at once.
    """

    def __init__(self) -> None:
        self.ops: list[Write] = []
        self.open = True


_batch: contextvars.ContextVar[WriteBatch | None] = contextvars.ContextVar("redis_write_batch", default=None)


def open_batch() -> tuple[WriteBatch, contextvars.Token]:
    batch = WriteBatch()
    return batch, _batch.set(batch)


def close_batch(token: contextvars.Token) -> None:
    _batch.reset(token)


def argv(op: Write) -> list:
    """A write as the Redis command it stands for (for sending from a Lua script)."""
    method, args, kwargs = op
    command = [{"delete": "DEL"}.get(method, method.upper()), *args]
    for name, value in kwargs.items():
        if name != "ex":
            raise ValueError(f"unsupported option {name!r} in a batched Redis write")
        command += ["EX", value]
    return command


def apply(pipe, ops: list[Write]) -> None:
    for method, args, kwargs in ops:
        getattr(pipe, method)(*args, **kwargs)


async def write(redis, ops: list[Write]) -> None:
    """Send writes with the current request's open batch, or now in one pipeline when there is none."""
    if not ops:
        return
    batch = _batch.get()
    if batch is not None and batch.open:
        batch.ops.extend(ops)
        return
    async with redis.pipeline(transaction=False) as pipe:
        apply(pipe, ops)
        await pipe.execute()



# ───────────────────────── writes that must not fail a committed request ─────────────────────────


class Outbox:
    """Redis writes owed after a database commit, kept in memory and retried while Redis is away.

    A request whose write committed answers success even when Redis is down; what it owes Redis
    (availability versions, catalog version) goes out when Redis is back.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []
        self.task: asyncio.Task | None = None

    def add(self, what: str, send) -> None:
        self.items.append((what, send))
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._retry())

    async def _retry(self) -> None:
        delay = 0.5
        while self.items:
            await asyncio.sleep(delay)
            waiting, self.items = self.items, []
            for what, send in waiting:
                try:
                    await send()
                    log.info("redis write sent after outage: %s", what)
                except UNAVAILABLE + (RedisError,):
                    self.items.append((what, send))
            delay = min(5.0, delay * 2)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def after_commit(outbox: Outbox, what: str, send) -> bool:
    """Run `send()` (a coroutine function writing Redis) now, or queue it when Redis is unavailable.

    Returns True when sent now. Never raises for an outage: the database write it follows has committed.
    While earlier writes still wait in the outbox, Redis is taken as away and this one joins them at once.
    """
    if outbox.items:
        outbox.add(what, send)
        return False
    try:
        await send()
        return True
    except UNAVAILABLE + (RedisError,) as exc:
        log.warning("redis unavailable after commit (%s): %s queued", type(exc).__name__, what)
        outbox.add(what, send)
        return False
