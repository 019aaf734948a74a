"""Citizen messages for a person who uses only the public account (issues 12 and 14): the center's cancellation
notice, the review result and case stage changes go as a public-account template message (followers only) where
the mini-program cannot reach the person; a person WeChat cannot reach is recorded and never retried; a person with
the mini-program and its consent still gets the subscribe message alone (server/wechat/reach.py)."""

from __future__ import annotations

import contextlib
import re

from models import Booking, CaseNotification
from models.wechat import WeChatFollower
from server.booking import scheduled
from server.core import metrics
from server.progress import scheduled as progress_scheduled
from tests.booking.conftest import book
from tests.factories import staff_headers
from tests.h5.conftest import Browser, field_error, sign_in_through_wechat
from tests.h5.test_pages import ingest  # noqa: F401  (fixture)
from tests.h5.test_reminder import book_on_the_page, oa_only_person
from tests.h5.test_signin import mp_person
from tests.progress.conftest import created, stage

BASE = "https://dengji.example.cn"
BT = "secondhand_transfer"


@contextlib.contextmanager
def public_root(live):
    """Template messages link our /h5/ pages on DENGJI_PUBLIC_BASE_URL; set only around the sends, since the pages'
    sign-in would send the test browser to that (unreachable) root."""
    settings = live.ctx.job_ctx["settings"]
    settings.public_base_url = BASE
    try:
        yield
    finally:
        settings.public_base_url = ""


def unreachable(kind: str, errcode: str) -> float:
    return metrics.WECHAT_UNREACHABLE.labels(kind, errcode)._value.get()


async def _close_morning(client) -> None:
    admin = await staff_headers(client)
    res = await client.post("/api/staff/closures", headers=admin, json={
        "date": "2026-11-24", "reason": "设备检修临时闭厅", "halls": ["center"],
        "sessions": [{"start": "09:00", "end": "12:00"}]})
    assert res.status_code == 201, res.text


async def _notify_cancel(live, booking_id: int) -> None:
    with public_root(live):
        await live.ctx.jobs.drain()
        await scheduled.notify_center_cancel(live.ctx.job_ctx, booking_id=booking_id)  # with arq: run here


# ------------------------------------------------------------------ the center's cancellation (issue 12)


async def test_closure_tells_a_public_account_follower_once_with_the_reason_and_a_rebook_link(
        live, client, clock, fake_wechat, browser: Browser):
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    booking_id = await book_on_the_page(browser)  # no "提醒我": the center's notice goes anyway
    await _close_morning(client)
    await _notify_cancel(live, booking_id)
    await scheduled.notify_center_cancel(live.ctx.job_ctx, booking_id=booking_id)  # never twice
    [sent] = fake_wechat.sent("template")
    assert sent["touser"] == person.oa_openid and sent["template_id"] == "tmpl-oa-booking-center-cancelled"
    assert sent["data"]["thing3"]["value"] == "设备检修临时闭厅"
    assert set(sent["data"]) == {"thing1", "time2", "thing3", "thing4"}  # keyword fields only, no first/remark
    assert sent["client_msg_id"] == f"oa_booking_center_cancelled-{booking_id}"
    assert sent["url"] == f"{BASE}/h5/booking/days?bt={BT}&hall=center"
    assert fake_wechat.sent("subscribe") == []
    # The link opens the page where the same hall and business can be booked again.
    rebook = await browser.get(sent["url"].removeprefix(BASE))
    assert rebook.status_code == 200 and "选择日期" in rebook.text


