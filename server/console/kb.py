"""Knowledge base (publisher, admin): entries with search, edit and reload; unanswered questions with one
click to attach one to an entry as a new phrasing, or to start a new entry from it; feedback per entry.

Built on bot/service.py as it is today (the knowledge base is a YAML file edited under a Redis lock, then
reloaded in every worker). Issue 15 moves it into the database and adds its own "attach a miss" step:
`attach` below then calls that instead of update_entry + reload."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import redirect

from bot import service
from bot.schemas import KbEntryCreate, KbEntryUpdate
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


async def _index(request: Request, *, status: int = 200, **extra):
    app = request.app
    q = (request.args.get("q") or "").strip()
    entries = await service.get_all_entries(app=app)
    votes = {s["entry_id"]: s for s in await service.get_feedback_summary(app=app)}
    misses = await service.get_all_misses(redis=app.ctx.redis, keys=app.ctx.keys, limit=20)
    shown = [e for e in entries if _matches(e, q)] if q else entries
    return render(request, "kb.html", status=status, entries=shown, all_entries=entries, total=len(entries),
                  q=q, votes=votes, misses=misses, **extra)


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
    """Attach an unanswered question to an entry as a new phrasing, then reload so the bot answers it."""
    data = fields(request)
    question, entry_id = data.get("question", ""), data.get("entry_id", "")
    try:
        if not entry_id:
            raise FormError({"entry_id": "请选择条目"})
        entry = await service.get_entry_or_raise(app=request.app, entry_id=entry_id)
        changes = parse(KbEntryUpdate, {"phrasings": [*entry["phrasings"], question]}).model_dump(exclude_none=True)
        await service.update_entry(app=request.app, entry_id=entry_id, changes=changes)
        await service.reload(app=request.app)
    except FormError as exc:
        return await _index(request, status=422, errors={"": next(iter(exc.errors.values()))})
    except AppError as exc:
        return await _index(request, status=exc.status, errors={"": exc.message})
    return await _index(request, flash=f"已将“{question}”加为“{entry['question']}”的问法，并重新加载")


@bp.get("/new")
@page(*EDITORS)
async def new(request: Request):
    question = request.args.get("question") or ""
    return render(request, "kb_entry.html", entry={"question": question, "phrasings": [question] if question else []},
                  creating=True)


@bp.post("/new")
@page(*EDITORS)
async def create(request: Request):
    data = _entry_data(request)
    try:
        body = parse(KbEntryCreate, data)
        await service.create_entry(app=request.app, entry=body.model_dump())
        await service.reload(app=request.app)
    except FormError as exc:
        return render(request, "kb_entry.html", status=422, entry=data, creating=True, errors=exc.errors)
    except AppError as exc:
        return render(request, "kb_entry.html", status=exc.status, entry=data, creating=True,
                      errors=from_app_error(exc, KB_FIELDS).errors)
    return redirect(f"/console/kb/{body.id}")


@bp.get("/<entry_id>")
@page(*EDITORS)
async def edit(request: Request, entry_id: str):
    return render(request, "kb_entry.html", entry=await service.get_entry_or_raise(app=request.app, entry_id=entry_id))


@bp.post("/<entry_id>")
@page(*EDITORS)
async def update(request: Request, entry_id: str):
    data = _entry_data(request)
    data.pop("id", None)
    try:
        changes = parse(KbEntryUpdate, data).model_dump(exclude_none=True)
        entry = await service.update_entry(app=request.app, entry_id=entry_id, changes=changes)
        await service.reload(app=request.app)
    except FormError as exc:
        return render(request, "kb_entry.html", status=422, entry=data | {"id": entry_id}, errors=exc.errors)
    except AppError as exc:
        return render(request, "kb_entry.html", status=exc.status, entry=data | {"id": entry_id},
                      errors=from_app_error(exc, KB_FIELDS).errors)
    return render(request, "kb_entry.html", entry=entry, flash="已保存并重新加载")
