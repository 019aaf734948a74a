"""Chatbot background work: moving the miss counts gathered in Redis into the database."""

from __future__ import annotations

from server.core.jobs import periodic

from . import service


@periodic("bot.misses.flush", every_seconds=60)
async def flush_misses(ctx: dict) -> int:
    """Store the questions the bot missed since the last flush (staff also trigger it when they look)."""
    return await service.flush_misses(redis=ctx["redis"], keys=ctx["keys"])
