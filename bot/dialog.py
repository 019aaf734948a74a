"""Per-user dialog context in Redis: remembers the last suggestion list so a
reply like "2" / "第二个" picks from it."""

from __future__ import annotations

import json
import re
from typing import Any

from server.core.redis import write

from .engine import Bot, BotReply
from .normalize import normalize, strip_punct

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# "2", "第2个", "第二条", "选2", "二" — after NFKC, so "２" and "②" become "2".
_PICK_RE = re.compile(r"^(?:选|选择|我选)?第?([1-9]|[一二两三四五六七八九])(?:个|条|项|号)?$")


def parse_pick(text: str) -> int | None:
    """The 1-based choice in a short reply, or None if it is not a choice."""
    compact = strip_punct(normalize(text or "")).replace(" ", "")
    m = _PICK_RE.match(compact)
    if not m:
        return None
    g = m.group(1)
    return int(g) if g.isdigit() else _CN_DIGITS[g]


class Dialog:
    """`redis` is any redis.asyncio.Redis-compatible client; the context of
    each user expires after `ttl` seconds of silence."""

    def __init__(self, bot: Bot, redis: Any, prefix: str = "dengji:dialog:", ttl: int = 600):
        self.bot = bot
        self.redis = redis
        self.prefix = prefix
        self.ttl = int(ttl)

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}{user_id}"

    async def reply(self, user_id: str, text: str, writes: list | None = None) -> BotReply:
        """Answer with the user's context. Context changes are appended to `writes` (Redis commands as
        (method, args, kwargs)) for the caller to send with its own; without a list they are sent here."""
        own = writes is None
        writes = [] if own else writes
        key = self._key(user_id)
        n = parse_pick(text)
        reply = None
        if n is not None:
            raw = await self.redis.get(key)
            if raw is not None:
                ctx = json.loads(raw)
                ids = ctx.get("suggest") or []
                if 1 <= n <= len(ids):
                    # Keep the list: users often read several of the options.
                    writes.append(("expire", (key, self.ttl), {}))
                    reply = self.bot.pick(ids[n - 1])
        if reply is None:
            reply = self.bot.answer(text)
            if reply.kind == "suggest":
                ctx = {"suggest": [c[0] for c in reply.candidates]}
                writes.append(("set", (key, json.dumps(ctx)), {"ex": self.ttl}))
            elif n is None:
                # A new question ends the old suggestion list, so a later "2"
                # cannot pick from a list the user no longer sees.
                writes.append(("delete", (key,), {}))
        if own:
            await write(self.redis, writes)
        return reply
