"""`dengji db seed --demo` (development only): a few hundred sample cases across stages and three weeks of
bookings, check-ins, no-shows and walk-ins, so progress lookup and the figures show something in `make run`.

Every sample person has a valid-looking but made-up ID number; re-running adds nothing twice (receipt numbers
and booking codes are fixed by a seed)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from models import Booking, BookingStatus, Case, CaseApplicant, CaseStageEntry, WalkIn
from server.catalog import service as catalog_service
from server.core.crypto import PiiCipher
from server.identity.service import id_hash

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
STAGE_PATHS = (("accepted",), ("accepted", "reviewing"), ("accepted", "correction_required"),
               ("accepted", "reviewing", "registered"), ("accepted", "reviewing", "registered", "certificate"),
               ("accepted", "reviewing", "registered", "ready"),
               ("accepted", "reviewing", "registered", "e_certificate"),
               ("accepted", "reviewing", "registered", "mailed"))
CHANNELS = ("online_self", "online_agent", "online_agent", "online_agent", "hall", "hall")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "建华")


def _id_number(rng: random.Random) -> str:
    body = (f"3201{rng.randint(1, 16):02d}19{rng.randint(50, 99)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}")
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


async def seed(settings, *, cases: int = 300, days: int = 21) -> str:
    """Add the sample cases and bookings (development only: refuses production settings)."""
    if settings.env == "production":
        raise RuntimeError("demo data is for development only")
    catalog = await catalog_service.load()
    cipher = PiiCipher(settings.master_key)
    rng = random.Random(20260601)
    now = datetime.now(catalog.tz)
    halls = [h.code for h in catalog.halls.values() if h.active]
    types = [b.code for b in catalog.business_types.values() if b.active]
    made_cases = 0
    for n in range(cases):
        accepted = now - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 6))
        receipt = f"DEMO-{n:06d}"  # fixed, so running the demo seed again adds nothing twice
        if await Case.exists(receipt_no=receipt):
            continue
        path = STAGE_PATHS[n % len(STAGE_PATHS)]
        bt = types[n % len(types)]
        stage_at = accepted + timedelta(hours=len(path))
        e_cert = path[-1] == "e_certificate"
        case = await Case.create(
            receipt_no=receipt, business_type=bt, hall=halls[n % len(halls)], stage=path[-1], stage_at=stage_at,
            accepted_at=accepted, channel=rng.choice(CHANNELS),
            promised_date=catalog.add_working_days(accepted.date(), catalog.business_types[bt].time_limit_days
                                                   + catalog.business_types[bt].public_notice_days),
            missing_materials=["不动产权证书原件"] if path[-1] == "correction_required" else [],
            correction_since=stage_at if path[-1] == "correction_required" else None,
            finished_at=stage_at if path[-1] in ("ready", "e_certificate", "mailed") else None,
            e_cert_no=f"DZZZ{accepted:%Y}{n:08d}" if e_cert else None,
            e_cert_url=f"https://example.invalid/ecert/DZZZ{accepted:%Y}{n:08d}" if e_cert else None)
        number = _id_number(rng)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        await CaseApplicant.create(case=case, id_hash=id_hash(cipher, number),
                                   id_last6_hash=cipher.digest(number[-6:], purpose="id6"),
                                   name_enc=cipher.encrypt(name))
        for i, stage in enumerate(path):
            await CaseStageEntry.create(case=case, event_id=f"demo-{receipt}-{i}", stage=stage,
                                        occurred_at=accepted + timedelta(hours=i + 1), seq=i)
        made_cases += 1
    made_bookings = made_walkins = 0
    for back in range(days, 0, -1):
        day = now.date() - timedelta(days=back)
        for hall in halls:
            slots = catalog.slot_starts(hall, day)
            for start in slots:
                rng = random.Random(f"{day}-{hall}-{start}")  # the same slot gets the same sample every run
                for k in range(rng.randint(0, 4)):
                    code = f"D{day:%m%d}{hall[:2].upper()}{start:%H%M}{k}"[:16]
                    if await Booking.exists(code=code):
                        continue
                    status = rng.choices([BookingStatus.CHECKED_IN, BookingStatus.NO_SHOW, BookingStatus.CANCELLED],
                                         weights=[80, 8, 12])[0]
                    number = _id_number(rng)
                    begin = datetime.combine(day, start, tzinfo=catalog.tz)
                    end = begin + timedelta(minutes=catalog.rules.slot_minutes)
                    await Booking.create(
                        code=code, id_hash=id_hash(cipher, number),
                        name_enc=cipher.encrypt(rng.choice(SURNAMES) + "某"), id_number_enc=cipher.encrypt(number),
                        mobile_enc=cipher.encrypt(f"139{rng.randint(0, 10**8 - 1):08d}"),
                        hall_code=hall, business_type=rng.choice([t for t in types
                                                                  if catalog.business_types[t].booking == "required"]),
                        date=day, start=start.strftime("%H:%M"), end=end.strftime("%H:%M"), slot_at=begin,
                        slot_end_at=end, channel="online", status=status, counter_id=0,
                        checked_in_at=begin - timedelta(minutes=rng.randint(0, 20)) if status == "checked_in" else None,
                        cancelled_at=begin - timedelta(days=1) if status == "cancelled" else None,
                        no_show_at=end if status == "no_show" else None)
                    made_bookings += 1
            if slots and not await WalkIn.filter(hall_code=hall, date=day, queue_no__gte=900).exists():
                for q in range(rng.randint(1, 6)):
                    await WalkIn.create(hall_code=hall, date=day, business_type="seizure", channel_code="seizure",
                                        queue_no=900 + q, staff_id=0)
                    made_walkins += 1
    return f"示例数据：新增办件 {made_cases} 件、预约 {made_bookings} 条、免预约 {made_walkins} 人次（仅开发环境）"
