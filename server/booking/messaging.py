"""WeChat messages for bookings: the day-before reminder, the review result and the center's cancellation.

Template ids and field layouts are the center's configuration (config/data/wechat_templates.yaml).
Each goes as a mini-program subscribe message; to a person the mini-program cannot reach (no mini-program openid,
or no consent: 43101) as a public-account template message to their public-account openid instead, which WeChat
delivers to followers only (43004 otherwise) — server/wechat/reach.py. Every send runs wechatpy in a thread pool,
never on the event loop.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import yaml

from models import Booking, BookingStatus
from server.catalog.service import Catalog
from server.wechat import reach
from server.wechat.fields import fit

log = logging.getLogger("dengji.booking.messaging")

TEMPLATES_FILE = "wechat_templates.yaml"


@lru_cache(maxsize=4)
def templates(seed_dir: Path) -> dict:
    """Load the subscribe-message templates of the center."""
    return yaml.safe_load((Path(seed_dir) / TEMPLATES_FILE).read_text(encoding="utf-8")) or {}


def render(spec: dict, values: dict) -> tuple[dict, str | None]:
    """Fill a template's fields and page from the values."""
    data = {key: {"value": fit(key, str(fmt).format(**values))} for key, fmt in spec["data"].items()}
    page = spec.get("page")
    return data, page.format(**values) if page else None


def _values(catalog: Catalog, booking: Booking) -> dict:
    hall = catalog.halls.get(booking.hall_code)
    bt = catalog.business_types.get(booking.business_type)
    return {
        "id": booking.id, "code": booking.code, "hall": hall.name if hall else booking.hall_code,
        "business": bt.short_name if bt else booking.business_type,
        "time": f"{booking.date:%Y年%m月%d日} {booking.start}",
        "hall_code": booking.hall_code, "business_type": booking.business_type,
        "date": booking.date.isoformat(), "cancel_reason": booking.cancel_reason or "中心临时调整服务安排",
        "result": "已确认" if booking.status == BookingStatus.CONFIRMED else "未通过",
        "reason": booking.review_reason or ("请按时到厅办理" if booking.status == BookingStatus.CONFIRMED
                                            else "请改约其他时段"),
    }


async def recipients(booking: Booking) -> tuple[str | None, str | None]:
    """(mini-program openid, public-account openid) of whoever holds the booking's ID number now (verified binding).

    Not simply the account that booked: an unverified account whose ID number was taken back by its owner
    must not hear about the owner's bookings.
    """
    from models import Citizen

    row = await Citizen.get_or_none(id_hash=booking.id_hash).values("openid", "oa_openid")
    return (row["openid"], row["oa_openid"]) if row else (None, None)


# The public-account template message that stands in for a mini-program subscribe message of the same kind.
OA_KINDS = {"booking_reminder": "oa_booking_reminder", "booking_review": "oa_booking_review",
            "booking_center_cancelled": "oa_booking_center_cancelled"}


async def reminder_channel(app, citizen) -> str | None:
    """How the day-before reminder can reach a person: "mp" (mini-program subscribe message), "oa" (public-account
    template message: followers only) or None (neither: the pages say so instead of offering it)."""
    from server.wechat import service as followers

    if citizen.openid:
        return "mp"
    if citizen.oa_openid and await followers.follows(app, openid=citizen.oa_openid) is not False:
        return "oa"  # a follower (or WeChat could not say: the send will tell)
    return None


async def deliver(ctx: dict, *, catalog: Catalog, booking: Booking, kind: str) -> bool:
    """Send a booking message by the channel that reaches its holder (server/wechat/reach.py): the mini-program's
    subscribe message, else (no mini-program openid, or 43101 no consent) the public account's template message
    where the center configured one. False when nobody could be reached; raises when worth retrying."""
    mp_openid, oa_openid = await recipients(booking)
    specs = templates(ctx["settings"].seed_dir)
    values = _values(catalog, booking)
    data, page = render(specs[kind], values)
    oa_kind = OA_KINDS.get(kind)
    template = None
    if oa_kind in specs:
        oa_spec = specs[oa_kind]
        oa_data, _ = render({**oa_spec, "page": None}, values)
        template = reach.Template(oa_spec["template_id"], oa_data, client_msg_id=f"{oa_kind}-{booking.id}",
                                  path=oa_spec["url"].format(**values) if oa_spec.get("url") else None)
    reached = await reach.send_to_person(ctx, mp_openid=mp_openid, oa_openid=oa_openid,
                                         subscribe=reach.Subscribe(specs[kind]["template_id"], data, page),
                                         template=template, label=kind)
    if reached.channel is None:
        log.info("booking message reached nobody", extra={"fields": {"kind": kind, "booking": booking.id,
                                                                     "errcode": reached.errcode}})
    return reached.channel is not None
