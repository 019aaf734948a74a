"""Redis through redis.asyncio, or an embedded in-process stand-in (fakeredis) when no URL is set."""

from __future__ import annotations

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
