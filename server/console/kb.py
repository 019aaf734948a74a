"""Knowledge base (publisher, admin): entries with search, edit, delete and reload; unanswered questions with
one click to attach one to an entry as a new phrasing, or to start a new entry from it; feedback per entry.

Every action calls the bot service function its staff API route calls (bot/views.py, /api/staff/bot/...):
the entries live in the database and each edit is checked and published to every worker by the service
itself, so these pages only turn forms into those calls and errors into messages by their field."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import redirect

from bot import service
from bot.schemas import KbEntryCreate, KbEntryUpdate, MissAttach
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import render
from server.console.session import page
from server.core.errors import AppError

bp = Blueprint("console_kb", url_prefix="/console/kb")
EDITORS = ("publisher",)  # admin always passes
KB_FIELDS = {"KB_ENTRY_EXISTS": "id", "KB_ENTRY_NOT_FOUND": "entry_id"}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _entry_data(request: Request) -> dict:
    """The entry form as the API's body: phrasings and keywords one per line."""
    data = fields(request)
    return {k: v for k, v in {
        "id": data.get("id"), "category": data.get("category", ""), "question": data.get("question", ""),
        "phrasings": _lines(data.get("phrasings")), "keywords": _lines(data.get("keywords")),
        "answer": data.get("answer", "")}.items() if v is not None}


def _matches(entry: dict, q: str) -> bool:
    text = " ".join([entry["id"], entry["question"], entry["answer"], *entry["phrasings"], *entry["keywords"]])
    return q.lower() in text.lower()


async def _votes(request: Request) -> dict[str, dict]:
    return {s["entry_id"]: s for s in await service.get_feedback_summary(app=request.app)}


async def _index(request: Request, *, status: int = 200, **extra):
    app = request.app
    q = (request.args.get("q") or "").strip()
    entries = await service.get_all_entries(app=app)
    misses = await service.get_all_misses(redis=app.ctx.redis, keys=app.ctx.keys, limit=20)
    shown = [e for e in entries if _matches(e, q)] if q else entries
    return render(request, "kb.html", status=status, entries=shown, all_entries=entries, total=len(entries),
                  q=q, votes=await _votes(request), misses=misses, **extra)


async def _entry_page(request: Request, entry: dict, *, status: int = 200, **extra):
    return render(request, "kb_entry.html", status=status, entry=entry,
                  vote=(await _votes(request)).get(entry.get("id")), **extra)


@bp.get("/")
@page(*EDITORS)
async def index(request: Request):
    return await _index(request)


@bp.post("/reload")
@page(*EDITORS)
async def reload(request: Request):
    try:
        result = await service.reload(app=request.app)
    except AppError as exc:
        return await _index(request, status=exc.status, errors={"": exc.message})
    return await _index(request, flash=f"知识库已重新加载（{result['entries']} 条，版本 {result['version']}）")


@bp.post("/attach")
@page(*EDITORS)
async def attach(request: Request):
    """Attach an unanswered question to an entry as a new phrasing: answered at once in every worker."""
    data = fields(request)
    question = data.get("question", "")
    try:
        if not data.get("entry_id"):
            raise FormError({"entry_id": "请选择条目"})
        body = parse(MissAttach, {"question": question, "entry_id": data["entry_id"]})
        entry = await service.attach_miss(app=request.app, question=body.question, entry_id=body.entry_id)
    except FormError as exc:
        return await _index(request, status=422, errors={"": next(iter(exc.errors.values()))})
    except AppError as exc:
        return await _index(request, status=exc.status, errors={"": exc.message})
    return await _index(request, flash=f"已将“{question}”加为“{entry['question']}”的问法，已生效")


@bp.get("/new")
@page(*EDITORS)
async def new(request: Request):
    question = request.args.get("question") or ""
    return render(request, "kb_entry.html", entry={"question": question, "phrasings": [question] if question else []},
                  creating=True, miss=question)


@bp.post("/new")
@page(*EDITORS)
async def create(request: Request):
    data = _entry_data(request)
    miss = fields(request).get("miss", "")
    try:
        body = parse(KbEntryCreate, data)
        await service.create_entry(app=request.app, entry=body.model_dump())
        if miss:  # started from an unanswered question: the same step as attaching it takes it off the list
            await service.attach_miss(app=request.app, question=miss, entry_id=body.id)
    except FormError as exc:
        return render(request, "kb_entry.html", status=422, entry=data, creating=True, miss=miss, errors=exc.errors)
    except AppError as exc:
        return render(request, "kb_entry.html", status=exc.status, entry=data, creating=True, miss=miss,
                      errors=from_app_error(exc, KB_FIELDS).errors)
    return redirect(f"/console/kb/{body.id}")


@bp.get("/<entry_id>")
@page(*EDITORS)
async def edit(request: Request, entry_id: str):
    return await _entry_page(request, await service.get_entry_or_raise(app=request.app, entry_id=entry_id))


@bp.post("/<entry_id>")
@page(*EDITORS)
async def update(request: Request, entry_id: str):
    data = _entry_data(request)
    data.pop("id", None)
    try:
        changes = parse(KbEntryUpdate, data).model_dump(exclude_none=True)
        entry = await service.update_entry(app=request.app, entry_id=entry_id, changes=changes)
    except FormError as exc:
        return await _entry_page(request, data | {"id": entry_id}, status=422, errors=exc.errors)
    except AppError as exc:
        return await _entry_page(request, data | {"id": entry_id}, status=exc.status,
                                 errors=from_app_error(exc, KB_FIELDS).errors)
    return await _entry_page(request, entry, flash="已保存，已生效")


@bp.post("/<entry_id>/delete")
@page(*EDITORS)
async def delete(request: Request, entry_id: str):
    try:
        await service.delete_entry(app=request.app, entry_id=entry_id)
    except AppError as exc:
        return await _index(request, status=exc.status, errors={"": exc.message})
    return await _index(request, flash=f"已删除条目 {entry_id}")
