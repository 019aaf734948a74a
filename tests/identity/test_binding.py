"""One citizen, one identity (issue 9): binding proven by face verification or at the counter, takeover of an
ID number from an unverified binding, and one person across the mini-program and the public account."""

from __future__ import annotations

import time
import uuid

import pytest

from models import AuditLog, Citizen, NoticeDelivery
from notices.config import load_config
from server.core import auth
from tests.booking.conftest import MONDAY, at, book, error_code, unique_id_number
from tests.factories import face_bind, login_citizen, staff_headers
from tests.notices.conftest import write_config
from tests.notices.helpers import create_notice, follow, join, make_org, submit, wait_status
from tests.wechat.helpers import WeChatServer, event_xml


@pytest.fixture
def settings(settings):
    write_config(settings.home)  # the notices' fast test configuration (template ids set)
    return settings.model_copy(update={"jobs_backend": "inline"})


@pytest.fixture
def clock(live):
    live.ctx.clock.set(MONDAY)
    return live.ctx.clock


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def mp_login(client, person) -> dict[str, str]:
    return bearer(await login_citizen(client, person.mp_code()))


def chinese(res) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in res.json()["error"]["message"])


# ------------------------------------------------------------------------------------------- binding


async def test_a_stranger_cannot_bind_someone_elses_id(client, fake_wechat):
    owner = fake_wechat.person("李四", unique_id_number())
    stranger = fake_wechat.person("王五", unique_id_number())
    headers = await mp_login(client, stranger)
    res = await face_bind(client, headers, name=owner.name, id_number=owner.id_number)
    assert res.status_code == 403 and error_code(res) == "FACE_VERIFY_FAILED" and chinese(res)
    assert "窗口" in res.json()["error"]["message"]  # says what to do
    me = (await client.get("/api/mp/me", headers=headers)).json()
    assert me["bound"] is False and me["id_number"] is None
    # The self-declared body of old is refused outright.
    res = await client.post("/api/mp/binding", headers=headers,
                            json={"name": owner.name, "id_number": owner.id_number, "mobile": "13800001111"})
    assert res.status_code == 422 and error_code(res) == "SELF_DECLARED_BINDING_REFUSED" and chinese(res)
    # A verify_id is good only for the account that started it, and only once.
    own = await mp_login(client, owner)
    started = await client.post("/api/mp/binding/verify", headers=own,
                                json={"name": owner.name, "id_number": owner.id_number})
    verify_id = started.json()["verify_id"]
    res = await client.post("/api/mp/binding", headers=headers, json={"verify_id": verify_id})
    assert res.status_code == 404 and error_code(res) == "VERIFY_ID_INVALID"
    assert (await client.post("/api/mp/binding", headers=own, json={"verify_id": verify_id})).status_code == 200
    res = await client.post("/api/mp/binding", headers=own, json={"verify_id": verify_id})
    assert res.status_code == 404
    # The getverifyid call carried the caller's mini-program openid and WeChat's cert_hash checked out.
    call = fake_wechat.calls_to("cityservice/face/identify/getverifyid")[-1]
    assert call.json["openid"] == owner.mp_openid and call.appid == fake_wechat.mp_appid


async def test_someone_else_at_the_phone_fails_and_a_cancelled_verification_says_so(client, fake_wechat):
    owner = fake_wechat.person("赵六", unique_id_number())
    headers = await mp_login(client, owner)
    fake_wechat.face_doers[owner.mp_openid] = fake_wechat.person("钱七", unique_id_number())
    res = await face_bind(client, headers, name=owner.name, id_number=owner.id_number)
    assert error_code(res) == "FACE_VERIFY_FAILED"
    fake_wechat.face_doers[owner.mp_openid] = 90004  # the user cancelled during recognition
    res = await face_bind(client, headers, name=owner.name, id_number=owner.id_number)
    assert res.status_code == 409 and error_code(res) == "FACE_VERIFY_INCOMPLETE"
    del fake_wechat.face_doers[owner.mp_openid]
    res = await face_bind(client, headers, name=owner.name, id_number=owner.id_number)
    assert res.status_code == 200 and res.json()["bound"] is True and res.json()["verification"] == "face"


