from __future__ import annotations

import asyncio
import uuid

import fakeredis.aioredis
import pytest
import redis.asyncio as aioredis

from bot.dialog import Dialog, parse_pick
from tests.conftest import REDIS_URL


@pytest.mark.parametrize(
    "text,n",
    [("2", 2), ("２", 2), ("二", 2), ("第二个", 2), ("第2条", 2), ("3。", 3), ("选1", 1), ("两", 2)],
)
def test_parse_pick(text, n):
    assert parse_pick(text) == n


@pytest.mark.parametrize("text", ["二手房", "12", "第二个大厅在哪", "", "预约"])
def test_parse_pick_rejects_non_choices(text):
    assert parse_pick(text) is None


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def redis(prefix):
    """Real Redis in CI's second leg (DENGJI_TEST_REDIS_URL), the embedded stand-in otherwise."""
    client = aioredis.from_url(REDIS_URL) if REDIS_URL else fakeredis.aioredis.FakeRedis()
    yield client
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_pick_number_after_suggestion(bot, redis, prefix):
    dialog = Dialog(bot, redis, prefix=prefix, ttl=60)
    first = await dialog.reply("u1", "材料")
    assert first.kind == "suggest"
    chosen = first.candidates[1][0]
    picked = await dialog.reply("u1", "2")
    assert (picked.kind, picked.entry_id) == ("answer", chosen)
    assert picked.text == bot.pick(chosen).text
    # Full-width and Chinese numerals too, and the list stays usable.
    assert (await dialog.reply("u1", "第一个")).entry_id == first.candidates[0][0]
    assert (await dialog.reply("u1", "３")).entry_id == first.candidates[2][0]
    assert 0 < await redis.ttl(prefix + "u1") <= 60


async def test_context_is_per_user(bot, redis, prefix):
    dialog = Dialog(bot, redis, prefix=prefix, ttl=60)
    await dialog.reply("u1", "材料")
    other = await dialog.reply("u2", "2")
    assert other.kind == "fallback"


async def test_new_question_clears_suggestions(bot, redis, prefix):
    dialog = Dialog(bot, redis, prefix=prefix, ttl=60)
    await dialog.reply("u1", "材料")
    answered = await dialog.reply("u1", "城东大厅的地址")
    assert answered.entry_id == "hall-east"
    assert await redis.get(prefix + "u1") is None
    assert (await dialog.reply("u1", "2")).kind == "fallback"


async def test_out_of_range_number_is_a_normal_question(bot, redis, prefix):
    dialog = Dialog(bot, redis, prefix=prefix, ttl=60)
    await dialog.reply("u1", "材料")
    assert (await dialog.reply("u1", "5")).kind == "fallback"
    # ... and the suggestion list survives a mistyped number.
    assert (await dialog.reply("u1", "1")).kind == "answer"


async def test_context_expires(bot, redis, prefix):
    dialog = Dialog(bot, redis, prefix=prefix, ttl=1)
    assert (await dialog.reply("u1", "材料")).kind == "suggest"
    await asyncio.sleep(1.2)
    assert (await dialog.reply("u1", "2")).kind == "fallback"
