"""Every time window of the booking rules pinned on both sides of its boundary.

Expected values come from the guide (/work/shared/policy/guide.md §2), not from config/data/booking_rules.yaml:
取消 "时段开始前 2 小时可在线取消"; 放号 "每天 8:00 放出第 7 天的号源";
可预约范围 "当天起 7 天内（含当天）… 当天的时段须在开始前 1 小时预约"; 爽约 "90 天内爽约 3 次的，暂停预约资格 30 天".
"""

from datetime import datetime, timedelta

from models import Booking
from server.booking import scheduled
from tests.booking.conftest import TZ, at, book, citizen, error_code
from tests.factories import staff_headers

GUIDE_CANCEL_CUTOFF = timedelta(hours=2)
GUIDE_NO_SHOW_WINDOW = timedelta(days=90)
GUIDE_SUSPENSION = timedelta(days=30)


async def _cancel(client, headers, booking_id):
    return await client.post(f"/api/bookings/{booking_id}/cancel", headers=headers)


async def test_cancel_cut_off_is_exactly_two_hours_before_the_slot(client, clock):
    on_time, _ = await citizen(client)
    late, _ = await citizen(client)
    a = (await book(client, on_time, date="2026-11-24", start="10:00")).json()
    b = (await book(client, late, date="2026-11-24", start="10:00")).json()
    slot = at(24, 10, 0)
    clock.set(slot - GUIDE_CANCEL_CUTOFF)  # 08:00:00: exactly two hours before may still cancel
    res = await _cancel(client, on_time, a["id"])
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    clock.set(slot - GUIDE_CANCEL_CUTOFF + timedelta(seconds=1))  # 08:00:01: too late
    res = await _cancel(client, late, b["id"])
    assert res.status_code == 422 and error_code(res) == "CANCEL_TOO_LATE"
    assert "2 小时" in res.json()["error"]["message"]  # the citizen is told the rule
    res = await _cancel(client, on_time, a["id"])  # a retry after the cut-off answers the cancelled booking (issue 11)
    assert res.status_code == 200 and res.json()["status"] == "cancelled" and res.json()["id"] == a["id"]


async def test_reschedule_follows_the_same_cut_off(client, clock):
    headers, _ = await citizen(client)
    first = (await book(client, headers, date="2026-11-24", start="10:00")).json()
    clock.set(at(24, 8, 0) + timedelta(seconds=1))
    res = await client.post(f"/api/bookings/{first['id']}/reschedule", headers=headers,
                            json={"date": "2026-11-25", "start": "09:00"})
    assert res.status_code == 422 and error_code(res) == "CANCEL_TOO_LATE"
    clock.set(at(24, 8, 0))
    res = await client.post(f"/api/bookings/{first['id']}/reschedule", headers=headers,
                            json={"date": "2026-11-25", "start": "09:00"})
    assert res.status_code in (200, 201), res.text


async def test_release_time_to_the_minute(client, clock):
    headers, _ = await citizen(client)
    clock.set(at(23, 7, 59))  # before Monday's release the 6th day (Saturday 28th, center on duty) is open
    assert (await book(client, headers, date="2026-11-28", start="09:00")).status_code == 201
    clock.set(at(24, 7, 59))  # Tuesday: the 7th day (Monday 30th) is released at 08:00, not a minute earlier
    res = await book(client, headers, date="2026-11-30")
    assert res.status_code == 422 and error_code(res) == "NOT_RELEASED"
    assert "8:00" in res.json()["error"]["message"] and "第 7 天" in res.json()["error"]["message"]
    clock.set(at(24, 8, 0))
    assert (await book(client, headers, date="2026-11-30")).status_code == 201


