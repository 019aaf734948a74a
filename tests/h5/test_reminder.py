"""The day-before reminder for a person who uses only the public account (issue 14).

The mini-program's subscribe message cannot reach them; the reminder goes as a public-account template message
to their public-account openid, which WeChat delivers to followers only (43004 otherwise; the fake does the same).
Where neither channel can reach the person, the pages say so instead of offering "提醒我".
"""

from __future__ import annotations

import re

from models import Booking
from models.wechat import WeChatFollower
from server.booking import scheduled
from tests.booking.conftest import at, unique_id_number
from tests.factories import make_mobile, staff_headers
from tests.h5.conftest import Browser, field_error, sign_in_through_wechat

BT = "secondhand_transfer"
CONFIRM = f"/h5/booking/confirm?bt={BT}&hall=center&date=2026-11-24&start=09:00"


async def oa_only_person(client, fake_wechat, browser: Browser, *, follows: bool):
    """A person known only to the public account, signed in on the pages and bound with the counter code."""
    person = fake_wechat.person("周晓梅", unique_id_number())
    if follows:
        fake_wechat.follow(person.oa_openid)
    await sign_in_through_wechat(browser, fake_wechat, person, "/h5/binding", following=follows)
    hall_staff = await staff_headers(client, role="hall_staff", hall_code="center")
    res = await client.post("/api/staff/binding-codes", headers=hall_staff, json={
        "name": person.name, "id_number": person.id_number, "mobile": make_mobile()})
    assert res.status_code == 201, res.text
    done = await browser.post("/h5/binding/code", {"code": res.json()["binding_code"], "next": "/h5/"})
    assert done.status_code == 303, done.text
    return person


async def book_on_the_page(browser: Browser, **extra) -> int:
    confirm = await browser.get(CONFIRM)
    assert confirm.status_code == 200, confirm.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    res = await browser.post("/h5/booking/confirm", fields | extra)
    assert res.status_code == 303, res.text
    return int(re.search(r"/h5/bookings/(\d+)", res.headers["location"]).group(1))


async def test_a_follower_who_uses_only_the_public_account_gets_one_template_message(
        live, client, clock, fake_wechat, browser: Browser):
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    confirm = await browser.get(CONFIRM)
    assert "到厅前一天通过公众号消息提醒我" in confirm.text and 'name="subscribe"' in confirm.text
    booking_id = await book_on_the_page(browser)
    detail = await browser.get(f"/h5/bookings/{booking_id}")
    assert "提醒我" in detail.text and "前一天通过公众号消息提醒您" in detail.text
    res = await browser.post(f"/h5/bookings/{booking_id}/reminder", {"subscribe": "1"})
    assert res.status_code == 303 and res.headers["location"].endswith("?done=reminder")
    done = await browser.get(res.headers["location"])
    assert "已订阅：到厅前一天会通过公众号消息提醒您" in done.text
    booking = await Booking.get(id=booking_id)
    assert booking.subscribe is True

    clock.set(at(23, 17, 59))  # the day before, before the reminder time (booking_rules.yaml reminder_time 18:00)
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    clock.set(at(23, 18, 0))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 1
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0  # never twice
    [sent] = fake_wechat.sent("template")
    assert sent["touser"] == person.oa_openid and sent["template_id"] == "tmpl-oa-booking-reminder"
    assert sent["data"]["character_string4"]["value"] == booking.code
    assert sent["data"]["time2"]["value"] == "2026年11月24日 09:00"
    assert fake_wechat.sent("subscribe") == []  # the mini-program knows nobody to send to


async def test_a_non_follower_is_told_plainly_and_not_offered_the_reminder(
        live, client, clock, fake_wechat, browser: Browser):
    await oa_only_person(client, fake_wechat, browser, follows=False)
    confirm = await browser.get(CONFIRM)
    assert 'name="subscribe"' not in confirm.text and "微信无法向您发送到厅提醒" in confirm.text
    booking_id = await book_on_the_page(browser)
    detail = await browser.get(f"/h5/bookings/{booking_id}")
    assert "提醒我" not in detail.text and "关注公众号后刷新本页即可订阅" in detail.text
    refused = await browser.post(f"/h5/bookings/{booking_id}/reminder", {"subscribe": "1"})
    assert refused.status_code == 409 and "关注公众号后即可订阅到厅提醒" in field_error(refused.text, "reminder")
    assert (await Booking.get(id=booking_id)).subscribe is False
    clock.set(at(23, 18, 0))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    assert fake_wechat.sent("template") == [] and fake_wechat.calls_to("cgi-bin/message/template/send") == []
    # WeChat's user/info said "not a follower" once; that is remembered (no call per page view).
    assert [f.subscribed for f in await WeChatFollower.all()] == [False]
    user_info_calls = len(fake_wechat.calls_to("cgi-bin/user/info"))
    await browser.get(f"/h5/bookings/{booking_id}")
    assert len(fake_wechat.calls_to("cgi-bin/user/info")) == user_info_calls
    # Following the account (WeChat pushes the subscribe event) opens it: the page offers the reminder.
    from server.wechat import service as followers

    openid = (await WeChatFollower.first()).openid
    fake_wechat.follow(openid)
    await followers.subscribe(openid=openid)
    page = await browser.get(f"/h5/bookings/{booking_id}")
    assert "提醒我" in page.text and "关注公众号后刷新本页即可订阅" not in page.text


async def test_an_unfollow_before_the_reminder_is_43004_recorded_and_said_on_the_page(
        live, client, clock, fake_wechat, browser: Browser):
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    booking_id = await book_on_the_page(browser, subscribe="1")
    assert (await Booking.get(id=booking_id)).subscribe is True
    fake_wechat.unfollow(person.oa_openid)  # WeChat's unsubscribe event may come late or not reach us
    clock.set(at(23, 18, 0))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0  # refused for good: not retried
    assert len(fake_wechat.calls_to("cgi-bin/message/template/send")) == 1 and fake_wechat.sent("template") == []
    assert (await WeChatFollower.get(openid=person.oa_openid)).subscribed is False
    detail = await browser.get(f"/h5/bookings/{booking_id}")
    assert "已订阅" in detail.text  # what they asked for stays visible, and can be turned off


async def test_a_person_of_both_apps_without_mini_program_consent_gets_the_template_message(
        live, client, clock, fake_wechat, browser: Browser):
    from tests.h5.test_signin import mp_person

    person, headers = await mp_person(client, fake_wechat)
    fake_wechat.follow(person.oa_openid)
    await sign_in_through_wechat(browser, fake_wechat, person, "/h5/bookings")
    booking_id = await book_on_the_page(browser, subscribe="1")  # asked on the page, no 允许 in the mini-program
    clock.set(at(23, 18, 0))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 1
    assert fake_wechat.sent("subscribe") == []  # 43101: no consent for the subscribe message
    [sent] = fake_wechat.sent("template")
    assert sent["touser"] == person.oa_openid
    assert sent["data"]["character_string4"]["value"] == (await Booking.get(id=booking_id)).code
