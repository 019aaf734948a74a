"""The public account's pages over HTTP: sign-in, CSRF, the booking flow by plain forms, errors next to
their fields, progress lookups by POST only, my cases, the guide, and the first page's weight."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from server.booking import flows as booking_flows
from server.core.auth import CITIZEN_COOKIE
from tests.booking.conftest import at, book, citizen
from tests.factories import login_citizen, make_id_number
from tests.h5.conftest import WECHAT_UA, field_error
from tests.progress.conftest import Ingest, created, stage

BT = "secondhand_transfer"


async def _bookings(client, headers) -> list[dict]:
    res = await client.get("/api/bookings", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()["items"]


def _links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


# ------------------------------------------------------------------ weight, assets, sign-in, CSRF


async def test_first_page_is_under_100_kb_with_only_local_assets(live, browser):
    res = await browser.http.get("/h5/", headers={"accept-encoding": "gzip"})
    assert res.status_code == 200 and "预约办事" in res.text
    assets = re.findall(r'(?:href|src)="([^"]+\.(?:css|js)[^"]*)"', res.text)
    assert len(assets) == 3 and all(a.startswith("/h5/static/") for a in assets)
    assert "http://" not in res.text and "https://" not in res.text  # no CDN, nothing from elsewhere
    total = res.num_bytes_downloaded
    for asset in assets:
        got = await browser.http.get(asset, headers={"accept-encoding": "gzip"})
        assert got.status_code == 200
        assert "max-age" in got.headers["cache-control"]
        total += got.num_bytes_downloaded
    weui = await browser.http.get(assets[0], headers={"accept-encoding": "gzip"})
    assert weui.headers["content-encoding"] == "gzip" and "WeUI v2.6.26" in weui.text
    assert total < 100_000, total
    # A revalidation costs nothing.
    again = await browser.http.get(assets[0], headers={"if-none-match": weui.headers["etag"]})
    assert again.status_code == 304


async def test_a_page_without_session_goes_through_wechat_authorisation_or_says_open_in_wechat(live, browser):
    res = await browser.get("/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=09:00")
    assert res.status_code == 302
    target = "/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=09:00"
    assert res.headers["location"] == f"/api/oa/oauth/authorize?next={quote(target, safe='/')}"
    outside = await browser.http.get("/h5/bookings", headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert outside.status_code == 401 and "请在微信中打开" in outside.text
    assert "/h5/dev/login?next=" in outside.text  # development and tests only
    # A token that is no session is no sign-in.
    browser.http.cookies.set(CITIZEN_COOKIE, "not-a-session")
    assert (await browser.get("/h5/bookings")).status_code == 302
    # Public pages open for anyone.
    for path in ("/h5/", "/h5/booking", "/h5/progress", "/h5/guide"):
        assert (await browser.get(path)).status_code == 200, path


async def test_dev_login_signs_the_browser_in_and_is_gone_in_production(live, client, browser):
    res = await browser.get("/h5/dev/login?next=/h5/bookings")
    assert res.status_code == 200 and 'name="token"' in res.text
    assert "dengji dev citizen --name 张三 --id-number" in res.text  # where a token comes from
    bad = await browser.post("/h5/dev/login", {"token": "wrong", "next": "/h5/bookings"})
    assert bad.status_code == 401 and field_error(bad.text, "token") == "令牌无效或已过期，请重新获取市民令牌"
    token = await login_citizen(client)
    # Only our own pages are a place to go back to (no open redirect).
    evil = await browser.post("/h5/dev/login", {"token": token, "next": "https://evil.example/h5/"})
    assert evil.status_code == 303 and evil.headers["location"] == "/h5/"
    ok = await browser.post("/h5/dev/login", {"token": token, "next": "/h5/bookings"})
    assert ok.status_code == 303 and ok.headers["location"] == "/h5/bookings"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{CITIZEN_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert (await browser.get("/h5/bookings")).status_code == 200
    live.ctx.settings.env = "production"
    try:
        assert (await browser.get("/h5/dev/login")).status_code == 404
        assert (await browser.post("/h5/dev/login", {"token": token})).status_code == 404
    finally:
        live.ctx.settings.env = "test"


async def test_forms_without_their_csrf_token_change_nothing(live, client, clock, signed_in):
    browser, headers, _ = signed_in
    await browser.get("/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=09:00")
    form = {"bt": BT, "hall": "center", "date": "2026-11-24", "start": "09:00", "idem": "k1"}
    res = await browser.post("/h5/booking/confirm", form, csrf=False)
    assert res.status_code == 403 and "页面已过期" in res.text
    forged = await browser.http.post("/h5/booking/confirm", data=form | {"csrf": "x" * 32})
    assert forged.status_code == 403
    assert await _bookings(client, headers) == []
    # The same form with the page's token books.
    assert (await browser.post("/h5/booking/confirm", form)).status_code == 303
    assert len(await _bookings(client, headers)) == 1


# ------------------------------------------------------------------ 预约办事


async def test_business_types_that_need_no_booking_say_what_to_do_instead(live, browser):
    types = await browser.get("/h5/booking")
    assert "全程网办" in types.text and "免预约" in types.text
    online = await browser.get("/h5/booking/halls?bt=presale_notice")
    assert online.status_code == 200 and "全程网办，无需预约" in online.text
    assert "可网上办理，无需到厅" in online.text and "选择大厅" not in online.text
    walk_in = await browser.get("/h5/booking/halls?bt=seizure")
    assert "免预约，直接到厅" in walk_in.text and "可直接到大厅办理" in walk_in.text
    halls = (await browser.http.get("/api/halls")).json()["items"]
    assert all(h["name"] in walk_in.text and h["address"] in walk_in.text for h in halls)
    assert "/h5/guide/ask?q=" in online.text  # what to do instead: ask the bot about it
    unknown = await browser.get("/h5/booking/halls?bt=nope")
    assert unknown.status_code == 404 and "业务事项不存在" in unknown.text


async def test_days_show_closed_and_full_days_and_slots_show_places_left(live, client, clock, signed_in):
    browser, _, _ = signed_in
    # Tuesday at the center hall: every online place taken away (staff's 加号/减号 through the service).
    catalog, _ = await booking_flows.context(live.app)
    for start in catalog.slot_starts("center", at(24, 0).date()):
        await booking_flows.set_slot_quota(live.app, hall_code="center", day=at(24, 0).date(),
                                           start=start.strftime("%H:%M"), quota=0, hotline_quota=0)
    days = await browser.get(f"/h5/booking/days?bt={BT}&hall=center")
    cells = dict(re.findall(r'(\d+月\d+日) 周.[^<]*</span>\s*<span class="weui-cell__ft[^"]*">([^<]+)<', days.text))
    assert cells["11月24日"] == "已约满"
    assert cells["11月29日"] == "不对外服务"  # Sunday
    assert cells["11月25日"].startswith("余 ")
    assert f"/h5/booking/slots?bt={BT}&hall=center&date=2026-11-24" not in _links(days.text)
    slots = await browser.get(f"/h5/booking/slots?bt={BT}&hall=center&date=2026-11-25")
    api = (await client.get("/api/halls/center/slots?date=2026-11-25")).json()["slots"]
    first = api[0]
    assert f"余 {first['remaining']} 个" in slots.text
    assert len(re.findall(r"/h5/booking/confirm\?", slots.text)) == sum(s["bookable"] for s in api)


async def test_book_by_plain_forms_see_it_in_my_bookings_and_cancel_it(live, client, clock, signed_in):
    browser, headers, _ = signed_in
    types = await browser.get("/h5/booking")
    halls = await browser.get(next(h for h in _links(types.text) if h.endswith(f"bt={BT}")))
    days = await browser.get(next(h for h in _links(halls.text) if "hall=center" in h))
    slots = await browser.get(next(h for h in _links(days.text) if "date=2026-11-24" in h))
    confirm = await browser.get(next(h for h in _links(slots.text) if "start=09:00" in h))
    assert confirm.status_code == 200 and "张*" in confirm.text and "确认预约" in confirm.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    res = await browser.post("/h5/booking/confirm", fields | {"subscribe": "1"})
    assert res.status_code == 303
    # Posting the same form again (a double tap) books nothing more: the form's idempotency key.
    again = await browser.post("/h5/booking/confirm", fields | {"subscribe": "1"})
    assert again.headers["location"] == res.headers["location"]
    [booking] = await _bookings(client, headers)
    assert booking["status"] == "confirmed" and booking["subscribe"] is True
    assert res.headers["location"] == f"/h5/bookings/{booking['id']}?done=booked"
    detail = await browser.get(res.headers["location"])
    assert "预约成功" in detail.text and booking["code"] in detail.text
    assert '<svg' in detail.text and "预约码二维码" in detail.text
    mine = await browser.get("/h5/bookings")
    assert f"/h5/bookings/{booking['id']}" in mine.text and "2026-11-24 09:00–09:30" in mine.text
    # Reminder off and on again, from the result page.
    off = await browser.post(f"/h5/bookings/{booking['id']}/reminder", {"subscribe": "0"})
    assert off.status_code == 303 and (await _bookings(client, headers))[0]["subscribe"] is False
    cancel = await browser.post(f"/h5/bookings/{booking['id']}/cancel", {})
    assert cancel.status_code == 303
    after = await browser.get(cancel.headers["location"])
    assert "预约已取消" in after.text and "取消预约" not in after.text
    assert (await _bookings(client, headers))[0]["status"] == "cancelled"
    late = await browser.post(f"/h5/bookings/{booking['id']}/reminder", {"subscribe": "1"})
    assert late.status_code == 409 and "该预约已取消或已结束，不再发送提醒" in late.text


async def test_refusals_are_shown_next_to_what_caused_them(live, client, clock, signed_in):
    browser, headers, _ = signed_in
    await browser.get("/h5/progress")  # any page with a form hands out the CSRF token
    base = {"bt": BT, "hall": "center", "date": "2026-11-24", "start": "09:00"}
    bad_agent = await browser.post("/h5/booking/confirm", base | {"agent_credit_code": "123", "idem": "a"})
    assert bad_agent.status_code == 422
    assert "统一社会信用代码" in field_error(bad_agent.text, "agent_credit_code")
    assert 'value="123"' in bad_agent.text  # what was typed stays
    # A slot someone else took meanwhile: said at the slot, with a way to pick another.
    await booking_flows.set_slot_quota(live.app, hall_code="center", day=at(24, 0).date(), start="10:00", quota=1,
                                       hotline_quota=0)
    other, _ = await citizen(client, name="李四")
    assert (await book(client, other, start="10:00")).status_code == 201
    full = await browser.post("/h5/booking/confirm", base | {"start": "10:00", "idem": "b"})
    assert full.status_code == 409 and field_error(full.text, "start") == "该时段号源已约满，请选择其他时段"
    assert "换一个时段" in full.text
    past = await browser.post("/h5/booking/confirm", base | {"date": "2026-11-20", "idem": "c"})
    assert past.status_code == 422 and field_error(past.text, "date") == "不能预约已经过去的日期"
    # Cancelling inside the cut-off: the rule is said at the cancel button.
    res = await book(client, headers, date="2026-11-23", start="10:00")
    assert res.status_code == 201, res.text
    late = await browser.post(f"/h5/bookings/{res.json()['id']}/cancel", {})
    assert late.status_code == 422 and "不能在线取消或改约" in field_error(late.text, "cancel")
    assert (await _bookings(client, headers))[0]["status"] == "confirmed"
    # Someone else's booking is not found, not shown.
    foreign = await book(client, other, date="2026-11-25")
    assert (await browser.get(f"/h5/bookings/{foreign.json()['id']}")).status_code == 404
    assert (await browser.post(f"/h5/bookings/{foreign.json()['id']}/cancel", {})).status_code == 404


async def test_reschedule_moves_the_booking_through_the_same_pages(live, client, clock, signed_in):
    browser, headers, _ = signed_in
    first = (await book(client, headers, date="2026-11-24", start="09:00")).json()
    res = await browser.get(f"/h5/bookings/{first['id']}/reschedule")
    assert res.status_code == 303 and f"rb={first['id']}" in res.headers["location"]
    days = await browser.get(res.headers["location"])
    assert "正在为预约改约" in days.text
    slots = await browser.get(next(h for h in _links(days.text) if "date=2026-11-25" in h))
    confirm = await browser.get(next(h for h in _links(slots.text) if "start=14:00" in h))
    assert "确认改约" in confirm.text and "2026-11-24 09:00 将自动取消" in confirm.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    moved = await browser.post("/h5/booking/confirm", fields)
    assert moved.status_code == 303 and "done=moved" in moved.headers["location"]
    by_id = {b["id"]: b for b in await _bookings(client, headers)}
    assert by_id[first["id"]]["status"] == "cancelled"
    [new] = [b for b in by_id.values() if b["id"] != first["id"]]
    assert (new["date"], new["start"], new["status"]) == ("2026-11-25", "14:00", "confirmed")


async def test_an_unbound_citizen_is_told_to_verify_in_the_mini_program(live, client, clock, browser):
    token = await login_citizen(client)
    browser.sign_in({"Authorization": f"Bearer {token}"})
    confirm = await browser.get(f"/h5/booking/confirm?bt={BT}&hall=center&date=2026-11-24&start=09:00")
    assert "尚未实名认证" in confirm.text and "disabled>确认预约" in confirm.text
    res = await browser.post("/h5/booking/confirm", {"bt": BT, "hall": "center", "date": "2026-11-24",
                                                     "start": "09:00", "idem": "u"})
    assert res.status_code == 403 and "请先完成实名认证" in field_error(res.text, "binding")
    binding = await browser.get("/h5/binding?next=/h5/bookings")
    assert "刷脸" in binding.text and "示例不动产登记" in binding.text and "只能在小程序中进行" in binding.text
    code = await browser.post("/h5/binding/code", {"code": "123456", "next": "/h5/bookings"})
    assert code.status_code == 422 and "绑定码无效" in field_error(code.text, "code")
    cases = await browser.get("/h5/cases")
    assert cases.status_code == 403 and "请先完成实名绑定" in cases.text


# ------------------------------------------------------------------ 进度查询


@pytest.fixture
async def ingest(live, client) -> Ingest:
    from server.progress import service

    made, secret = await service.create_client(cipher=live.ctx.cipher, name="bdc-h5")
    return Ingest(client, made.key_id, secret)


async def test_progress_lookup_is_by_post_only_with_a_timeline(live, client, ingest, browser):
    receipt = "2026-1123-000042"
    id_number = make_id_number(birth="19900101", seq=123)
    results = await ingest.send(created(receipt, [("王五", id_number)], accepted_at="2026-11-23T10:00:00+08:00"),
                                stage(receipt, "reviewing", "2026-11-23T10:05:00+08:00"),
                                stage(receipt, "public_notice", "2026-11-24T09:00:00+08:00", seq=1))
    assert {r["status"] for r in results} == {"accepted"}, results
    tail = id_number[-6:]
    # A GET with the ID tail in the address looks nothing up (and the form never sends it that way).
    leaked = await browser.get(f"/h5/progress?receipt_no={receipt}&id_last6={tail}")
    assert leaked.status_code == 200 and "公示中" not in leaked.text
    assert 'method="post" action="/h5/progress"' in leaked.text
    found = await browser.post("/h5/progress", {"receipt_no": receipt.replace("-", "－"), "id_last6": tail})
    assert found.status_code == 200
    api = (await client.post("/api/progress/lookup", json={"receipt_no": receipt, "id_last6": tail})).json()
    assert api["status_label"] in found.text and "王*" in found.text and "王五" not in found.text
    assert [h["label"] for h in api["history"]] == re.findall(r'weui-steps__item__title">([^<]+)<', found.text)[:3]
    assert f"承诺 {api['promised_date']} 前办结" in found.text
    miss = await browser.post("/h5/progress", {"receipt_no": receipt, "id_last6": "999999"})
    assert miss.status_code == 404 and "未查到办件" in miss.text and "999999" not in miss.text
    assert f'value="{receipt}"' in miss.text
    bad = await browser.post("/h5/progress", {"receipt_no": "?", "id_last6": tail})
    assert bad.status_code == 422 and field_error(bad.text, "receipt_no") == "格式不正确"


async def test_my_cases_list_the_bound_citizens_cases_with_their_stages(live, client, ingest, signed_in):
    browser, _, id_number = signed_in
    results = await ingest.send(
        created("2026-1123-000043", [("张三", id_number)], accepted_at="2026-11-23T10:00:00+08:00"),
        stage("2026-1123-000043", "reviewing", "2026-11-23T10:05:00+08:00"),
        created("2026-1123-000044", [("赵六", make_id_number(birth="19850307", seq=7))]))
    assert {r["status"] for r in results} == {"accepted"}, results
    cases = await browser.get("/h5/cases")
    assert "2026-1123-000043" in cases.text and "2026-1123-000044" not in cases.text
    case = await browser.get("/h5/cases/2026-1123-000043")
    assert "审核中" in case.text and "已受理" in case.text and "承诺办结" in case.text
    assert (await browser.get("/h5/cases/2026-1123-000044")).status_code == 404


# ------------------------------------------------------------------ 办事指南


async def test_guide_by_category_and_the_bot_answers_the_search_box(live, browser):
    guide = await browser.get("/h5/guide")
    categories = {e.category for e in live.ctx.bot.entries}
    assert all(f"?c={quote(c)}" in guide.text for c in categories)
    halls = await browser.get("/h5/guide?c=中心与大厅")
    entry = next(e for e in live.ctx.bot.entries if e.id == "center-halls")
    assert entry.question in halls.text
    question = "二手房过户要带什么材料"
    answer = await browser.get(f"/h5/guide/ask?q={quote(question)}")
    expected = live.ctx.bot.answer(question)
    shown = next(e for e in live.ctx.bot.entries if e.id == expected.entry_id)
    assert answer.status_code == 200 and shown.question in answer.text
    assert shown.answer.splitlines()[0] in answer.text
    empty = await browser.get("/h5/guide/ask?q=")
    assert empty.status_code == 422 and field_error(empty.text, "q") == "请输入您想咨询的问题"


async def test_every_page_says_the_center_and_allows_zoom(live, browser):
    res = await browser.get("/h5/progress")
    assert "user-scalable=no" not in res.text and "maximum-scale" not in res.text
    assert "示例市不动产登记中心" in res.text and "96510" in res.text
    assert res.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in res.headers[
        "content-security-policy"]
    assert WECHAT_UA in browser.http.headers["user-agent"]


async def test_the_json_api_turns_the_reminder_on_and_off_like_the_page(live, client, clock):
    headers, _ = await citizen(client)
    booking = (await book(client, headers)).json()
    assert booking["subscribe"] is False
    on = await client.post(f"/api/bookings/{booking['id']}/reminder", headers=headers, json={"subscribe": True})
    assert on.status_code == 200 and on.json()["subscribe"] is True
    other, _ = await citizen(client, name="李四")
    res = await client.post(f"/api/bookings/{booking['id']}/reminder", headers=other, json={"subscribe": False})
    assert res.status_code == 404 and res.json()["error"]["code"] == "BOOKING_NOT_FOUND"
    bad = await client.post(f"/api/bookings/{booking['id']}/reminder", headers=headers, json={"subscribe": "maybe"})
    assert bad.status_code == 422
    await client.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
    gone = await client.post(f"/api/bookings/{booking['id']}/reminder", headers=headers, json={"subscribe": True})
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "NOT_REMINDABLE"