async def test_booking_window_last_day_and_the_day_after(client, clock):
    headers, _ = await citizen(client)
    clock.set(at(24, 9, 0))  # window: Tuesday 24th to Monday 30th, "当天起 7 天内（含当天）"
    assert (await book(client, headers, date="2026-11-30")).status_code == 201
    res = await book(client, headers, date="2026-12-01")
    assert res.status_code == 422 and error_code(res) == "DATE_OUTSIDE_WINDOW"
    assert "7 天" in res.json()["error"]["message"]
    res = await book(client, headers, date="2026-11-23")  # yesterday
    assert res.status_code == 422 and error_code(res) == "DATE_PASSED" and "过去" in res.json()["error"]["message"]


async def test_same_day_slot_exactly_one_hour_ahead(client, clock):
    a, _ = await citizen(client)
    b, _ = await citizen(client)
    clock.set(at(24, 9, 0))
    assert (await book(client, a, date="2026-11-24", start="10:00")).status_code == 201
    clock.set(at(24, 9, 0) + timedelta(seconds=1))
    res = await book(client, b, date="2026-11-24", start="10:00")
    assert res.status_code == 422 and error_code(res) == "TOO_LATE"
    assert "1 小时" in res.json()["error"]["message"]
    res = await book(client, b, date="2026-11-25", start="12:30")  # the lunch break has no slot
    assert res.status_code == 422 and error_code(res) == "SLOT_NOT_FOUND" and "时段" in res.json()["error"]["message"]
    res = await book(client, b, hall="east", date="2026-11-28")  # east has no Saturday duty
    assert res.status_code == 422 and error_code(res) == "HALL_CLOSED"
    assert "不对外服务" in res.json()["error"]["message"]


async def _two_no_shows(client, live, clock, start: str):
    """A citizen misses Tuesday's and Wednesday's slot at ``start``; return their headers."""
    headers, _ = await citizen(client)
    for day in ("2026-11-24", "2026-11-25"):
        assert (await book(client, headers, date=day, start=start)).status_code == 201
    return headers


async def test_no_show_window_is_ninety_days_to_the_minute(client, live, clock):
    inside = await _two_no_shows(client, live, clock, "09:00")  # first miss: 24 Nov 09:00
    outside = await _two_no_shows(client, live, clock, "09:30")  # first miss: 24 Nov 09:30
    clock.set(at(25, 12, 0))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    # Both book a third slot 90 days on (February 2027: Friday 19th is a working day) and miss it too.
    clock.set(datetime(2027, 2, 16, 9, 0, tzinfo=TZ))
    assert (await book(client, inside, date="2027-02-19", start="09:00")).status_code == 201
    assert (await book(client, outside, date="2027-02-22", start="09:00")).status_code == 201
    first_inside = at(24, 9, 0)
    # The sweep at exactly 90 days after the first miss still counts it: three in 90 days.
    clock.set(first_inside + GUIDE_NO_SHOW_WINDOW)
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    # The other's third miss (22 Feb 09:00–09:30) is swept at 09:31, 90 days and a minute after its first.
    clock.set(at(24, 9, 30) + GUIDE_NO_SHOW_WINDOW + timedelta(minutes=1))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    statuses = [b["status"] for h in (inside, outside)
                for b in (await client.get("/api/bookings", headers=h)).json()["items"]]
    assert statuses.count("no_show") == 6
    me_inside = (await client.get("/api/mp/me", headers=inside)).json()
    me_outside = (await client.get("/api/mp/me", headers=outside)).json()
    assert me_inside["suspended_until"] is not None
    assert me_outside["suspended_until"] is None
    # One citizen's suspension is theirs alone: the other still books.
    clock.set(datetime(2027, 2, 22, 12, 0, tzinfo=TZ))
    assert (await book(client, outside, date="2027-02-24", start="09:00")).status_code == 201
    res = await book(client, inside, date="2027-02-24", start="09:00")
    assert res.status_code == 403 and error_code(res) == "BOOKING_SUSPENDED"