async def test_closure_for_a_person_who_unfollowed_is_recorded_unreachable_and_not_retried(
        live, client, clock, fake_wechat, browser: Browser):
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    booking_id = await book_on_the_page(browser)
    fake_wechat.unfollow(person.oa_openid)  # the unsubscribe event never reached us
    before = unreachable("booking_center_cancelled", "43004")
    await _close_morning(client)
    await _notify_cancel(live, booking_id)
    await scheduled.notify_center_cancel(live.ctx.job_ctx, booking_id=booking_id)
    assert len(fake_wechat.calls_to("cgi-bin/message/template/send")) == 1 and fake_wechat.sent("template") == []
    assert (await WeChatFollower.get(openid=person.oa_openid)).subscribed is False
    assert unreachable("booking_center_cancelled", "43004") == before + 1
    assert (await Booking.get(id=booking_id)).center_notified_at is not None  # done with: no retry


async def test_closure_reaches_a_mini_program_user_with_consent_by_the_subscribe_message_alone(
        live, client, clock, fake_wechat, browser: Browser):
    person, headers = await mp_person(client, fake_wechat)
    fake_wechat.follow(person.oa_openid)  # follows the public account too
    await sign_in_through_wechat(browser, fake_wechat, person, "/h5/bookings")
    fake_wechat.accept_subscription(person.mp_openid, "tmpl-booking-center-cancelled")
    booked = await book(client, headers)
    assert booked.status_code == 201, booked.text
    await _close_morning(client)
    await _notify_cancel(live, booked.json()["id"])
    [sent] = fake_wechat.sent("subscribe")
    assert sent["touser"] == person.mp_openid and sent["data"]["thing3"]["value"] == "设备检修临时闭厅"
    assert fake_wechat.sent("template") == [] and fake_wechat.calls_to("cgi-bin/message/template/send") == []


# ------------------------------------------------------------------ the review result (review mode)


async def _review_mode(client) -> dict:
    admin = await staff_headers(client)
    assert (await client.put("/api/staff/halls/center", headers=admin, json={"review_mode": True})).status_code == 200
    return await staff_headers(client, role="reviewer")


async def test_review_result_reaches_a_public_account_follower_with_the_reason(
        live, client, clock, fake_wechat, browser: Browser):
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    reviewer = await _review_mode(client)
    booking_id = await book_on_the_page(browser, subscribe="1")
    assert (await Booking.get(id=booking_id)).status == "pending"
    res = await client.post(f"/api/staff/bookings/{booking_id}/decline", headers=reviewer,
                            json={"reason": "材料不全请补齐后再约"})
    assert res.status_code == 200, res.text
    with public_root(live):
        await live.ctx.jobs.drain()
        for _ in range(2):  # with arq the job waits for a worker: run here; a second run sends nothing
            await scheduled.notify_review(live.ctx.job_ctx, booking_id=booking_id)
    [sent] = fake_wechat.sent("template")
    assert sent["touser"] == person.oa_openid and sent["template_id"] == "tmpl-oa-booking-review"
    assert sent["data"]["phrase3"]["value"] == "未通过" and sent["data"]["thing4"]["value"] == "材料不全请补齐后再约"
    assert sent["url"] == f"{BASE}/h5/bookings/{booking_id}"
    assert fake_wechat.sent("subscribe") == []


async def test_review_result_for_a_person_who_unfollowed_is_recorded_and_not_retried(
        live, client, clock, fake_wechat, browser: Browser):
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    reviewer = await _review_mode(client)
    booking_id = await book_on_the_page(browser, subscribe="1")
    fake_wechat.unfollow(person.oa_openid)
    res = await client.post(f"/api/staff/bookings/{booking_id}/confirm", headers=reviewer, json={})
    assert res.status_code == 200, res.text
    before = unreachable("booking_review", "43004")
    await live.ctx.jobs.drain()
    for _ in range(2):
        await scheduled.notify_review(live.ctx.job_ctx, booking_id=booking_id)
    assert len(fake_wechat.calls_to("cgi-bin/message/template/send")) == 1 and fake_wechat.sent("template") == []
    assert unreachable("booking_review", "43004") == before + 1
    assert (await WeChatFollower.get(openid=person.oa_openid)).subscribed is False


