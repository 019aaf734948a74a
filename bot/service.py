"""Chatbot service: answering with dialog context, misses and feedback, the editable knowledge base.

The knowledge-base directory is `<DENGJI_HOME>/bot` when that folder exists (a center keeps its
edited data outside the code tree; tests use a copy there), otherwise the shipped `bot/data`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.exceptions import ResponseError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from config.settings import Settings
from models.bot import BotEntry, BotFeedback, BotMiss
from models.catalog import CenterSetting, Hall
from server.catalog import service as catalog_service
from server.core import redis as redis_writes
from server.core.errors import Conflict, NotFound, Unprocessable
from server.core.redact import redact

from . import facts as bot_facts
from . import kb
from .dialog import Dialog
from .engine import DEFAULT_DATA_DIR, Bot, BotReply, DataError, parse_entries
from .normalize import normalize, strip_punct

log = logging.getLogger("dengji.bot")

# How often a worker looks in Redis for a knowledge-base reload done by another worker.
VERSION_CHECK_SECONDS = 1.0
# How long "有用"/"没用" still refers to the last answer, and a dialog lives without messages.
LAST_ANSWER_TTL = 600
DIALOG_TTL = 600
MISS_KINDS = ("fallback", "suggest")


@dataclass
class BotState:
    """Per-worker bookkeeping of which knowledge-base and catalog versions this worker answers from."""

    data_dir: Path
    version: int = 0
    catalog_version: bytes | str | None = None
    checked_at: float = 0.0
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def data_dir(settings: Settings) -> Path:
    """Return the directory the knowledge base is seeded from: <home>/bot if present, else the shipped data."""
    custom = settings.home / "bot"
    return custom if (custom / kb.KB_FILE).is_file() else DEFAULT_DATA_DIR


async def seed(settings: Settings) -> str:
    """`dengji db seed`: bring the knowledge base in the database up to date with the data files (what the
    files changed since the last seed is applied; staff edits to the rest are kept, see kb.seed_from)."""
    r = await kb.seed_from(data_dir(settings))
    text = f"知识库：新增 {r.added} 条条目，更新 {r.updated} 条，写入 {r.files} 个数据文件"
    if r.kept:
        text += f"；{len(r.kept)} 条保留了工作人员的修改（{'、'.join(r.kept[:5])}{'等' if len(r.kept) > 5 else ''}）"
    if r.added or r.updated or r.files:
        text += "；运行中的服务在管理端“重新加载”知识库或重启后生效"
    return text


async def _facts(app) -> dict[str, Any]:
    """The catalog's figures the answers quote; the seed files' when the catalog is not in the database yet."""
    if await CenterSetting.exists(key="booking_rules") and await Hall.exists():
        return bot_facts.from_catalog(await catalog_service.load())  # fresh: only when the catalog moved
    return bot_facts.load(app.ctx.settings.seed_dir)  # not seeded yet: the files the seed will load


async def start(app) -> None:
    """Build the bot and dialog once for this worker (jieba loads here, once per process)."""
    state = BotState(data_dir=data_dir(app.ctx.settings))
    redis = app.ctx.redis
    state.version, state.catalog_version = await _versions(app)
    source = await kb.load_source(state.data_dir)  # the files until `dengji db seed`
    app.ctx.bot = Bot(state.data_dir, source=source, facts=await _facts(app))
    app.ctx.dialog = Dialog(app.ctx.bot, redis, prefix=app.ctx.keys("bot", "dialog", ""), ttl=DIALOG_TTL)
    state.checked_at = time.monotonic()
    app.ctx.bot_state = state


def _version_key(app) -> str:
    return app.ctx.keys("bot", "kb", "version")


async def _versions(app) -> tuple[int, bytes | str | None]:
    """The knowledge base's and the catalog's version in Redis (one round trip)."""
    kb_version, cat_version = await app.ctx.redis.mget(_version_key(app), app.ctx.keys("catalog", "version"))
    return int(kb_version or 0), cat_version


def streak_key(app, user_id: str) -> str:
    """The user's last unanswered question, kept while the fallbacks go on (two in a row hand over)."""
    return app.ctx.keys("bot", "unanswered", user_id)


def _last_key(app, user_id: str) -> str:
    return app.ctx.keys("bot", "last", user_id)


# ───────────────────────── answering ─────────────────────────


async def ensure_fresh(*, app) -> None:
    """Rebuild this worker's bot when another worker changed the knowledge base or the catalog changed."""
    state: BotState = app.ctx.bot_state
    now = time.monotonic()
    if now - state.checked_at < VERSION_CHECK_SECONDS:
        return
    state.checked_at = now
    version, cat_version = await _versions(app)
    if version == state.version and cat_version == state.catalog_version:
        return
    async with state.reload_lock:
        if version == state.version and cat_version == state.catalog_version:
            return
        try:
            await _rebuild(app, kb_changed=version != state.version,
                           catalog_changed=cat_version != state.catalog_version)
        except Exception:  # the database is away: keep answering from what we have, try again in a second
            log.warning("bot rebuild postponed: knowledge base or catalog unreadable", exc_info=True)
            return
        state.version, state.catalog_version = version, cat_version


