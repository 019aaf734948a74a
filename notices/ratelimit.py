"""A token bucket in Redis shared by every worker, so all senders together respect WeChat's rate."""

from __future__ import annotations

import asyncio

# Refill by elapsed time (Redis clock, so workers on different hosts agree), then take up to `want`.
# Returns {granted, seconds to wait for one token}; the wait is a string because Lua numbers
# come back to Redis clients as integers.
_ACQUIRE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local got = math.min(want, math.floor(tokens))
tokens = tokens - got
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
local wait = 0
if got < 1 then wait = (1 - tokens) / rate end
return {got, tostring(wait)}
"""

_REFUND = """
local burst = tonumber(ARGV[2])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(burst, tokens + tonumber(ARGV[1]))))
return 1
"""


class TokenBucket:
    """Rate limiter over one Redis key; `acquire` waits until at least one token is free."""

    def __init__(self, redis, key: str, *, rate: float, burst: int) -> None:
        self.redis, self.key, self.rate, self.burst = redis, key, rate, max(1, burst)

    async def acquire(self, want: int) -> int:
        """Take between 1 and `want` tokens, sleeping while the bucket is empty."""
        while True:
            got, wait = await self.redis.eval(_ACQUIRE, 1, self.key, self.rate, self.burst, max(1, want))
            if int(got) > 0:
                return int(got)
            await asyncio.sleep(min(1.0, max(0.001, float(wait))))

    async def refund(self, count: int) -> None:
        """Give back tokens taken for messages that were not sent after all."""
        if count > 0:
            await self.redis.eval(_REFUND, 1, self.key, count, self.burst)
