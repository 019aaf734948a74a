"""At-most-once handling of WeChat's retried pushes, shared by all workers through Redis.

WeChat re-sends a push it got no answer for within 5 s (up to three times, same MsgId). The first
delivery claims the key with SET NX and stores the rendered reply; a retry returns that reply, and a
retry arriving while the first is still working waits briefly for it.

Storing the reply is a write the first delivery makes anyway, so the Redis writes of its handling (the
bot's dialog context, its last answer, miss counts) ride along in the same round trip: two round trips
per message.

A plain question to the bot has no side effect but those Redis writes, so it needs no claim up front:
`commit` stores its reply and applies its writes in one Lua script, only if no other delivery stored a
reply first (which it returns instead). Such a message costs one round trip; concurrent duplicates both
compute the same answer and exactly one of them commits it.

Replays: a push's signature covers (timestamp, nonce), and a pair is accepted once within the replay
window. The pair is recorded (SET NX) in the same round trip as the claim or the commit, so refusing
replays costs no extra round trip; a replay is refused before its writes apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wechatpy.messages import BaseMessage

from server.core.redis import WriteBatch, apply, argv, close_batch, open_batch

PENDING = "\x00pending"
# A retry comes within ~15 s of the first delivery; keep replies well beyond that.
REPLY_TTL_SECONDS = 300
# While the first delivery works, a retry polls for its reply at most this long.
WAIT_SECONDS = 4.5
# Timestamps are accepted 300 s either side of now: a used pair is remembered past both edges.
NONCE_TTL_SECONDS = 660


class Replayed(Exception):
    """This (timestamp, nonce) pair was used before: the push is a replay."""


def key_parts(message: BaseMessage) -> tuple[str, ...]:
    """Identify a push: MsgId for messages; sender + CreateTime + Event for events (they have no MsgId)."""
    raw = message._data
    if raw.get("MsgType", "").lower() == "event":
        return ("evt", message.source, str(raw.get("CreateTime", "")), str(raw.get("Event", "")).lower())
    if message.id:
        return ("msg", str(message.id))
    return ("msg", message.source, str(raw.get("CreateTime", "")), str(raw.get("MsgType", "")))


async def _claim(redis, key: str, ttl: int, nonce_key: str | None) -> bool:
    """SET NX the claim; with a nonce key, record the pair in the same round trip (Replayed if it was used)."""
    if nonce_key is None:
        return bool(await redis.set(key, PENDING, nx=True, ex=ttl))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(nonce_key, 1, nx=True, ex=NONCE_TTL_SECONDS)
        pipe.set(key, PENDING, nx=True, ex=ttl)
        fresh, claimed = await pipe.execute()
    if not fresh:
        if claimed:
            await redis.delete(key)
        raise Replayed()
    return bool(claimed)


async def once(redis, key: str, produce: Callable[[], Awaitable[str]], *,
               ttl: int = REPLY_TTL_SECONDS, wait: float = WAIT_SECONDS, nonce_key: str | None = None) -> str | None:
    """Run produce() once per key and return its result to every caller; None if a retry gave up waiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.005
    while True:
        claimed = await _claim(redis, key, ttl, nonce_key)
        nonce_key = None  # recorded: polling again is not a replay
        if claimed:
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


# KEYS[1]: the push's key, KEYS[2] (optional): its (timestamp, nonce) key. ARGV: reply, ttl, nonce ttl, then
# each write as its argument count followed by the command. Returns {2} for a replay (nothing written).
_COMMIT = """
local unpack = unpack or table.unpack
if KEYS[2] and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  return {2}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  local i = 4
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    redis.call(unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
  return {1}
end
return {0, redis.call('GET', KEYS[1])}
"""


def commit_script(redis):
    """Register the commit script with a client (once per worker)."""
    return redis.register_script(_COMMIT)


async def commit(script, key: str, value: str, batch: WriteBatch, *, ttl: int = REPLY_TTL_SECONDS,
                 nonce_key: str | None = None) -> str | None:
    """Store a reply and the batch's writes unless another delivery stored one first.

    Return None when this delivery's reply was stored, else the stored reply (which the caller answers
    with; its own writes were dropped). The batch is closed: writes made later go out on their own.
    Raise Replayed (nothing written) when nonce_key was recorded before.
    """
    args: list = [value, ttl, NONCE_TTL_SECONDS]
    for op in batch.ops:
        command = argv(op)
        args += [len(command), *command]
    batch.open = False
    claimed, *existing = await script(keys=[key] if nonce_key is None else [key, nonce_key], args=args)
    if claimed == 2:
        raise Replayed()
    if claimed:
        return None
    return existing[0] if existing and existing[0] not in (None, PENDING) else "success"