async def refresh(*, app) -> None:
    """Rebuild this worker's bot from the database and the catalog now."""
    await _rebuild(app, kb_changed=True, catalog_changed=True)


async def _rebuild(app, *, kb_changed: bool = True, catalog_changed: bool = False) -> None:
    """Read what changed from the database and swap in a new bot (the old one answers meanwhile)."""
    source = await kb.load_source(app.ctx.bot_state.data_dir) if kb_changed else None
    facts = await _facts(app) if catalog_changed else None
    if source is None and facts == app.ctx.bot.facts:
        return  # a catalog edit that changes no figure the answers quote (a holiday, a hall's quota)
    try:
        await asyncio.to_thread(app.ctx.bot.reload, source, facts=facts)
    except DataError:
        log.exception("knowledge base reload failed; answering from the previous version")


def _compact(text: str) -> str:
    return strip_punct(normalize(text or "")).replace(" ", "")


# The normalised vote words of the feedback section last seen (rebuilt when a reload replaces it).
_vote_words: tuple[object, dict[str, bool]] = (None, {})


def _votes(bot: Bot) -> dict[str, bool]:
    global _vote_words
    words = bot.section("feedback") or {}
    if _vote_words[0] is not words:
        votes = {_compact(str(w)): False for w in words.get("unhelpful") or []}
        votes.update({_compact(str(w)): True for w in words.get("helpful") or []})  # "helpful" wins a tie
        votes.pop("", None)
        _vote_words = (words, votes)
    return _vote_words[1]


def vote_of(bot: Bot, text: str) -> bool | None:
    """Tell whether a message is a vote on the last answer (True helpful, False not), else None."""
    compact = _compact(text)
    if not compact or len(compact) > 12:
        return None
    return _votes(bot).get(compact)


def max_length(bot: Bot) -> int:
    return int((bot.section("chat") or {}).get("max_length", 200))


async def ask(*, app, user_id: str, text: str, channel: str) -> BotReply:
    """Answer one message of a user, with dialog context, feedback votes and miss logging."""
    await ensure_fresh(app=app)
    bot: Bot = app.ctx.bot
    redis = app.ctx.redis
    vote = vote_of(bot, text)
    if vote is not None:
        raw = await redis.getdel(_last_key(app, user_id))
        if raw:
            last = json.loads(raw)
            await create_feedback(entry_id=last["entry_id"], helpful=vote, channel=channel,
                                  question=last.get("question", ""))
            key = "feedback_thanks_helpful" if vote else "feedback_thanks_unhelpful"
            return BotReply(kind="feedback", text=bot.text(key, "感谢您的反馈！"), entry_id=last["entry_id"])
    if len(text or "") > max_length(bot):
        return BotReply(kind="rejected", text=bot.text("too_long", "您的消息太长了，请精简后再发送。"))
    writes: list = []
    reply = await app.ctx.dialog.reply(user_id, text, writes)
    if reply.kind != "fallback" and reply.intent != "handover":
        writes.append(("delete", (streak_key(app, user_id),), {}))  # answered: the fallback streak ends
    if reply.kind == "answer" and reply.entry_id:
        writes.append(("set", (_last_key(app, user_id), json.dumps({"entry_id": reply.entry_id,
                                                                     "question": redact(text[:255])})),
                       {"ex": LAST_ANSWER_TTL}))
    else:
        writes.append(("delete", (_last_key(app, user_id),), {}))
    # One round trip for the dialog and last-answer changes, or none when the WeChat reply carries them.
    await redis_writes.write(redis, writes)
    if reply.kind in MISS_KINDS:
        await record_miss(redis=redis, keys=app.ctx.keys, question=text, kind=reply.kind, score=reply.score)
    return reply


# ───────────────────────── misses and feedback ─────────────────────────


def miss_key(question: str) -> str:
    """Normalise a question so that spelling variants of it count together, with personal data redacted
    (this is the text misses and feedback store)."""
    return redact(strip_punct(normalize(question or "")))[:255]


# Misses are counted in Redis, where counting rides along with the reply's other writes (no database
# write while someone waits for an answer), and moved into the database by `flush_misses`: every minute
# (job bot.misses.flush) and before staff read them.
def _miss_keys(keys) -> tuple[str, str]:
    return keys("bot", "misses", "count"), keys("bot", "misses", "last")