async def _legacy_claim(live, citizen_headers, *, name: str, id_number: str) -> Citizen:
    """What migration 0002 leaves of a self-declared binding: the claim, no verified ID."""
    cipher = live.ctx.cipher
    me = await auth.principal_for_token(live.app, citizen_headers["Authorization"].split()[1])
    row = await Citizen.get(id=me.id)
    row.name_enc, row.id_number_enc = cipher.encrypt(name), cipher.encrypt(id_number)
    row.claimed_id_hash = cipher.digest(id_number, purpose="id")
    await row.save()
    return row


async def test_a_verified_owner_takes_the_id_back(live, client, fake_wechat, clock):
    clock.set(at(23, 9, 30))  # the hotline answers 9:00–17:00 on working days (center.yaml)
    owner = fake_wechat.person("孙八", unique_id_number())
    stranger = fake_wechat.person("周九", unique_id_number())
    thief = await mp_login(client, stranger)
    await _legacy_claim(live, thief, name=owner.name, id_number=owner.id_number)
    # The owner booked by the hotline; the unverified claim sees and does nothing keyed by the ID number.
    hotline = await staff_headers(client, role="hotline")
    res = await client.post("/api/staff/bookings", headers=hotline, json={
        "name": owner.name, "id_number": owner.id_number, "mobile": "13900002222", "hall": "center",
        "business_type": "secondhand_transfer", "date": "2026-11-24", "start": "09:00"})
    assert res.status_code == 201, res.text
    booking_id = res.json()["id"]
    me = (await client.get("/api/mp/me", headers=thief)).json()
    assert me["bound"] is False and me["verification"] == "unverified"
    assert (await client.get("/api/bookings", headers=thief)).json()["items"] == []
    assert (await client.get(f"/api/bookings/{booking_id}", headers=thief)).status_code == 404
    assert (await client.post(f"/api/bookings/{booking_id}/cancel", headers=thief)).status_code == 404
    assert error_code(await book(client, thief)) == "NOT_BOUND"
    assert error_code(await client.get("/api/mp/cases", headers=thief)) == "REAL_NAME_REQUIRED"

    # The owner verifies by face: the ID number is theirs, with no "bound elsewhere" in the way.
    own = await mp_login(client, owner)
    res = await face_bind(client, own, name=owner.name, id_number=owner.id_number, mobile="13911112222")
    assert res.status_code == 200, res.text
    assert [b["id"] for b in (await client.get("/api/bookings", headers=own)).json()["items"]] == [booking_id]
    me = (await client.get("/api/mp/me", headers=thief)).json()
    assert me["bound"] is False and me["verification"] is None and me["id_number"] is None
    # A later verified account of the same person (a new phone) takes it over again.
    again = await mp_login(client, fake_wechat.person(owner.name, owner.id_number))
    assert (await face_bind(client, again, name=owner.name, id_number=owner.id_number)).status_code == 200
    assert (await client.get("/api/bookings", headers=own)).json()["items"] == []
    assert await Citizen.filter(id_hash__not_isnull=True, verified_by="face").count() == 1


