"""Sends to public-account users: customer-service messages for answers that missed the reply window."""

from __future__ import annotations

import asyncio
import logging

from server.wechat.client import is_transient

log = logging.getLogger("dengji.wechat")

SEND_TRIES = 3


async def send_text(*, app, openid: str, text: str) -> bool:
    """Send a customer-service text message, retrying transient failures; return whether it went out."""
    for attempt in range(1, SEND_TRIES + 1):
        try:
            await app.ctx.wechat.call(lambda c: c.message.send_text(openid, text), api="custom")
            return True
        except Exception as exc:
            if not is_transient(exc) or attempt == SEND_TRIES:
                log.warning("customer-service message not sent",
                            extra={"fields": {"error": type(exc).__name__,
                                              "errcode": getattr(exc, "errcode", None)}})
                return False
            await asyncio.sleep(attempt)
    return False