async def test_suspension_lasts_thirty_days_to_the_minute(client, live, clock):
    headers = await _two_no_shows(client, live, clock, "09:00")
    assert (await book(client, headers, date="2026-11-26", start="09:00")).status_code == 201
    # Swept just after midnight in the center's time zone (still the previous day in UTC): the end date shown
    # is the center's calendar date.
    swept_at = at(27, 0, 30)
    clock.set(swept_at)
    assert await scheduled.sweep_no_shows(live.ctx.job_ctx) == 3  # the three misses, marked when seen
    third = await Booking.filter(date="2026-11-26").first()
    assert third.status == "no_show" and third.no_show_at == swept_at
    until = swept_at + GUIDE_SUSPENSION  # 27 December 00:30 in Shanghai
    clock.set(until - timedelta(minutes=1))
    res = await book(client, headers, date="2026-12-28")
    assert res.status_code == 403 and error_code(res) == "BOOKING_SUSPENDED"
    assert res.json()["error"]["details"]["suspended_until"] == "2026-12-27"
    assert "2026年12月27日" in res.json()["error"]["message"]
    clock.set(until)
    assert (await book(client, headers, date="2026-12-28")).status_code == 201


async def test_check_in_from_thirty_minutes_before_until_the_slot_ends(client, clock):
    """Guide §2: "可在时段开始前 30 分钟至时段结束前签到"."""
    people = [await citizen(client) for _ in range(3)]
    for headers, _ in people:
        assert (await book(client, headers, start="10:00")).status_code == 201
    desk = await staff_headers(client, role="hall_staff", hall_code="center")

    async def check_in(person):
        return await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": person[1]})

    clock.set(at(24, 9, 30) - timedelta(seconds=1))
    res = await check_in(people[0])
    assert res.status_code == 422 and error_code(res) == "CHECKIN_TOO_EARLY"
    clock.set(at(24, 9, 30))
    assert (await check_in(people[0])).status_code == 200
    clock.set(at(24, 10, 30) - timedelta(seconds=1))
    assert (await check_in(people[1])).status_code == 200
    clock.set(at(24, 10, 30))
    res = await check_in(people[2])
    assert res.status_code == 422 and error_code(res) == "CHECKIN_TOO_LATE"


async def test_pending_bookings_expire_when_their_slot_ends_not_before(client, live, clock):
    admin = await staff_headers(client)
    assert (await client.put("/api/staff/halls/east", headers=admin, json={"review_mode": True})).status_code == 200
    headers, _ = await citizen(client)
    booked = (await book(client, headers, hall="east", start="10:00")).json()
    assert booked["status"] == "pending"
    clock.set(at(24, 10, 30) - timedelta(seconds=1))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    assert (await Booking.get(id=booked["id"])).status == "pending"
    clock.set(at(24, 10, 30))
    assert await scheduled.sweep_no_shows(live.ctx.job_ctx) == 0  # expired, not counted as a no-show
    assert (await Booking.get(id=booked["id"])).status == "expired"


async def test_a_suspension_is_renewed_when_expired_and_never_shortened(client, live, clock):
    from models import BookingHolder

    people = []
    for start in ("09:00", "09:30"):
        headers = await _two_no_shows(client, live, clock, start)
        assert (await book(client, headers, date="2026-11-26", start=start)).status_code == 201
        people.append(headers)
    digests = [b.id_hash for b in await Booking.filter(date="2026-11-26").order_by("start")]
    long_ago, far_ahead = datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 6, 1, tzinfo=TZ)
    for digest, until in zip(digests, (long_ago, far_ahead), strict=True):
        await BookingHolder.filter(id_hash=digest).update(suspended_until=until)
    clock.set(at(26, 10, 0))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    renewed, kept = [(await BookingHolder.get(id_hash=d)).suspended_until for d in digests]
    assert renewed == at(26, 10, 0) + GUIDE_SUSPENSION  # the old, expired suspension starts again
    assert kept == far_ahead  # a longer one already in force stays
