"""What the public-account pages show, gathered from the domains' own service functions.

Nothing here decides a rule: availability, booking, cancelling, lookups and the bot answer exactly as through
the JSON API; this module only puts their answers into the shape a page lists.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import segno
from markupsafe import Markup

from bot import flows as bot_flows
from bot import service as bot_service
from models import DayKind
from server.booking import availability
from server.booking import flows as booking_flows
from server.booking import service as booking_service
from server.catalog import service as catalog_service
from server.identity import service as identity_service

WEEKDAYS = "一二三四五六日"
BOOKING_KINDS = {"walk_in": "免预约", "none_online": "全程网办"}


def weekday(day: date) -> str:
    return "周" + WEEKDAYS[day.weekday()]


async def business_types(app) -> list[dict]:
    """Active business types, those that need a booking first."""
    catalog = await catalog_service.get(app)
    items = [catalog_service.business_type_read(b) | {"tag": BOOKING_KINDS.get(b.booking)}
             for b in catalog.business_types.values() if b.active]
    return sorted(items, key=lambda b: b["tag"] is not None)


async def business_type(app, *, code: str) -> dict:
    catalog = await catalog_service.get(app)
    return catalog_service.business_type_read(catalog.business_type(code))


async def halls(app) -> list[dict]:
    catalog = await catalog_service.get(app)
    return [catalog_service.hall_read(h, catalog) for h in catalog.halls.values() if h.active]


async def booking_choice(app, *, business_type: str, hall: str | None = None) -> dict:
    """The business type (refused with the service's reason when it needs no booking) and the hall chosen."""
    catalog = await catalog_service.get(app)
    out = {"business_type": catalog_service.business_type_read(booking_service.check_business_type(
        catalog, business_type))}
    if hall is not None:
        out["hall"] = catalog_service.hall_read(availability.resolve_hall(catalog, hall), catalog)
    return out


def _closed_reason(catalog, hall_code: str, day: date) -> str:
    for kind in (DayKind.CLOSURE, DayKind.HOLIDAY):
        for entry in catalog.entries(day, kind):
            if entry.applies_to(hall_code) and entry.name:
                return entry.name
    return "不对外服务"


async def booking_days(app, *, hall: str) -> list[dict]:
    """Each day of the booking window for a hall: open with places left, full, closed, not yet released."""
    catalog, now = await booking_flows.context(app)
    info = availability.resolve_hall(catalog, hall)
    win = availability.window(catalog, now)
    out = []
    for n in range((win.last_day - win.today).days + 1):
        day = win.today + timedelta(days=n)
        data = await availability.slots(app.ctx, catalog=catalog, now=now, hall=info, day=day,
                                        channels=booking_flows.channels_for(None))
        left = sum(s["remaining"] for s in data["slots"] if s["bookable"])
        reasons = {s["reason"] for s in data["slots"]}
        if not data["open"]:
            state, note = "closed", _closed_reason(catalog, info.code, day)
        elif not data["released"]:
            state, note = "later", f"{data['release_time']} 放号"
        elif left:
            state, note = "open", f"余 {left} 个号"
        elif "FULL" in reasons:
            state, note = "full", "已约满"
        else:
            state, note = "over", "已过预约时间"
        out.append({"date": day.isoformat(), "label": f"{day.month}月{day.day}日", "weekday": weekday(day),
                    "today": day == win.today, "state": state, "note": note})
    return out


async def slots(app, *, hall: str, day: date) -> dict:
    """A hall-day's slots with places left, as the JSON API answers them."""
    return json.loads(await booking_flows.slots(app, principal=None, hall_ref=hall, day=day))


async def booking_rules(app) -> dict:
    """The rules a citizen reads before confirming or cancelling, worded from the center's settings."""
    catalog = await catalog_service.get(app)
    rules = catalog.rules
    hotline = ((catalog.settings.get("center") or {}).get("hotline") or {}).get("number", "")
    cutoff = booking_service._duration(rules.cancel_cutoff_minutes)
    return {"cancel": f"在线取消或改约须在预约时段开始 {cutoff}前办理；离开始不足 {cutoff}的，请致电热线 {hotline}。",
            "limits": f"同一身份证号同一天最多预约 {rules.per_id_per_day} 次，同时有效的预约最多 "
                      f"{rules.max_active} 个；{rules.no_show_window_days} 天内爽约 {rules.no_show_limit} 次"
                      f"将暂停预约资格 {rules.suspension_days} 天。",
            "window": f"可预约今天起 {rules.window_days} 天内的时段，最后一天的号源于每天 "
                      f"{rules.release_time:%H:%M} 放出。"}


async def me(app, *, citizen_id: int) -> dict:
    """The signed-in citizen, personal fields masked."""
    return identity_service.masked(app.ctx.cipher, await identity_service.get_or_raise(citizen_id=citizen_id))


async def openids(principal) -> list[str]:
    """Every openid of the signed-in person: a member may have joined in either app, and a session from the
    public account's web authorisation carries the public-account openid, one from the mini-program the other."""
    return [*await identity_service.openids_of(citizen_id=principal.id), principal.openid or ""]


def qr_svg(payload: str) -> Markup:
    """The booking's QR code as inline SVG (a full QR code: hall scanners do not all read Micro QR)."""
    code = segno.make(payload, error="m", micro=False)
    return Markup(code.svg_inline(scale=6, border=3, dark="#000", light="#fff", title="预约码二维码", omitsize=True))


async def guide(app) -> dict[str, list]:
    """The bot's knowledge base by category, in the file's order."""
    await bot_service.ensure_fresh(app=app)
    out: dict[str, list] = {}
    for entry in app.ctx.bot.entries:
        out.setdefault(entry.category, []).append({"id": entry.id, "question": entry.question,
                                                   "answer": entry.answer})
    return out


def chat_user(principal, csrf: str) -> str:
    """Who the bot keeps a dialog for: the citizen's openid, or this browser (its CSRF cookie, hashed)."""
    if principal is not None and principal.openid:
        return principal.openid
    return "h5:" + hashlib.sha256(csrf.encode()).hexdigest()[:24]


async def ask(app, *, user_id: str, question: str) -> dict:
    """Ask the bot as the public account's chat does; suggestions come back as knowledge-base entries."""
    reply = await bot_flows.chat(app=app, user_id=user_id, text=question, channel="oa")
    entries = {e.id: e for e in app.ctx.bot.entries}
    return {"kind": reply.kind, "text": reply.text,
            "entry": entries.get(reply.entry_id) if reply.kind == "answer" else None,
            "suggestions": [entries[c[0]] for c in reply.candidates if c[0] in entries]}

