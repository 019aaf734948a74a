"""Redis through redis.asyncio, or an embedded in-process stand-in (fakeredis) when no URL is set."""

from __future__ import annotations

import contextvars

import redis.asyncio as aioredis

from config.settings import Settings


def create_redis(settings: Settings) -> aioredis.Redis:
    """Open the shared Redis client (pooled); embedded mode keeps data in this process only."""
    if settings.redis_url:
        return aioredis.from_url(settings.redis_url, decode_responses=True, health_check_interval=30)
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