async def test_review_result_reaches_a_mini_program_user_with_consent_by_the_subscribe_message_alone(
        live, client, clock, fake_wechat, browser: Browser):
    person, headers = await mp_person(client, fake_wechat)
    fake_wechat.follow(person.oa_openid)
    await sign_in_through_wechat(browser, fake_wechat, person, "/h5/bookings")
    fake_wechat.accept_subscription(person.mp_openid, "tmpl-booking-review")
    reviewer = await _review_mode(client)
    booked = (await book(client, headers, subscribe=True)).json()
    res = await client.post(f"/api/staff/bookings/{booked['id']}/confirm", headers=reviewer, json={})
    assert res.status_code == 200, res.text
    await live.ctx.jobs.drain()
    await scheduled.notify_review(live.ctx.job_ctx, booking_id=booked["id"])
    [sent] = fake_wechat.sent("subscribe")
    assert sent["touser"] == person.mp_openid and sent["data"]["phrase3"]["value"] == "已确认"
    assert fake_wechat.calls_to("cgi-bin/message/template/send") == []


# ------------------------------------------------------------------ case stage changes


async def _case_of(ingest, person, receipt: str) -> None:  # noqa: F811
    results = await ingest.send(created(receipt, [(person.name, person.id_number)],
                                        accepted_at="2026-11-20T10:00:00+08:00"))
    assert results[0]["status"] == "accepted", results


async def _push_all(live) -> list[tuple[str, str | None]]:
    """Run the pushes (the in-process runner already did; with arq they wait for a worker: run here, a second run
    of one finds it claimed); (status, error) of each row."""
    with public_root(live):
        await live.ctx.jobs.drain()
        for row in await CaseNotification.all().order_by("id").values("stage_entry_id", "citizen_id"):
            await progress_scheduled.notify_stage_change(live.ctx.job_ctx, **row)
    return [(n.status, n.error) for n in await CaseNotification.all().order_by("id")]


async def test_a_follower_asks_on_the_case_page_and_hears_of_each_stage_change_once(
        live, client, clock, fake_wechat, browser: Browser, ingest):  # noqa: F811
    person = await oa_only_person(client, fake_wechat, browser, follows=True)
    receipt = "2026-1120-005151"
    await _case_of(ingest, person, receipt)
    page = await browser.get(f"/h5/cases/{receipt}")
    assert page.status_code == 200 and page.text.count("有进展时通过公众号通知我") == 1  # one form, in the content
    res = await browser.post(f"/h5/cases/{receipt}/updates", {"notify": "1"})
    assert res.status_code == 303 and res.headers["location"].endswith("?done=updates")
    done = await browser.get(res.headers["location"])
    assert "已订阅：办件有进展时会通过公众号消息通知您" in done.text and "不用通知" in done.text

    await ingest.send(stage(receipt, "reviewing", "2026-11-20T15:00:00+08:00"))
    assert await _push_all(live) == [("sent", None)]
    assert await _push_all(live) == [("sent", None)]  # the job running again sends nothing
    [sent] = fake_wechat.sent("template")
    assert sent["touser"] == person.oa_openid and sent["template_id"] == "tmpl-oa-case-stage-changed"
    assert sent["data"]["character_string1"]["value"] == receipt
    assert sent["url"] == f"{BASE}/h5/cases/{receipt}"
    entry_id = (await CaseNotification.first()).stage_entry_id
    case_id = (await CaseNotification.first().prefetch_related("stage_entry")).stage_entry.case_id
    assert sent["client_msg_id"] == f"case-{case_id}-stage-{entry_id}"
    assert fake_wechat.sent("subscribe") == []

    # Withdrawn on the page: the next stage change is not pushed.
    res = await browser.post(f"/h5/cases/{receipt}/updates", {"notify": "0"})
    assert res.status_code == 303 and res.headers["location"].endswith("?done=no-updates")
    [done] = await ingest.send(stage(receipt, "registered", "2026-11-21T10:00:00+08:00", seq=1))
    assert done["status"] == "accepted" and done["applied"], done
    await _push_all(live)
    assert len(fake_wechat.sent("template")) == 1


