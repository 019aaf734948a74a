"""Steps that cross domains: hall edits that move slot counters, and check-in by scanning a hall's QR code."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from models import Booking, BookingChannel, BookingStatus, Citizen, SlotCounter
from server.booking import availability, clock, messaging, service
from server.catalog import editing
from server.catalog import service as catalog_service
from server.catalog.service import Catalog
from server.core.errors import AppError, Conflict

SCENE_PREFIX = "hall:"  # a hall's check-in QR scene: "hall:<hall code>:<window>:<signature>" (checkin_qr.py)


async def context(app) -> tuple[Catalog, datetime]:
    """Return the catalog snapshot and the current time in the center's time zone."""
    catalog = await catalog_service.get(app)
    return catalog, clock.of(app.ctx).now(catalog.tz)


async def update_hall(app, *, code: str, changes: dict) -> dict:
    """Change a hall's booking settings; future slots follow new quotas unless staff set them one by one."""
    await editing.update_hall(app, code=code, **changes)
    catalog, now = await context(app)
    hall = catalog.halls[code]
    today = now.date()
    if changes.get("quota_per_slot") is not None or changes.get("hotline_quota") is not None:
        split = ((BookingChannel.ONLINE, hall.online_quota), (BookingChannel.HOTLINE, hall.hotline_quota))
        for channel, quota in split:
            await SlotCounter.filter(hall_code=code, date__gte=today, overridden=False, channel=channel).update(
                quota=quota)
    days = set(await SlotCounter.filter(hall_code=code, date__gte=today).distinct().values_list("date", flat=True))
    days |= {today + timedelta(days=n) for n in range(catalog.rules.window_days)}
    for day in days:
        await availability.invalidate(app.ctx, code, day)
    return catalog_service.hall_read(hall, catalog) | {
        "cancel_release_delay_minutes": hall.cancel_release_delay_minutes}


async def set_slot_quota(app, *, hall_code: str, day: date, start: str, quota: int, hotline_quota: int) -> dict:
    """Raise or lower one slot's places (加号); existing bookings always stay."""
    catalog, now = await context(app)
    hall = catalog.hall(hall_code)
    start_time = availability.parse_start(start)
    if start_time not in catalog.slot_starts(hall.code, day):
        raise AppError("该日期没有这个时段", code="SLOT_NOT_FOUND", status=422)
    if day < now.date():
        raise AppError("不能修改已经过去的日期", code="DATE_PASSED", status=422)
    label = start_time.strftime("%H:%M")
    out = {"hall": hall.code, "date": day.isoformat(), "start": label}
    for channel, value in ((BookingChannel.ONLINE, quota - hotline_quota), (BookingChannel.HOTLINE, hotline_quota)):
        counter = await availability.ensure_counter(hall=hall, day=day, start=label, channel=channel)
        await SlotCounter.filter(id=counter.id).update(quota=value, overridden=True)
        await counter.refresh_from_db()
        out[channel.value] = {"quota": counter.quota, "booked": counter.booked,
                              "remaining": max(0, counter.quota - counter.booked)}
    await availability.invalidate(app.ctx, hall.code, day)
    return out


def parse_scene(scene: str) -> str | None:
    """Return the hall code of a check-in QR scene ("hall:<code>:<window>:<signature>", maybe "qrscene_"-prefixed)."""
    scene = (scene or "").strip().removeprefix("qrscene_")
    if not scene.startswith(SCENE_PREFIX):
        return None
    return scene[len(SCENE_PREFIX):].split(":")[0] or None


