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