async def test_counter_code_binds_once_for_the_checked_id(live, client, fake_wechat):
    person = fake_wechat.person("吴十", unique_id_number())
    hall_staff = await staff_headers(client, role="hall_staff", hall_code="center")
    body = {"name": person.name, "id_number": person.id_number}
    other_hall = await client.post("/api/staff/binding-codes", headers=hall_staff, json=body | {"hall_code": "east"})
    assert other_hall.status_code == 403 and error_code(other_hall) == "HALL_FORBIDDEN"
    reviewer = await staff_headers(client, role="reviewer")
    assert (await client.post("/api/staff/binding-codes", headers=reviewer, json=body)).status_code == 403
    citizen = bearer(await login_citizen(client))
    assert (await client.post("/api/staff/binding-codes", headers=citizen, json=body)).status_code == 403
    res = await client.post("/api/staff/binding-codes", headers=hall_staff, json=body)
    assert res.status_code == 201, res.text
    issued = res.json()
    assert len(issued["binding_code"]) == 8 and issued["expires_in"] <= 600 and issued["hall"] == "center"
    assert person.id_number not in res.text  # masked
    audit = await AuditLog.filter(action="identity.binding_code.issue").first()
    assert audit is not None and audit.actor_kind == "staff" and person.id_number not in str(audit.__dict__)

    headers = await mp_login(client, person)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in issued["binding_code"])  # full-width digits from an IME
    res = await client.post("/api/mp/binding/counter", headers=headers, json={"binding_code": wide})
    assert res.status_code == 200 and res.json()["verification"] == "counter" and res.json()["bound"] is True
    other = bearer(await login_citizen(client))
    res = await client.post("/api/mp/binding/counter", headers=other, json={"binding_code": issued["binding_code"]})
    assert res.status_code == 422 and error_code(res) == "BINDING_CODE_INVALID" and chinese(res)
    for _ in range(4):
        await client.post("/api/mp/binding/counter", headers=other, json={"binding_code": "00000000"})
    res = await client.post("/api/mp/binding/counter", headers=other, json={"binding_code": "12345678"})
    assert res.status_code == 429 and error_code(res) == "BINDING_CODE_LIMIT"


# ------------------------------------------------------------------------------------- across the apps


async def test_the_public_account_openid_finds_the_cases_of_the_mini_program_binding(live, client, fake_wechat):
    from server.progress import service as progress
    from tests.progress.conftest import Ingest, created

    person = fake_wechat.person("郑一", unique_id_number())
    headers = await mp_login(client, person)
    assert (await face_bind(client, headers, name=person.name, id_number=person.id_number)).status_code == 200
    key, secret = await progress.create_client(cipher=live.ctx.cipher, name=f"bdc-{uuid.uuid4().hex[:6]}")
    ingest = Ingest(client, key.key_id, secret)
    await ingest.send(created("2026-0930-000777", [(person.name, person.id_number)]),
                      created("2026-0930-000888", [("别人", unique_id_number())]))
    wechat = WeChatServer(client, fake_wechat.appid)
    # The person follows and writes in the public account (never seen there before): user/info links it by
    # unionid (WeChat tells a non-follower's unionid to nobody).
    fake_wechat.follow(person.oa_openid)
    answer = await wechat.ask(person.oa_openid, "我的案子办到哪了")
    assert "2026-0930-000777" in answer and "2026-0930-000888" not in answer
    assert "受理编号 2026-0930-000777" in await wechat.ask(person.oa_openid, "2026-0930-000777 办到哪了")
    row = await Citizen.get(id_hash__not_isnull=True)
    assert (row.openid, row.oa_openid, row.unionid) == (person.mp_openid, person.oa_openid, person.unionid)
    # Someone else in the public account gets the receipt-number prompt, not these cases.
    stranger = fake_wechat.person()
    fake_wechat.follow(stranger.oa_openid)
    answer = await wechat.ask(stranger.oa_openid, "我的案子办到哪了")
    assert "2026-0930-000777" not in answer and "受理编号" in answer
    assert all(c.errcode != 40003 for c in fake_wechat.calls)


