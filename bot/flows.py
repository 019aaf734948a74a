"""Chat steps that cross domains: a receipt number asks the progress domain; a hand-over to a person asks the
catalog whether staff are on duty now."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

from server.booking import clock
from server.catalog import service as catalog_service
from server.progress.service import lookup_for_chat, my_cases_for_chat

from . import service
from .engine import BotReply

log = logging.getLogger("dengji.bot")
WEEKDAYS = "一二三四五六日"


async def _online_mortgage_banks(app) -> str:
    from server.operations import banks

    catalog = await catalog_service.get(app)
    return await banks.answer_online_mortgage(clock.of(app.ctx).now(catalog.tz).date())


# Knowledge-base entries whose answer is built from live data when asked (entry id -> async fn(app) -> text);
# the entry's own answer stays as the fallback should the data be unreachable.
DYNAMIC_ANSWERS: dict[str, Callable[[object], Awaitable[str]]] = {
    "mortgage-online-banks": _online_mortgage_banks,
}


async def chat(*, app, user_id: str, text: str, channel: str) -> BotReply:
    """Answer a chat message; a progress question with a receipt number gets the live status, and "转人工" or
    a second fallback in a row goes to a person."""
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
    elif reply.intent == "handover":
        last = await app.ctx.redis.getdel(service.streak_key(app, user_id))
        reply = await handover(app=app, question=_str(last) if last else None, channel=channel)
    elif reply.kind == "fallback":
        # Remember this question and learn, in the same round trip, whether the previous one fell back too.
        key = service.streak_key(app, user_id)
        if await app.ctx.redis.set(key, text[:255], ex=service.DIALOG_TTL, get=True):
            await app.ctx.redis.delete(key)
            reply = await handover(app=app, question=text, channel=channel)
    return reply


async def progress_text(*, app, openid: str, receipt_no: str) -> str:
    """Ask the progress domain for a case's status as chat text."""
    return await lookup_for_chat(app=app, openid=openid, receipt_no=receipt_no)


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def handover(*, app, question: str | None, channel: str) -> BotReply:
    """Hand the conversation to a person: WeChat customer service during service hours (the public account's
    `transfer_customer_service` reply), otherwise say when staff are back and leave the question for them."""
    bot = app.ctx.bot
    cat = await catalog_service.get(app)
    start, _ = cat.hotline_hours()
    now = clock.of(app.ctx).now(cat.tz)
    on_duty = cat.hotline_open(now)
    if on_duty:
        if channel == "oa":
            return BotReply(kind="transfer", text=bot.text("handover_now", "正在为您转接人工客服，请稍候。"),
                            intent="handover", score=1.0)
        return BotReply(kind="intent", text=bot.text("handover_call", "请拨打咨询热线转人工客服。"),
                        intent="handover", score=1.0)
    if question:  # already counted as a miss when it fell back: marked now as waiting for staff
        await service.record_miss(redis=app.ctx.redis, keys=app.ctx.keys, question=question, kind="handover",
                                  score=0.0, count=0)
    key = "handover_later_left" if question else "handover_later"
    text = bot.text(key, "人工客服将于{back}恢复服务。").format(back=_back_at(cat, now, start))
    return BotReply(kind="intent", text=text, intent="handover", score=1.0)


def _back_at(cat, now: datetime, start: time) -> str:
    """When staff are next on duty, in words: "今天9:00", "明天（12月1日 周二）9:00", "12月3日（周四）9:00"."""
    day = now.date()
    if not (cat.is_working_day(day) and now.time() < start):
        day += timedelta(days=1)
        for _ in range(60):  # the longest holiday is far shorter
            if cat.is_working_day(day):
                break
            day += timedelta(days=1)
    at = f"{start.hour}:{start.minute:02d}"
    if day == now.date():
        return f"今天{at}"
    label = f"{day.month}月{day.day}日 周{WEEKDAYS[day.weekday()]}"
    return f"明天（{label}）{at}" if day == now.date() + timedelta(days=1) else f"{label} {at}"
