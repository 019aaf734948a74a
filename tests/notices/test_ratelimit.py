"""The Redis token bucket itself: what a sender asks for is what it may get, never more."""

from __future__ import annotations

import time
import uuid

import fakeredis
import pytest
import redis.asyncio as aioredis

from notices.ratelimit import TokenBucket
from tests.conftest import REDIS_URL


@pytest.fixture
async def redis():
    """Real Redis in CI's second leg (DENGJI_TEST_REDIS_URL), the embedded stand-in otherwise."""
    client = aioredis.from_url(REDIS_URL) if REDIS_URL else fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()


async def test_a_bucket_grants_at_most_what_is_asked_and_refills_at_its_rate(redis):
    bucket = TokenBucket(redis, f"t{uuid.uuid4().hex[:8]}:bucket", rate=20, burst=5)
    try:
        assert await bucket.acquire(1) == 1  # one asked, one given, though five are free
        assert await bucket.acquire(10) == 4  # the rest of the burst, not more
        started = time.monotonic()
        assert await bucket.acquire(1) == 1  # the next token comes at the refill rate (1/20 s)
        assert 0.02 <= time.monotonic() - started < 1.0
    finally:
        await redis.delete(bucket.key)
