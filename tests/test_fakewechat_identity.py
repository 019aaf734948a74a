"""The fake WeChat's people (issue 9): an openid per app, one unionid, 40003 across apps, face verification."""

from __future__ import annotations

import pytest
import requests

from tests.fakewechat import FakeWeChat


@pytest.fixture
def fake():
    with FakeWeChat() as f:
        yield f


def _token(fake, appid, secret):
    return requests.post(fake.base_url + "cgi-bin/stable_token", timeout=5, json={
        "grant_type": "client_credential", "appid": appid, "secret": secret}).json()["access_token"]


def test_one_person_has_an_openid_per_app_and_one_unionid(fake):
    p = fake.person("张三", "110101199003070019")
    mp = requests.get(fake.base_url + "sns/jscode2session", timeout=5, params={
        "appid": fake.mp_appid, "secret": fake.mp_secret, "js_code": p.mp_code(),
        "grant_type": "authorization_code"}).json()
    oa = requests.get(fake.base_url + "sns/oauth2/access_token", timeout=5, params={
        "appid": fake.appid, "secret": fake.secret, "code": p.oa_code(), "grant_type": "authorization_code"}).json()
    assert mp["openid"] == p.mp_openid and oa["openid"] == p.oa_openid
    assert p.mp_openid != p.oa_openid
    assert mp["unionid"] == p.unionid and "unionid" not in oa  # snsapi_base carries no unionid
    token = _token(fake, fake.appid, fake.secret)
    info = requests.get(fake.base_url + "cgi-bin/user/info", timeout=5,
                        params={"access_token": token, "openid": p.oa_openid}).json()
    assert info == {"subscribe": 0, "openid": p.oa_openid}  # a non-follower: "拉取不到其余信息"
    fake.follow(p.oa_openid)
    info = requests.get(fake.base_url + "cgi-bin/user/info", timeout=5,
                        params={"access_token": token, "openid": p.oa_openid}).json()
    assert info["subscribe"] == 1 and info["unionid"] == p.unionid
    # A mini-program code is no good for the public account's web authorisation.
    wrong = requests.get(fake.base_url + "sns/oauth2/access_token", timeout=5, params={
        "appid": fake.appid, "secret": fake.secret, "code": p.mp_code(), "grant_type": "authorization_code"}).json()
    assert wrong["errcode"] == 40029


def test_a_send_to_another_apps_openid_is_40003(fake):
    p = fake.person()
    token = _token(fake, fake.appid, fake.secret)
    body = {"touser": p.mp_openid, "template_id": "t", "data": {"thing1": {"value": "x"}}}
    res = requests.post(fake.base_url + "cgi-bin/message/template/send", params={"access_token": token},
                        json=body, timeout=5).json()
    assert res["errcode"] == 40003 and fake.sent("template") == []
    fake.follow(p.oa_openid)  # template messages reach followers only (43004 otherwise)
    res = requests.post(fake.base_url + "cgi-bin/message/template/send", params={"access_token": token},
                        json={**body, "touser": p.oa_openid}, timeout=5).json()
    assert res["errcode"] == 0


def _verify(fake, person, name, id_number, *, out_seq_no="seq-00001"):
    token = _token(fake, fake.mp_appid, fake.mp_secret)
    cert = {"cert_type": "IDENTITY_CARD", "cert_name": name, "cert_no": id_number}
    vid = requests.post(fake.base_url + "cityservice/face/identify/getverifyid", params={"access_token": token},
                        json={"out_seq_no": out_seq_no, "cert_info": cert, "openid": person.mp_openid},
                        timeout=5).json()["verify_id"]
    return requests.post(fake.base_url + "cityservice/face/identify/queryverifyinfo", params={"access_token": token},
                         json={"verify_id": vid, "out_seq_no": out_seq_no, "cert_hash": FakeWeChat.cert_hash(cert),
                               "openid": person.mp_openid}, timeout=5).json()


def test_face_verification_succeeds_only_for_the_person_doing_it(fake):
    owner = fake.person("李四", "110101199003070035")
    stranger = fake.person("王五", "110101199003070051")
    assert _verify(fake, owner, "李四", "110101199003070035")["verify_ret"] == 10000
    assert _verify(fake, stranger, "李四", "110101199003070035", out_seq_no="seq-00002")["verify_ret"] == 10004
    fake.face_doers[owner.mp_openid] = stranger  # someone else holds the owner's phone
    assert _verify(fake, owner, "李四", "110101199003070035", out_seq_no="seq-00003")["verify_ret"] == 10004


