"""Rules of the data files that the service enforces: the hotline's hours (center.yaml hotline.start/end) and
the provisional calendar years (calendar.yaml provisional_years)."""

from datetime import UTC, datetime

from models import Booking
from server.booking import flows
from tests.booking.conftest import TZ, at, book, citizen, error_code, unique_id_number
from tests.console.conftest import console_login
from tests.factories import staff_headers


async def _hotline_book(client, headers, **extra):
    body = {"name": "王五", "id_number": unique_id_number(), "mobile": "13900001111", "hall": "south",
            "business_type": "change", "date": "2026-11-24", "start": "10:00"} | extra
    return await client.post("/api/staff/bookings", headers=headers, json=body)


async def test_hotline_books_and_cancels_only_during_hotline_hours(client, live, clock):
    hotline = await staff_headers(client, role="hotline")
    clock.set(at(23, 8, 59))  # Monday, before the line opens at 9:00
    res = await _hotline_book(client, hotline)
    assert res.status_code == 409 and error_code(res) == "HOTLINE_CLOSED"
    assert "热线服务时间" in res.json()["error"]["message"] and res.json()["error"]["details"]["hours"]
    assert await Booking.all().count() == 0
    clock.set(at(23, 9, 0))
    res = await _hotline_book(client, hotline)
    assert res.status_code == 201, res.text
    booking_id = res.json()["id"]
    clock.set(at(23, 16, 59))
    assert (await _hotline_book(client, hotline, start="10:30")).status_code == 201
    clock.set(at(23, 17, 0))  # the end is exclusive
    assert error_code(await _hotline_book(client, hotline, start="11:00")) == "HOTLINE_CLOSED"
    res = await client.post(f"/api/staff/bookings/{booking_id}/cancel", headers=hotline)
    assert res.status_code == 409 and error_code(res) == "HOTLINE_CLOSED"
    assert (await Booking.get(id=booking_id)).status == "confirmed"
    clock.set(at(28, 10, 0))  # Saturday: the hotline does not answer on a rest day
    assert error_code(await _hotline_book(client, hotline, date="2026-11-30")) == "HOTLINE_CLOSED"
    clock.set(at(23, 10, 0))  # back inside hours (and before the cancel cut-off)
    res = await client.post(f"/api/staff/bookings/{booking_id}/cancel", headers=hotline)
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    # Citizens' own online bookings are not bound to the hotline's hours.
    clock.set(at(23, 8, 30))
    headers, _ = await citizen(client)
    assert (await book(client, headers, hall="south", date="2026-11-25")).status_code == 201


async def test_hotline_hours_follow_the_working_day_calendar(live, clock):
    catalog, _ = await flows.context(live.app)
    assert catalog.hotline_open(datetime(2026, 10, 10, 10, 0, tzinfo=TZ))  # Saturday make-up workday (调休上班)
    assert not catalog.hotline_open(datetime(2026, 10, 1, 10, 0, tzinfo=TZ))  # 国庆节, a Thursday
    assert not catalog.hotline_open(datetime(2026, 11, 29, 10, 0, tzinfo=TZ))  # Sunday
    # Any clock's time zone is read in the center's: 08:59 UTC is 16:59 in Shanghai, 09:00 UTC is 17:00.
    assert catalog.hotline_open(datetime(2026, 11, 23, 8, 59, tzinfo=UTC))
    assert not catalog.hotline_open(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


async def test_console_hotline_page_says_when_the_line_is_closed(live, client, clock):
    page = await console_login(live, "hotline")
    clock.set(at(23, 8, 30))
    res = await page.get("/console/hotline")
    assert res.status_code == 200 and 'id="hotline-closed"' in res.text and "热线服务时间" in res.text
    clock.set(at(23, 10, 0))
    assert 'id="hotline-closed"' not in (await page.get("/console/hotline")).text
    await page.aclose()


async def test_days_of_a_provisional_year_are_marked_on_slots_and_bookings(client, live, clock):
    clock.set(datetime(2026, 12, 31, 10, 0, tzinfo=TZ))
    slots = (await client.get("/api/halls/center/slots?date=2027-01-04")).json()
    assert slots["open"] and slots["provisional"] is True
    assert "2027年节假日安排尚未正式公布" in slots["provisional_note"]
    assert (await client.get("/api/halls/center/slots?date=2026-12-31")).json()["provisional"] is False
    headers, _ = await citizen(client)
    res = await book(client, headers, date="2027-01-04", start="10:00")
    assert res.status_code == 201, res.text
    assert "暂定" in res.json()["provisional_note"]
    other, _ = await citizen(client)
    res = await book(client, other, date="2026-12-31", start="15:00")
    assert res.status_code == 201 and res.json()["provisional_note"] is None
