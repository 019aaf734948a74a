"""WeChat messages for bookings: the day-before reminder and the review result.

Template ids and field layouts are the center's configuration (config/data/wechat_templates.yaml).
Mini-program subscribe messages go through the mini-program gateway; the reminder of a person the mini-program
cannot reach (no mini-program openid, or no consent: 43101) goes as a public-account template message to their
public-account openid instead, which WeChat delivers to followers only (43004 otherwise). Every send runs wechatpy
in a thread pool, never on the event loop.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import yaml
from wechatpy.exceptions import WeChatClientException

from models import Booking, BookingStatus
from server.catalog.service import Catalog
from server.core import metrics
from server.wechat.client import is_transient
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


async def recipient(booking: Booking) -> str | None:
    """The mini-program openid of whoever holds the booking's ID number now (verified binding), if any.

    Not simply the account that booked: an unverified account whose ID number was taken back by its owner
    must not hear about the owner's bookings.
    """
    return (await recipients(booking))[0]


async def recipients(booking: Booking) -> tuple[str | None, str | None]:
    """(mini-program openid, public-account openid) of whoever holds the booking's ID number now."""
    from models import Citizen

    row = await Citizen.get_or_none(id_hash=booking.id_hash).values("openid", "oa_openid")
    return (row["openid"], row["oa_openid"]) if row else (None, None)


# The public-account template message that stands in for a mini-program subscribe message of the same kind.
OA_KINDS = {"booking_reminder": "oa_booking_reminder"}


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
    """Send a booking message by the channel that reaches its holder: the mini-program's subscribe message,
    else (no mini-program openid, or 43101 no consent) the public account's template message where the center
    configured one. False when nobody could be reached; raises when worth retrying."""
    mp_openid, oa_openid = await recipients(booking)
    if await send(ctx, catalog=catalog, booking=booking, kind=kind, openid=mp_openid):
        return True
    oa_kind = OA_KINDS.get(kind)
    if not oa_openid or oa_kind not in templates(ctx["settings"].seed_dir):
        return False
    return await send_template(ctx, catalog=catalog, booking=booking, kind=oa_kind, openid=oa_openid)


async def send_template(ctx: dict, *, catalog: Catalog, booking: Booking, kind: str, openid: str) -> bool:
    """Send one public-account template message; False when WeChat refused it for good, raises when worth
    retrying. The booking's client_msg_id lets WeChat drop a resend after a lost answer."""
    settings = ctx["settings"]
    spec = templates(settings.seed_dir)[kind]
    data, _ = render({**spec, "page": None}, _values(catalog, booking))
    url = None
    if spec.get("url") and settings.public_base_url:  # a page of ours: absolute on the public root
        url = settings.public_base_url.rstrip("/") + spec["url"].format(**_values(catalog, booking))
    body = {"touser": openid, "template_id": spec["template_id"], "data": data,
            "client_msg_id": f"{kind}-{booking.id}"} | ({"url": url} if url else {})
    try:
        # wechatpy's send_template has no client_msg_id: the same body posted directly (as notices do).
        await ctx["wechat"].call(lambda c: c.post("message/template/send", data=body), api="template")
    except WeChatClientException as exc:
        if is_transient(exc):
            raise
        if exc.errcode == 43004:  # not (or no longer) a follower: recorded, and the pages stop offering it
            from server.wechat import service as followers

            await followers.not_following(openid=openid)
        metrics.WECHAT_UNREACHABLE.labels("template", str(exc.errcode)).inc()
        log.info("template message refused", extra={"fields": {"kind": kind, "booking": booking.id,
                                                               "errcode": exc.errcode}})
        return False
    return True


async def send(ctx: dict, *, catalog: Catalog, booking: Booking, kind: str, openid: str | None) -> bool:
    """Send one subscribe message; False when WeChat refused it for good, raises when worth retrying."""
    if not openid:
        return False  # nobody verified holds the ID number in the mini-program: no subscribe message to send
    spec = templates(ctx["settings"].seed_dir)[kind]
    data, page = render(spec, _values(catalog, booking))
    template_id = spec["template_id"]
    try:
        await ctx["mp"].call(lambda c: c.wxa.send_subscribe_message(openid, template_id, data, page),
                             api="subscribe")
    except WeChatClientException as exc:
        if is_transient(exc):
            raise
        # 43101: the user did not (or no longer) accept this template; nothing to retry.
        log.info("subscribe message refused", extra={"fields": {"kind": kind, "booking": booking.id,
                                                                "errcode": exc.errcode}})
        return False
    return True
