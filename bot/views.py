"""Chatbot routes: the mini-program's ask/feedback, and staff's knowledge base, misses and votes."""

from sanic import Blueprint, Request
from sanic.response import json

from server.core.auth import require_citizen, require_staff
from server.core.openapi import responds
from server.core.responses import (
    BotAnswerRead,
    KbEntryRead,
    OkRead,
    StaffBotEntriesRead,
    StaffBotFeedbackRead,
    StaffBotMissesRead,
    StaffBotReloadPostRead,
)
from server.core.validation import parse_body, parse_query

from . import flows, service
from .schemas import AskCreate, FeedbackCreate, KbEntryCreate, KbEntryUpdate, MissAttach, MissQuery

mp = Blueprint("bot_mp", url_prefix="/api/mp/bot")
staff = Blueprint("bot_staff", url_prefix="/api/staff/bot")
bp = Blueprint.group(mp, staff)
EDITORS = ("admin", "publisher")


async def setup(app) -> None:
    """Build the bot once per worker."""
    await service.start(app)


@mp.post("/ask")
@require_citizen
@responds(BotAnswerRead)
async def ask(request: Request):
    """Answer a question from the mini-program."""
    body = parse_body(request, AskCreate)
    reply = await flows.chat(app=request.app, user_id=request.ctx.principal.openid, text=body.question, channel="mp")
    return json(reply.to_dict())


@mp.post("/feedback")
@require_citizen
@responds(OkRead)
async def feedback(request: Request):
    """Record whether an answer helped."""
    body = parse_body(request, FeedbackCreate)
    await service.create_feedback_checked(app=request.app, channel="mp", **body.model_dump())
    return json({"ok": True}, status=201)


@staff.get("/entries")
@require_staff(*EDITORS)
@responds(StaffBotEntriesRead)
async def entries(request: Request):
    return json({"items": await service.get_all_entries(app=request.app)})


@staff.get("/entries/<entry_id>")
@require_staff(*EDITORS)
@responds(KbEntryRead)
async def entry(request: Request, entry_id: str):
    return json(await service.get_entry_or_raise(app=request.app, entry_id=entry_id))


@staff.post("/entries")
@require_staff(*EDITORS)
@responds(KbEntryRead)
async def create_entry(request: Request):
    body = parse_body(request, KbEntryCreate)
    return json(await service.create_entry(app=request.app, entry=body.model_dump()), status=201)


@staff.patch("/entries/<entry_id>")
@require_staff(*EDITORS)
@responds(KbEntryRead)
async def update_entry(request: Request, entry_id: str):
    body = parse_body(request, KbEntryUpdate)
    changes = body.model_dump(exclude_none=True)
    return json(await service.update_entry(app=request.app, entry_id=entry_id, changes=changes))


@staff.delete("/entries/<entry_id>")
@require_staff(*EDITORS)
@responds(OkRead)
async def delete_entry(request: Request, entry_id: str):
    await service.delete_entry(app=request.app, entry_id=entry_id)
    return json({"ok": True})


@staff.post("/reload")
@require_staff(*EDITORS)
@responds(StaffBotReloadPostRead)
async def reload(request: Request):
    """Reload the knowledge base in every worker."""
    return json(await service.reload(app=request.app))


@staff.get("/misses")
@require_staff(*EDITORS)
@responds(StaffBotMissesRead)
async def misses(request: Request):
    """Questions the bot could not answer well, most frequent first."""
    query = parse_query(request, MissQuery)
    return json({"items": await service.get_all_misses(redis=request.app.ctx.redis, keys=request.app.ctx.keys,
                                                       limit=query.limit, offset=query.offset)})


@staff.post("/misses/attach")
@require_staff(*EDITORS)
@responds(KbEntryRead)
async def attach_miss(request: Request):
    """Answer an unanswered question from now on: add it to an entry as a phrasing (every worker)."""
    body = parse_body(request, MissAttach)
    return json(await service.attach_miss(app=request.app, question=body.question, entry_id=body.entry_id))


@staff.get("/feedback")
@require_staff(*EDITORS)
@responds(StaffBotFeedbackRead)
async def feedback_summary(request: Request):
    return json({"items": await service.get_feedback_summary(app=request.app)})