def test_cert_hash_matches_wechats_documented_example():
    cert = {"cert_type": "IDENTITY_CARD", "cert_name": "张三", "cert_no": "310101199801011234"}
    assert FakeWeChat.cert_hash(cert) == "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"


def _exchange(fake, code):
    return requests.get(fake.base_url + "sns/oauth2/access_token", timeout=5, params={
        "appid": fake.appid, "secret": fake.secret, "code": code, "grant_type": "authorization_code"}).json()


def test_snsapi_userinfo_asks_a_non_follower_and_only_it_gives_the_unionid(fake):
    """网页授权: snsapi_base is silent and gives no unionid; snsapi_userinfo shows the consent page (silent only for a
    follower opening from the menu), its code's access_token answer carries the unionid, and sns/userinfo takes
    the user's own web token of that scope."""
    p = fake.person()
    fake.web_user = p
    url = ("/connect/oauth2/authorize?appid={appid}&redirect_uri=http%3A%2F%2Fx.test%2Fcb%3Fa%3D1&response_type=code"
           "&scope={scope}&state=s9")
    status, location = fake.authorize_page(url.format(appid=fake.appid, scope="snsapi_base"))
    assert status == 302 and "code=" in location  # silent
    base = _exchange(fake, location.split("code=")[1].split("&")[0])
    assert base["scope"] == "snsapi_base" and base["openid"] == p.oa_openid and "unionid" not in base
    refused = requests.get(fake.base_url + "sns/userinfo", timeout=5, params={
        "access_token": base["access_token"], "openid": p.oa_openid}).json()
    assert refused["errcode"] == 48001  # a snsapi_base token cannot read the user's information

    # A non-follower: the consent page, then 允许 -> the code; the unionid comes in the access_token answer.
    status, page = fake.authorize_page(url.format(appid=fake.appid, scope="snsapi_userinfo"))
    assert status == 200 and "允许" in page and "拒绝" in page
    allow = page.split('id="allow" href="')[1].split('"')[0]
    status, location = fake.consent_answer(allow)
    assert status == 302 and location.startswith("http://x.test/cb?a=1&code=") and location.endswith("&state=s9")
    assert fake.consent_answer(allow)[0] == 400  # the page's answer counts once
    full = _exchange(fake, location.split("code=")[1].split("&")[0])
    assert full["scope"] == "snsapi_userinfo" and full["unionid"] == p.unionid and full["openid"] == p.oa_openid
    info = requests.get(fake.base_url + "sns/userinfo", timeout=5, params={
        "access_token": full["access_token"], "openid": p.oa_openid, "lang": "zh_CN"}).json()
    assert info["unionid"] == p.unionid and info["openid"] == p.oa_openid
    assert requests.get(fake.base_url + "sns/userinfo", timeout=5, params={
        "access_token": full["access_token"], "openid": p.mp_openid}).json()["errcode"] == 40003
    assert requests.get(fake.base_url + "sns/userinfo", timeout=5, params={
        "access_token": _token(fake, fake.appid, fake.secret), "openid": p.oa_openid}).json()["errcode"] == 40001

    # 拒绝: no redirect by default (WeChat does not tell the page), the documented state-only one when asked.
    status, page = fake.authorize_page(url.format(appid=fake.appid, scope="snsapi_userinfo"))
    status, text = fake.consent_answer(page.split('id="deny" href="')[1].split('"')[0])
    assert status == 200 and "拒绝" in text
    fake.decline_redirects = True
    status, page = fake.authorize_page(url.format(appid=fake.appid, scope="snsapi_userinfo"))
    status, location = fake.consent_answer(page.split('id="deny" href="')[1].split('"')[0])
    assert (status, location) == (302, "http://x.test/cb?a=1&state=s9")

    # A follower opening from the menu: silent even for snsapi_userinfo; from a shared link: asked.
    fake.follow(p.oa_openid)
    status, location = fake.authorize_page(url.format(appid=fake.appid, scope="snsapi_userinfo"))
    assert status == 302 and _exchange(fake, location.split("code=")[1].split("&")[0])["unionid"] == p.unionid
    fake.web_entry = "link"
    assert fake.authorize_page(url.format(appid=fake.appid, scope="snsapi_userinfo"))[0] == 200
    # An account not bound to an open platform gets no unionid even with the user's consent.
    fake.open_platform_apps.discard(fake.appid)
    assert "unionid" not in _exchange(fake, p.oa_code(scope="snsapi_userinfo"))
