"""Chat steps that cross domains: a receipt number in a question asks the progress domain."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from server.progress.service import lookup_for_chat, my_cases_for_chat

from . import service
from .engine import BotReply

log = logging.getLogger("dengji.bot")


async def _online_mortgage_banks(app) -> str:
    from server.booking import clock
    from server.catalog import service as catalog_service
    from server.operations import banks

    catalog = await catalog_service.get(app)
    return await banks.answer_online_mortgage(clock.of(app.ctx).now(catalog.tz).date())


# Knowledge-base entries whose answer is built from live data when asked (entry id -> async fn(app) -> text);
# the entry's own answer stays as the fallback should the data be unreachable.
DYNAMIC_ANSWERS: dict[str, Callable[[object], Awaitable[str]]] = {
    "mortgage-online-banks": _online_mortgage_banks,
}


async def chat(*, app, user_id: str, text: str, channel: str) -> BotReply:
    """Answer a chat message; a progress question with a receipt number gets the live status."""
    reply = await service.ask(app=app, user_id=user_id, text=text, channel=channel)
    if reply.intent == "progress" and reply.receipt_no:
        reply.text = await progress_text(app=app, openid=user_id, receipt_no=reply.receipt_no)
    elif reply.intent == "progress":
        # A bound person asking "我的案子办到哪了" gets their own cases (user_id is the openid of either app).
        reply.text = await my_cases_for_chat(app=app, openid=user_id) or reply.text
    elif reply.kind == "answer" and reply.entry_id in DYNAMIC_ANSWERS:
        try:
            reply.text = await DYNAMIC_ANSWERS[reply.entry_id](app)
        except Exception:  # the static answer beats no answer
            log.exception("dynamic answer failed; static answer sent", extra={"fields": {"entry": reply.entry_id}})
    return reply


async def progress_text(*, app, openid: str, receipt_no: str) -> str:
    """Ask the progress domain for a case's status as chat text."""
    return await lookup_for_chat(app=app, openid=openid, receipt_no=receipt_no)
