"""The hall rule on hotline writes: a hotline account bound to one hall books and cancels only there."""

from tests.booking.conftest import at, book, citizen, error_code, unique_id_number
from tests.factories import staff_headers


async def _hotline_book(client, headers, hall: str):
    body = {"name": "王五", "id_number": unique_id_number(), "mobile": "13900002222", "hall": hall,
            "business_type": "change", "date": "2026-11-24", "start": "09:00"}
    return await client.post("/api/staff/bookings", headers=headers, json=body)


async def test_hotline_bound_to_a_hall_books_and_cancels_only_there(client, clock):
    clock.set(at(23, 9, 30))  # the hotline answers 9:00–17:00 on working days (center.yaml)
    south_desk = await staff_headers(client, role="hotline", hall_code="south")
    res = await _hotline_book(client, south_desk, "north")
    assert res.status_code == 403 and error_code(res) == "HALL_FORBIDDEN"
    assert (await _hotline_book(client, south_desk, "south")).status_code == 201

    headers, _ = await citizen(client)
    booking = await book(client, headers, hall="north")
    assert booking.status_code == 201
    res = await client.post(f"/api/staff/bookings/{booking.json()['id']}/cancel", headers=south_desk)
    assert res.status_code == 403 and error_code(res) == "HALL_FORBIDDEN"
    anywhere = await staff_headers(client, role="hotline")
    res = await client.post(f"/api/staff/bookings/{booking.json()['id']}/cancel", headers=anywhere)
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
