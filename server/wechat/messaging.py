"""Sends to public-account users: customer-service messages for answers that missed the reply window."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum

from server.core import metrics
from server.wechat.client import REPLY_WINDOW_CODES, is_transient, outside_reply_window

log = logging.getLogger("dengji.wechat")

SEND_TRIES = 3


class Delivery(StrEnum):
    SENT = "sent"
    # 45015 / 45047: the user's reply window is closed or used up; only their next message reopens it, so the
    # send is not retried (a retry would only repeat the refusal) and the user is recorded as unreachable now.
    OUTSIDE_WINDOW = "outside_window"
    FAILED = "failed"


async def send_text(*, app, openid: str, text: str) -> Delivery:
    """Send a customer-service text message, retrying transient failures; say how it went."""
    for attempt in range(1, SEND_TRIES + 1):
        try:
            await app.ctx.wechat.call(lambda c: c.message.send_text(openid, text), api="custom")
            return Delivery.SENT
        except Exception as exc:
            errcode = getattr(exc, "errcode", None)
            if outside_reply_window(exc):
                metrics.WECHAT_UNREACHABLE.labels("custom", str(errcode)).inc()
                log.info("customer-service message outside the reply window, not sent",
                         extra={"fields": {"errcode": errcode, "reason": REPLY_WINDOW_CODES[errcode]}})
                return Delivery.OUTSIDE_WINDOW
            if not is_transient(exc) or attempt == SEND_TRIES:
                log.warning("customer-service message not sent",
                            extra={"fields": {"error": type(exc).__name__, "errcode": errcode}})
                return Delivery.FAILED
            await asyncio.sleep(attempt)
    return Delivery.FAILED