async def test_a_notice_reaches_a_member_who_joined_in_the_mini_program_without_40003(live, client, fake_wechat):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin, type="developer")
    mp_only, mp_openid = await join(client, fake_wechat, admin, org["id"], follows_oa=False)
    _, oa_openid = await join(client, fake_wechat, admin, org["id"])  # joined in the MP, follows the account
    # The mini-program-only member tapped 允许 for the notice subscribe message (WeChat answers 43101 without).
    fake_wechat.accept_subscription(mp_openid, load_config(live.ctx.settings).public_template.template_id)
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    assert all(c.errcode != 40003 for c in fake_wechat.calls)
    template = fake_wechat.sent("template")
    assert [b["touser"] for b in template] == [oa_openid]
    assert "first" not in template[0]["data"] and "remark" not in template[0]["data"]
    assert template[0]["url"].endswith(f"/notices/{notice['id']}")
    assert [b["touser"] for b in fake_wechat.sent("subscribe")] == [mp_openid]
    rows = await NoticeDelivery.filter(notice_id=notice["id"])
    assert sorted(r.status for r in rows) == ["sent", "sent"]
    # The mini-program-only member reads it in the inbox, like anyone else.
    inbox = (await client.get("/api/mp/inbox", headers=mp_only)).json()
    assert inbox["total"] == 1 and inbox["items"][0]["notice_id"] == notice["id"]


async def test_a_member_who_joined_in_the_public_account_sees_the_inbox_in_the_mini_program(live, client,
                                                                                            fake_wechat):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin, type="bank")
    person = fake_wechat.person()
    res = await client.post(f"/api/staff/orgs/{org['id']}/invitations", headers=admin, json={})
    await follow(client, fake_wechat, person.oa_openid)
    # Scanning the invitation QR in the public account joins with the public-account openid.
    await WeChatServer(client, fake_wechat.appid).post(event_xml(person.oa_openid, "SCAN", key=res.json()["scene"]))
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    assert [b["touser"] for b in fake_wechat.sent("template")] == [person.oa_openid]
    headers = await mp_login(client, person)  # the same person opens the mini-program
    inbox = (await client.get("/api/mp/inbox", headers=headers)).json()
    assert inbox["total"] == 1
    memberships = (await client.get("/api/mp/org/memberships", headers=headers)).json()["items"]
    assert [m["org"]["id"] for m in memberships] == [org["id"]]


async def test_qr_check_in_with_an_expired_scene_is_refused(live, client, fake_wechat, clock):
    from server.booking import checkin_qr

    person = fake_wechat.person("冯二", unique_id_number())
    headers = await mp_login(client, person)
    assert (await face_bind(client, headers, name=person.name, id_number=person.id_number)).status_code == 200
    assert error_code(await book(client, headers, start="10:00")) == "NOT_BOUND"  # booking needs a mobile
    assert (await face_bind(client, headers, name=person.name, id_number=person.id_number,
                            mobile="13912345678")).status_code == 200
    assert (await book(client, headers, start="10:00")).status_code == 201
    clock.set(at(24, 9, 40))
    qr = await checkin_qr.current_checkin_qr(live.app, hall_code="center")
    assert qr["image_url"] and fake_wechat.qrcodes[-1]["action_info"]["scene"]["scene_str"] == qr["scene"]
    assert qr["refresh_at"] < qr["expires_at"]
    wechat = WeChatServer(client, fake_wechat.appid)
    fake_wechat.follow(person.oa_openid)  # a SCAN event comes from a follower (a non-follower's scan subscribes)
    clock.set(at(24, 9, 52))  # the photo of the 09:40 code, twelve minutes later
    reply = wechat.reply(await wechat.post(event_xml(person.oa_openid, "SCAN", key=qr["scene"])))
    assert "已过期" in reply["Content"]
    fresh = await checkin_qr.current_checkin_qr(live.app, hall_code="center")
    assert fresh["scene"] != qr["scene"]
    # (A later push: WeChat's retries of one push share its CreateTime, and those are answered once.)
    later = event_xml(person.oa_openid, "SCAN", key=fresh["scene"], create_time=int(time.time()) + 1)
    reply = wechat.reply(await wechat.post(later))
    assert "签到成功" in reply["Content"]


# ------------------------------------------------------------------------------------------ public account login


