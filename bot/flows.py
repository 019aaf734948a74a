"""Chat steps that cross domains: a receipt number in a question asks the progress domain."""

from __future__ import annotations

import logging

from server.progress.service import lookup_for_chat, my_cases_for_chat

from . import service
from .engine import BotReply

log = logging.getLogger("dengji.bot")


async def chat(*, app, user_id: str, text: str, channel: str) -> BotReply:
    """Answer a chat message; a progress question with a receipt number gets the live status."""
    reply = await service.ask(app=app, user_id=user_id, text=text, channel=channel)
    if reply.intent == "progress" and reply.receipt_no:
        reply.text = await progress_text(app=app, openid=user_id, receipt_no=reply.receipt_no)
    elif reply.intent == "progress":
        # A bound person asking "我的案子办到哪了" gets their own cases (user_id is the openid of either app).
        reply.text = await my_cases_for_chat(app=app, openid=user_id) or reply.text
    return reply


async def progress_text(*, app, openid: str, receipt_no: str) -> str:
    """Ask the progress domain for a case's status as chat text."""
    return await lookup_for_chat(app=app, openid=openid, receipt_no=receipt_no)
