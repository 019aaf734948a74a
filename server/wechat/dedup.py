"""At-most-once handling of WeChat's retried pushes, shared by all workers through Redis.

WeChat re-sends a push it got no answer for within 5 s (up to three times, same MsgId). The first
delivery claims the key with SET NX and stores the rendered reply; a retry returns that reply, and a
retry arriving while the first is still working waits briefly for it.

Storing the reply is a write the first delivery makes anyway, so the Redis writes of its handling (the
bot's dialog context, its last answer) ride along in the same round trip: two round trips per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wechatpy.messages import BaseMessage

from server.core.redis import apply, close_batch, open_batch

PENDING = "\x00pending"
# A retry comes within ~15 s of the first delivery; keep replies well beyond that.
REPLY_TTL_SECONDS = 300
# While the first delivery works, a retry polls for its reply at most this long.
WAIT_SECONDS = 4.5


def key_parts(message: BaseMessage) -> tuple[str, ...]:
    """Identify a push: MsgId for messages; sender + CreateTime + Event for events (they have no MsgId)."""
    raw = message._data
    if raw.get("MsgType", "").lower() == "event":
        return ("evt", message.source, str(raw.get("CreateTime", "")), str(raw.get("Event", "")).lower())
    if message.id:
        return ("msg", str(message.id))
    return ("msg", message.source, str(raw.get("CreateTime", "")), str(raw.get("MsgType", "")))


async def once(redis, key: str, produce: Callable[[], Awaitable[str]], *,
               ttl: int = REPLY_TTL_SECONDS, wait: float = WAIT_SECONDS) -> str | None:
    """Run produce() once per key and return its result to every caller; None if a retry gave up waiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.005
    while True:
        if await redis.set(key, PENDING, nx=True, ex=ttl):
            batch, token = open_batch()
            try:
                value = await produce()
            except BaseException:
                batch.open = False
                await redis.delete(key)  # let WeChat's retry try again
                raise
            finally:
                close_batch(token)
            batch.open = False  # work still running (a late answer) writes on its own from here on
            async with redis.pipeline(transaction=False) as pipe:
                pipe.set(key, value, ex=ttl)
                apply(pipe, batch.ops)
                await pipe.execute()
            return value
        value = await redis.get(key)
        if value is not None and value != PENDING:
            return value
        if loop.time() >= deadline:
            return None
        # value None: the first delivery failed and released the key; loop to claim it.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