async def record_miss(*, redis, keys, question: str, kind: str, score: float, count: int = 1) -> None:
    """Count a question the bot could not answer confidently (count 0: only mark how it last ended)."""
    q = miss_key(question)
    if not q:
        return
    count_key, last_key = _miss_keys(keys)
    last = json.dumps({"kind": kind, "score": score, "at": datetime.now(UTC).isoformat()})
    await redis_writes.write(redis, [("hincrby", (count_key, q, count), {}), ("hset", (last_key, q, last), {})])


async def flush_misses(*, redis, keys) -> int:
    """Move the miss counts gathered in Redis into the database; return how many questions changed."""
    taken = []
    for key in _miss_keys(keys):
        # RENAME is atomic: counts arriving from now on start a new hash, none is lost or counted twice.
        grabbed = f"{key}:flushing:{uuid.uuid4().hex}"
        try:
            await redis.rename(key, grabbed)
        except ResponseError:  # nothing gathered since the last flush
            grabbed = None
        taken.append(grabbed)
    counts = {q: int(n) for q, n in (await redis.hgetall(taken[0])).items()} if taken[0] else {}
    lasts = {q: json.loads(v) for q, v in (await redis.hgetall(taken[1])).items()} if taken[1] else {}
    try:
        for q in counts.keys() | lasts.keys():
            await _store_miss(q, counts.get(q, 0), lasts.get(q))
    except Exception:
        # Put the counts back for the next flush rather than lose them.
        count_key, last_key = _miss_keys(keys)
        async with redis.pipeline(transaction=False) as pipe:
            for q, n in counts.items():
                pipe.hincrby(count_key, q, n)
            for q, v in lasts.items():
                pipe.hsetnx(last_key, q, json.dumps(v))
            await pipe.execute()
        raise
    finally:
        if any(taken):
            await redis.delete(*[k for k in taken if k])
    return len(counts.keys() | lasts.keys())


async def _store_miss(question: str, n: int, last: dict | None) -> None:
    last = last or {"kind": "fallback", "score": 0.0, "at": datetime.now(UTC).isoformat()}
    seen = datetime.fromisoformat(last["at"])
    changes = dict(count=F("count") + n, last_seen=seen, last_kind=last["kind"], last_score=last["score"])
    if await BotMiss.filter(question=question).update(**changes):
        return
    try:
        await BotMiss.create(question=question, count=n, last_seen=seen, last_kind=last["kind"],
                             last_score=last["score"])
    except IntegrityError:  # another flush created it in between
        await BotMiss.filter(question=question).update(**changes)