async def check_in_by_scan(*, app, openid: str, scene: str) -> str:
    """Check a citizen in after they scanned a hall's QR code; return the Chinese reply to show them.

    ``openid`` is the public account's: the person behind it (linked by unionid to their mini-program
    binding) must have a verified real-name binding.
    """
    from server.booking import checkin_qr
    from server.identity import service as identity

    catalog, now = await context(app)
    scan = checkin_qr.read_scene(app.ctx.cipher, scene, now)
    hall = catalog.halls.get(scan.hall_code or "")
    if hall is None or not hall.active or scan.state == "unknown":
        return "无法识别该二维码，请扫描大厅屏幕上显示的签到二维码。"
    if scan.state == "stale":
        return f"该签到二维码已停用，请扫描{hall.name}屏幕上实时显示的签到二维码。"
    if scan.state == "expired":
        return f"该签到二维码已过期（大厅屏幕上的二维码每 5 分钟更新），请重新扫描{hall.name}屏幕上的最新二维码。"
    citizen = await identity.citizen_for_openid(app, openid=openid)
    mini_program = (catalog.settings.get("center") or {}).get("mini_program", "小程序")
    if citizen is None or not citizen.id_hash:
        return (f"未找到您已验证的实名信息，请先在“{mini_program}”完成实名认证（人脸核身）并预约；"
                "如需帮助请到窗口咨询。")
    bookings = await (Booking.filter(id_hash=citizen.id_hash, hall_code=hall.code, date=now.date())
                      .order_by("slot_at"))
    usable = [b for b in bookings if b.status in (*service.ACTIVE, BookingStatus.CHECKED_IN)]
    if not usable:
        return f"您今天在{hall.name}没有有效的预约，请到窗口咨询或在“{mini_program}”预约。"
    booking = usable[0]
    try:
        booking, already = await service.check_in(catalog=catalog, now=now, booking=booking)
    except AppError as exc:
        return f"签到未成功：{exc.message}"
    queue = f"{booking.queue_no:03d}"
    if already:
        return f"您已签到，排队号 {queue}（{hall.name}，{booking.start}–{booking.end}），请留意叫号。"
    return f"签到成功！您的排队号是 {queue}（{hall.name}，{booking.start}–{booking.end}），请留意叫号。"


# --------------------------------------------------------------------------- request-level steps

PII_FIELDS = ("name", "id_number", "mobile", "agent_credit_code")


def channels_for(principal) -> tuple[BookingChannel, ...]:
    """Citizens and anonymous callers see online places; staff see hotline places first, then online."""
    if principal is not None and principal.kind == "staff":
        return (BookingChannel.HOTLINE, BookingChannel.ONLINE)
    return (BookingChannel.ONLINE,)


async def slots(app, *, principal, hall_ref: str, day: date) -> bytes:
    """Return a hall-day's slots with the remaining places of the caller's channel, as JSON bytes."""
    catalog, now = await context(app)
    hall = availability.resolve_hall(catalog, hall_ref)
    return await availability.slots_json(app.ctx, catalog=catalog, now=now, hall=hall, day=day,
                                         channels=channels_for(principal))


def _choice(body) -> service.SlotChoice:
    return service.SlotChoice(hall_ref=body.hall, business_type=body.business_type, day=body.date,
                              start=body.start, agent_credit_code=body.agent_credit_code,
                              subscribe=bool(body.subscribe))


def _idem(owner: str, key: str | None, body) -> tuple[str, str, str] | None:
    if not key:
        return None
    key = key.strip()
    if len(key) > 128:
        raise AppError("Idempotency-Key 过长（最多 128 个字符）", code="IDEMPOTENCY_KEY_INVALID", status=400)
    return owner, key, service.request_hash(body.model_dump(mode="json"))


async def book_online(app, *, citizen_id: int, body, idempotency_key: str | None) -> tuple[dict, bool]:
    """Book for a real-name bound citizen through the mini-program."""
    catalog, now = await context(app)
    booking, created = await service.create(
        ctx=app.ctx, cipher=app.ctx.cipher, catalog=catalog, now=now, applicant=service.CitizenRef(citizen_id),
        choice=_choice(body), channel=BookingChannel.ONLINE, idem=_idem(f"c:{citizen_id}", idempotency_key, body))
    return service.read(app.ctx.cipher, catalog, booking, with_hint=True), created


