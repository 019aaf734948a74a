"""The hall queue: tickets issued at check-in, called to windows, recalled, skipped and finished.

Every call is published on the hall's Redis channel so call screens served by any worker show it at once
(`server/console/screen.py` streams the channel as server-sent events).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime

from tortoise.functions import Count

from models import QueueTicket, TicketStatus
from server.core.errors import Conflict, NotFound, Unprocessable

BOARD_SIZE = 6  # calls a screen shows: the latest large, the ones before it smaller


def channel(keys, hall_code: str) -> str:
    return keys("queue", "calls", hall_code)


def label(number: int) -> str:
    return f"{number:03d}"


async def issue(conn, *, hall_code: str, day: date, number: int, business_type: str, now: datetime,
                booking_id: int | None = None, walk_in_id: int | None = None) -> QueueTicket:
    """Create the ticket for a number just handed out, inside the caller's transaction."""
    return await QueueTicket.create(using_db=conn, hall_code=hall_code, date=day, number=number,
                                    business_type=business_type, booking_id=booking_id, walk_in_id=walk_in_id,
                                    issued_at=now)


def _window(window: str) -> str:
    # Full-width digits typed with a Chinese IME ("３") name the same window as "3".
    window = unicodedata.normalize("NFKC", window or "").strip()
    if not window or len(window) > 16:
        raise Unprocessable("请填写窗口号（不超过16个字符）", code="WINDOW_REQUIRED")
    return window


async def get_or_raise(*, hall_code: str, ticket_id: int) -> QueueTicket:
    ticket = await QueueTicket.get_or_none(id=ticket_id, hall_code=hall_code)
    if ticket is None:
        raise NotFound("排队号不存在", code="TICKET_NOT_FOUND")
    return ticket


async def _publish(ctx, ticket: QueueTicket) -> None:
    await ctx.redis.publish(channel(ctx.keys, ticket.hall_code), json.dumps(read(ticket), ensure_ascii=False))


async def call_next(*, ctx, hall_code: str, day: date, window: str, now: datetime,
                    business_type: str | None = None) -> QueueTicket:
    """Call the lowest waiting number (of one business type if given) to a window.

    The window's current ticket is finished first: a window serves one visitor at a time. The waiting ticket
    is claimed by a conditional UPDATE, so two windows clicking at once never get the same number.
    """
    window = _window(window)
    await QueueTicket.filter(hall_code=hall_code, date=day, window=window, status=TicketStatus.CALLED).update(
        status=TicketStatus.DONE, done_at=now)
    for _ in range(20):
        qs = QueueTicket.filter(hall_code=hall_code, date=day, status=TicketStatus.WAITING)
        if business_type:
            qs = qs.filter(business_type=business_type)
        ticket = await qs.order_by("number").first()
        if ticket is None:
            raise Conflict("当前没有等候的号码", code="QUEUE_EMPTY")
        claimed = await QueueTicket.filter(id=ticket.id, status=TicketStatus.WAITING).update(
            status=TicketStatus.CALLED, window=window, called_at=now, calls=1)
        if claimed:
            await ticket.refresh_from_db()
            await _publish(ctx, ticket)
            return ticket
    raise Conflict("叫号繁忙，请重试", code="QUEUE_BUSY")


async def recall(*, ctx, ticket: QueueTicket) -> QueueTicket:
    """Call the same number again (重呼)."""
    if ticket.status != TicketStatus.CALLED:
        raise Conflict("该号码不在叫号中，不能重呼", code="TICKET_NOT_CALLED")
    await QueueTicket.filter(id=ticket.id).update(calls=ticket.calls + 1)
    await ticket.refresh_from_db()
    await _publish(ctx, ticket)
    return ticket


async def finish(*, ticket: QueueTicket, now: datetime, skipped: bool = False) -> QueueTicket:
    """Mark a called number done, or skipped when the visitor did not come (过号)."""
    status = TicketStatus.SKIPPED if skipped else TicketStatus.DONE
    changed = await QueueTicket.filter(id=ticket.id, status=TicketStatus.CALLED).update(status=status, done_at=now)
    if not changed:
        raise Conflict("该号码不在叫号中", code="TICKET_NOT_CALLED")
    await ticket.refresh_from_db()
    return ticket


async def waiting_counts(*, hall_code: str, day: date) -> dict[str, int]:
    """How many are waiting per business type."""
    rows = await (QueueTicket.filter(hall_code=hall_code, date=day, status=TicketStatus.WAITING)
                  .annotate(n=Count("id")).group_by("business_type").values_list("business_type", "n"))
    return {bt: n for bt, n in rows}


async def get_all(*, hall_code: str, day: date, status: TicketStatus | None = None,
                  limit: int = 200) -> list[QueueTicket]:
    qs = QueueTicket.filter(hall_code=hall_code, date=day)
    if status:
        qs = qs.filter(status=status)
    return await qs.order_by("number").limit(limit)


async def board(*, hall_code: str, day: date) -> list[QueueTicket]:
    """The latest calls of the day, newest first (what a call screen shows when it opens)."""
    return await (QueueTicket.filter(hall_code=hall_code, date=day, called_at__not_isnull=True)
                  .order_by("-called_at", "-id").limit(BOARD_SIZE))


async def at_window(*, hall_code: str, day: date, window: str) -> QueueTicket | None:
    """The number a window is serving now, if any."""
    window = unicodedata.normalize("NFKC", window or "").strip()
    return await QueueTicket.filter(hall_code=hall_code, date=day, window=window,
                                    status=TicketStatus.CALLED).first()


def average_minutes(tickets: list[QueueTicket]) -> dict[str, float | None]:
    """Average wait (issued → called) and service (called → done) in minutes."""
    waits = [(t.called_at - t.issued_at).total_seconds() for t in tickets if t.called_at]
    serves = [(t.done_at - t.called_at).total_seconds() for t in tickets
              if t.called_at and t.done_at and t.status == TicketStatus.DONE]
    return {"wait": round(sum(waits) / len(waits) / 60, 1) if waits else None,
            "service": round(sum(serves) / len(serves) / 60, 1) if serves else None}


def read(ticket: QueueTicket) -> dict:
    return {"id": ticket.id, "hall": ticket.hall_code, "date": ticket.date.isoformat(),
            "number": label(ticket.number), "business_type": ticket.business_type,
            "status": TicketStatus(ticket.status).value, "window": ticket.window, "calls": ticket.calls,
            "called_at": ticket.called_at.isoformat() if ticket.called_at else None}