async def get_all_misses(*, redis, keys, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Return logged misses, most frequent first (counts gathered so far included)."""
    await flush_misses(redis=redis, keys=keys)
    rows = await BotMiss.all().order_by("-count", "-last_seen").offset(offset).limit(limit)
    return [{"question": m.question, "count": m.count, "last_kind": m.last_kind,
             "last_score": m.last_score, "first_seen": m.first_seen.isoformat(),
             "last_seen": m.last_seen.isoformat()} for m in rows]


async def create_feedback(*, entry_id: str, helpful: bool, channel: str, question: str = "") -> BotFeedback:
    """Store one vote on an answer."""
    return await BotFeedback.create(entry_id=entry_id, helpful=helpful, channel=channel,
                                    question=miss_key(question))


async def create_feedback_checked(*, app, entry_id: str, helpful: bool, channel: str,
                                  question: str = "") -> BotFeedback:
    """Store a vote sent through the API, for an entry that exists."""
    if entry_id not in {e.id for e in app.ctx.bot.entries}:
        raise NotFound("知识库中没有这条答复", code="KB_ENTRY_NOT_FOUND")
    return await create_feedback(entry_id=entry_id, helpful=helpful, channel=channel, question=question)


async def get_feedback_summary(*, app) -> list[dict[str, Any]]:
    """Return helpful/unhelpful counts per entry, least helpful first."""
    rows = await (BotFeedback.all().annotate(n=Count("id")).group_by("entry_id", "helpful")
                  .values("entry_id", "helpful", "n"))
    questions = {e.id: e.question for e in app.ctx.bot.entries}
    summary: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = summary.setdefault(r["entry_id"], {"entry_id": r["entry_id"], "question": questions.get(r["entry_id"]),
                                               "helpful": 0, "unhelpful": 0})
        s["helpful" if r["helpful"] else "unhelpful"] += int(r["n"])
    for s in summary.values():
        s["total"] = s["helpful"] + s["unhelpful"]
        s["helpful_ratio"] = round(s["helpful"] / s["total"], 4)
    return sorted(summary.values(), key=lambda s: (-s["unhelpful"], s["helpful_ratio"], s["entry_id"]))


# ───────────────────────── knowledge base ─────────────────────────


async def _publish(app) -> int:
    """Rebuild this worker's bot from the database and move the version on, so every other worker (on every
    host) rebuilds within a second (see ensure_fresh)."""
    state: BotState = app.ctx.bot_state
    async with state.reload_lock:
        source = await kb.load_source(state.data_dir)
        try:
            await asyncio.to_thread(app.ctx.bot.reload, source)
        except DataError as exc:
            raise Unprocessable(f"知识库数据有误，未重新加载：{exc}", code="KB_INVALID") from exc
        state.version = await app.ctx.redis.incr(_version_key(app))
        state.checked_at = time.monotonic()
    return state.version


async def reload(*, app) -> dict[str, Any]:
    """Rebuild from the database here and in every worker."""
    await _ensure_seeded(app)
    version = await _publish(app)
    return {"version": version, "entries": len(app.ctx.bot.entries)}


async def _ensure_seeded(app) -> None:
    if not await kb.is_seeded():
        await kb.seed_from(app.ctx.bot_state.data_dir)


async def get_all_entries(*, app) -> list[dict[str, Any]]:
    """Return every entry of the knowledge base as stored (the seed files' until it is first edited)."""
    if await kb.is_seeded():
        return await kb.get_all()
    return await asyncio.to_thread(kb.read_entries, app.ctx.bot_state.data_dir)


async def get_entry_or_raise(*, app, entry_id: str) -> dict[str, Any]:
    """Return one entry of the knowledge base or raise NotFound."""
    for e in await get_all_entries(app=app):
        if e["id"] == entry_id:
            return e
    raise NotFound("知识库中没有这条答复", code="KB_ENTRY_NOT_FOUND")


async def _edit(app, change) -> Any:
    """Apply one change to the stored entries, check that the bot can be built from the result, publish it."""
    # One editor at a time across workers and hosts: the check below reads the whole knowledge base.
    async with app.ctx.redis.lock(app.ctx.keys("bot", "kb", "lock"), timeout=30, blocking_timeout=10):
        await _ensure_seeded(app)
        async with in_transaction():
            result = await change()
            try:
                parse_entries(await kb.get_all())
            except DataError as exc:
                raise Unprocessable(f"知识库条目不符合要求：{exc}", code="KB_INVALID") from exc
        await _publish(app)
        return result


async def _row_or_raise(entry_id: str) -> BotEntry:
    row = await kb.get(entry_id)
    if row is None:
        raise NotFound("知识库中没有这条答复", code="KB_ENTRY_NOT_FOUND")
    return row


async def create_entry(*, app, entry: dict[str, Any]) -> dict[str, Any]:
    """Add an entry; it is answered at once in every worker."""
    async def change() -> dict[str, Any]:
        e = kb.clean(entry)
        if await kb.get(e["id"]):
            raise Conflict("已有相同标识的条目", code="KB_ENTRY_EXISTS")
        last = await BotEntry.all().order_by("-position").first()
        row = await BotEntry.create(entry_id=e["id"], position=(last.position + 1) if last else 0,
                                    **{k: e[k] for k in kb.FIELDS if k != "id"})
        return kb.entry_read(row)

    return await _edit(app, change)


async def update_entry(*, app, entry_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change fields of an entry (its id stays)."""
    async def change() -> dict[str, Any]:
        row = await _row_or_raise(entry_id)
        e = kb.clean({**kb.entry_read(row), **changes, "id": entry_id})
        await row.update_from_dict({k: e[k] for k in kb.FIELDS if k != "id"}).save()
        return kb.entry_read(row)

    return await _edit(app, change)


async def delete_entry(*, app, entry_id: str) -> None:
    """Remove an entry."""
    async def change() -> None:
        row = await _row_or_raise(entry_id)
        if await BotEntry.all().count() == 1:
            raise Conflict("知识库至少要保留一条条目", code="KB_LAST_ENTRY")
        await row.delete()

    await _edit(app, change)


async def attach_miss(*, app, question: str, entry_id: str) -> dict[str, Any]:
    """Learning loop: add an unanswered question to an entry as a new phrasing, so it is answered from now on,
    and take it off the list of misses."""
    key = miss_key(question)
    if not _compact(key):
        raise Unprocessable("问题不能为空", code="KB_PHRASING_EMPTY")

    async def change() -> dict[str, Any]:
        row = await _row_or_raise(entry_id)
        phrasings = list(row.phrasings or [])
        if key not in {miss_key(p) for p in phrasings}:
            phrasings.append(key)
            row.phrasings = phrasings
            await row.save(update_fields=["phrasings", "updated_at"])
        return kb.entry_read(row)

    entry = await _edit(app, change)
    await flush_misses(redis=app.ctx.redis, keys=app.ctx.keys)
    await BotMiss.filter(question=key).delete()
    return entry