def require_hotline_open(catalog, now) -> None:
    """Refuse acting on a caller's behalf outside the hotline's hours: nobody answers the line then, so such a
    booking cannot come from a call (center.yaml hotline.start/end, working days only; the bot's hand-over
    to a person uses the same hours)."""
    if not catalog.hotline_open(now):
        hotline = (catalog.settings.get("center") or {}).get("hotline") or {}
        start, end = catalog.hotline_hours()
        hours = hotline.get("hours_text") or f"工作日 {start:%H:%M}–{end:%H:%M}"
        raise AppError(f"现在不在热线服务时间（{hours}），不能办理电话预约或取消", code="HOTLINE_CLOSED",
                       status=409, details={"hours": hours})


async def book_by_hotline(app, *, staff_id: int, body, idempotency_key: str | None) -> tuple[Booking, bool]:
    """Book on a caller's behalf (热线电话预约) from the hotline share of the slot, during hotline hours."""
    catalog, now = await context(app)
    require_hotline_open(catalog, now)
    applicant = await service.applicant_from_caller(cipher=app.ctx.cipher, name=body.name, id_number=body.id_number,
                                                    mobile=body.mobile)
    payload = body.model_copy(update={"name": "", "id_number": applicant.id_hash, "mobile": ""})
    return await service.create(
        ctx=app.ctx, cipher=app.ctx.cipher, catalog=catalog, now=now, applicant=applicant, choice=_choice(body),
        channel=BookingChannel.HOTLINE, staff_id=staff_id, idem=_idem(f"s:{staff_id}", idempotency_key, payload))


async def my_bookings(app, *, citizen_id: int) -> list[dict]:
    catalog, _ = await context(app)
    citizen = await Citizen.get(id=citizen_id)
    return [service.read(app.ctx.cipher, catalog, b) for b in await service.get_all_owned(citizen=citizen)]


async def my_booking(app, *, citizen_id: int, booking_id: int) -> dict:
    catalog, _ = await context(app)
    citizen = await Citizen.get(id=citizen_id)
    booking = await service.get_owned(booking_id=booking_id, citizen=citizen)
    return service.read(app.ctx.cipher, catalog, booking)


async def cancel_mine(app, *, citizen_id: int, booking_id: int) -> dict:
    """Cancel one of the caller's bookings."""
    catalog, now = await context(app)
    booking = await service.get_owned(booking_id=booking_id, citizen=await Citizen.get(id=citizen_id))
    booking = await service.cancel(ctx=app.ctx, catalog=catalog, now=now, booking=booking)
    return service.read(app.ctx.cipher, catalog, booking)


async def reschedule_mine(app, *, citizen_id: int, booking_id: int, body) -> dict:
    """Move one of the caller's bookings (cancel + book, atomically)."""
    catalog, now = await context(app)
    old = await service.get_owned(booking_id=booking_id, citizen=await Citizen.get(id=citizen_id))
    choice = service.SlotChoice(
        hall_ref=body.hall or old.hall_code, business_type=body.business_type or old.business_type, day=body.date,
        start=body.start, agent_credit_code=body.agent_credit_code,
        subscribe=old.subscribe if body.subscribe is None else body.subscribe)
    new = await service.reschedule(ctx=app.ctx, cipher=app.ctx.cipher, catalog=catalog, now=now, booking=old,
                                   choice=choice)
    return service.read(app.ctx.cipher, catalog, new, with_hint=True) | {"replaces": old.id}


async def remind_mine(app, *, citizen_id: int, booking_id: int, subscribe: bool) -> dict:
    """Subscribe one of the caller's bookings to the day-before reminder (or stop it)."""
    catalog, _ = await context(app)
    citizen = await Citizen.get(id=citizen_id)
    booking = await service.get_owned(booking_id=booking_id, citizen=citizen)
    if subscribe and booking.status in service.ACTIVE and await messaging.reminder_channel(app, citizen) is None:
        # Only the public account knows this person and they do not follow it: WeChat would refuse (43004).
        raise Conflict("您未关注本公众号，微信无法向您发送提醒；关注公众号后即可订阅到厅提醒",
                       code="REMINDER_UNREACHABLE")
    booking = await service.set_reminder(booking=booking, subscribe=subscribe)
    return service.read(app.ctx.cipher, catalog, booking)