async def test_public_account_web_authorisation_logs_the_person_in(live, client, fake_wechat):
    person = fake_wechat.person("陈三", unique_id_number())
    fake_wechat.follow(person.oa_openid)  # opened from the account's menu; only a follower's unionid is told
    headers = await mp_login(client, person)
    assert (await face_bind(client, headers, name=person.name, id_number=person.id_number)).status_code == 200
    res = await client.get("/api/oa/oauth/authorize", params={"next": "/h5/bookings?x=1"})
    assert res.status_code == 302
    location = res.headers["location"]
    assert "scope=snsapi_base" in location and location.endswith("#wechat_redirect")
    assert f"appid={fake_wechat.appid}" in location and "redirect_uri=http" in location
    state = location.split("state=")[1].split("#")[0].split("&")[0]
    res = await client.get("/api/oa/oauth/callback", params={"code": person.oa_code(), "state": state})
    assert res.status_code == 302 and res.headers["location"] == "/h5/bookings?x=1"
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"{auth.CITIZEN_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = res.cookies[auth.CITIZEN_COOKIE]
    principal = await auth.principal_for_token(live.app, token)
    me = (await client.get("/api/mp/me", headers=headers)).json()
    assert principal.id == me["id"] and principal.openid == person.oa_openid  # one person, the OA's openid
    assert (await client.get("/api/mp/me", headers=bearer(token))).json()["bound"] is True
    # The state works once; a forged one is refused; no state -> JSON with the token.
    again = await client.get("/api/oa/oauth/callback", params={"code": person.oa_code(), "state": state})
    assert again.status_code == 400 and error_code(again) == "OAUTH_STATE_INVALID"
    res = await client.get("/api/oa/oauth/authorize")
    state = res.headers["location"].split("state=")[1].split("#")[0].split("&")[0]
    res = await client.get("/api/oa/oauth/callback", params={"code": person.oa_code(), "state": state})
    assert res.status_code == 200 and res.json()["citizen"]["id"] == me["id"] and res.json()["token"]
    # A mini-program code is not a public-account code; redirects only to our own /h5/ pages.
    res = await client.get("/api/oa/oauth/authorize")
    state = res.headers["location"].split("state=")[1].split("#")[0].split("&")[0]
    res = await client.get("/api/oa/oauth/callback", params={"code": person.mp_code(), "state": state})
    assert res.status_code == 401 and error_code(res) == "OAUTH_CODE_INVALID"
    for bad in ("https://evil.example/h5/", "//evil.example/h5", "/h5/../api/x", "/api/mp/me"):
        res = await client.get("/api/oa/oauth/authorize", params={"next": bad})
        assert res.status_code == 422 and error_code(res) == "OAUTH_NEXT_INVALID"


async def test_login_without_a_mini_program_appid_says_so(settings):
    from tests.conftest import start_app, stop_app

    live, server = await start_app(settings.model_copy(update={"mp_appid": ""}), seed=False)
    try:
        res = await live.http.post("/api/mp/login", json={"code": "abc"})
        assert res.status_code == 503 and error_code(res) == "WECHAT_NOT_CONFIGURED"
        assert res.json()["error"]["message"].startswith("未配置小程序 AppID")
        res = await live.http.post("/api/dev/citizen", json={"name": "张三", "id_number": unique_id_number()})
        assert res.status_code == 200 and res.json()["citizen"]["verification"] == "dev"
        me = await live.http.get("/api/mp/me", headers=bearer(res.json()["token"]))
        assert me.json()["bound"] is True
    finally:
        await stop_app(live, server)


async def test_subscribe_event_links_the_public_account_openid(live, client, fake_wechat):
    person = fake_wechat.person()
    await follow(client, fake_wechat, person.oa_openid)
    row = await Citizen.get(oa_openid=person.oa_openid)
    assert row.unionid == person.unionid and row.openid is None
    await login_citizen(client, person.mp_code())
    assert await Citizen.filter(unionid=person.unionid).count() == 1
    assert (await Citizen.get(id=row.id)).openid == person.mp_openid
    # A message from an account WeChat cannot give a unionid for stays answerable.
    assert await WeChatServer(client, fake_wechat.appid).ask("o-hand-written-openid", "你好")