async def test_a_non_follower_is_not_offered_case_updates_and_a_lapsed_one_is_recorded_unreachable(
        live, client, clock, fake_wechat, browser: Browser, ingest):  # noqa: F811
    person = await oa_only_person(client, fake_wechat, browser, follows=False)
    receipt = "2026-1120-005252"
    await _case_of(ingest, person, receipt)
    page = await browser.get(f"/h5/cases/{receipt}")
    assert "有进展时通过公众号通知我" not in page.text and page.text.count('id="updates-unavailable"') == 1
    refused = await browser.post(f"/h5/cases/{receipt}/updates", {"notify": "1"})
    assert refused.status_code == 409 and "关注公众号后即可订阅" in field_error(refused.text, "updates")
    # Following, asking, then unfollowing without us hearing of it: one try, 43004 recorded, never retried.
    fake_wechat.follow(person.oa_openid)
    from server.wechat import service as followers

    await followers.subscribe(openid=person.oa_openid)
    assert (await browser.post(f"/h5/cases/{receipt}/updates", {"notify": "1"})).status_code == 303
    fake_wechat.unfollow(person.oa_openid)
    await ingest.send(stage(receipt, "reviewing", "2026-11-20T15:00:00+08:00"))
    assert await _push_all(live) == [("failed", "43004")]
    assert await _push_all(live) == [("failed", "43004")]
    assert len(fake_wechat.calls_to("cgi-bin/message/template/send")) == 1 and fake_wechat.sent("template") == []
    # The next stage change is not even tried: WeChat said this person does not follow.
    [done] = await ingest.send(stage(receipt, "registered", "2026-11-21T10:00:00+08:00", seq=1))
    assert done["status"] == "accepted" and done["applied"], done
    assert await _push_all(live) == [("failed", "43004"), ("failed", "43004")]
    assert len(fake_wechat.calls_to("cgi-bin/message/template/send")) == 1


async def test_a_mini_program_subscriber_with_consent_gets_the_subscribe_message_alone(
        live, client, clock, fake_wechat, browser: Browser, ingest):  # noqa: F811
    person, headers = await mp_person(client, fake_wechat)
    fake_wechat.follow(person.oa_openid)
    await sign_in_through_wechat(browser, fake_wechat, person, "/h5/bookings")
    receipt = "2026-1120-005353"
    await _case_of(ingest, person, receipt)
    assert (await client.post(f"/api/mp/cases/{receipt}/subscribe", headers=headers)).status_code == 200
    fake_wechat.accept_subscription(person.mp_openid, "PROGRESS_STAGE_CHANGED_TEMPLATE")
    page = await browser.get(f"/h5/cases/{receipt}")
    assert "已订阅" in page.text  # one wish per case, whichever app recorded it
    await ingest.send(stage(receipt, "reviewing", "2026-11-20T15:00:00+08:00"))
    assert await _push_all(live) == [("sent", None)]
    [sent] = fake_wechat.sent("subscribe")
    assert sent["touser"] == person.mp_openid
    assert fake_wechat.calls_to("cgi-bin/message/template/send") == []


def test_public_account_templates_carry_keyword_fields_only(live):
    from server.booking import messaging

    specs = messaging.templates(live.ctx.settings.seed_dir)
    oa = {k: v for k, v in specs.items() if k.startswith("oa_")}
    assert {"oa_booking_reminder", "oa_booking_review", "oa_booking_center_cancelled",
            "oa_case_stage_changed"} <= set(oa)
    for spec in oa.values():
        assert not {"first", "remark"} & set(spec["data"]) and spec["url"].startswith("/h5/")
        assert all(re.fullmatch(r"[a-z_]+\d+", key) for key in spec["data"])
