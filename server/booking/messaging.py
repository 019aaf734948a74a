"""WeChat subscribe messages for bookings: the day-before reminder and the review result.

Template ids and field layouts are the center's configuration (config/data/wechat_templates.yaml).
Sends go through the mini-program gateway (wechatpy in a thread pool, never on the event loop).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import yaml
from wechatpy.exceptions import WeChatClientException

from models import Booking, BookingStatus
from server.catalog.service import Catalog
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
    from models import Citizen

    row = await Citizen.get_or_none(id_hash=booking.id_hash).values("openid")
    return row["openid"] if row else None


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
