"""The fake WeChat server, driven by the real wechatpy client and plain HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.client.api import WeChatWxa
from wechatpy.exceptions import APILimitedException, WeChatClientException

from tests.fakewechat import FakeWeChat

TEMPLATE_ID = "tpl-registration-progress"
DATA = {"thing1": {"value": "不动产转移登记"}, "phrase2": {"value": "已受理"}}


@pytest.fixture
def fake():
    with FakeWeChat() as f:
        yield f


def make_client(
    fake: FakeWeChat, appid: str | None = None, secret: str | None = None, **kwargs
) -> WeChatClient:
    """A genuine wechatpy client whose every URL points at the fake."""
    base = fake.base_url

    class FakeWxa(WeChatWxa):
        API_BASE_URL = base

    class Client(WeChatClient):
        API_BASE_URL = base + "cgi-bin/"
        wxa = FakeWxa()

        # wechatpy hard-codes the token URL instead of using API_BASE_URL.
        def fetch_access_token(self):
            return self._fetch_access_token(
                url=base + "cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )

    return Client(appid or fake.appid, secret or fake.secret, **kwargs)


def stable_token(fake, *, appid=None, secret=None, force_refresh=False, session=requests):
    return session.post(
        fake.base_url + "cgi-bin/stable_token",
        json={
            "grant_type": "client_credential",
            "appid": appid or fake.appid,
            "secret": secret or fake.secret,
            "force_refresh": force_refresh,
        },
        timeout=5,
    ).json()


def test_base_url_is_local_with_trailing_slash(fake):
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/")
    assert int(fake.base_url.rstrip("/").rsplit(":", 1)[1]) > 0


# ------------------------------------------------------------ mini-program login


def test_jscode2session_is_deterministic_per_code(fake):
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    first = client.wxa.code_to_session("code-abc")
    other = client.wxa.code_to_session("code-xyz")

    assert first["openid"] == FakeWeChat.openid_for("code-abc") == FakeWeChat.openid_for("code-abc")
    assert len(first["openid"]) == 28
    assert other["openid"] != first["openid"]
    assert first["unionid"] == fake.unionid_for(first["openid"])
    assert first["session_key"]
    call = fake.calls_to("sns/jscode2session")[0]
    assert call.query["js_code"] == "code-abc"
    assert call.query["appid"] == fake.mp_appid


def test_jscode2session_invalid_codes(fake):
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.code_to_session("invalid")
    assert exc.value.errcode == 40029

    fake.invalid_codes.add("stale-code")
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.code_to_session("stale-code")
    assert exc.value.errcode == 40029


def test_jscode2session_rejects_wrong_secret(fake):
    # No access token needed for jscode2session, so call it with plain requests.
    resp = requests.get(
        fake.base_url + "sns/jscode2session",
        params={
            "appid": fake.mp_appid,
            "secret": "wrong",
            "js_code": "c1",
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()
    assert resp["errcode"] == 40125
    assert "openid" not in resp


def test_code_openids_pins_two_codes_to_one_user(fake):
    fake.code_openids["second-login"] = FakeWeChat.openid_for("first-login")
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    assert (
        client.wxa.code_to_session("second-login")["openid"]
        == client.wxa.code_to_session("first-login")["openid"]
    )


def test_login_codes_are_single_use(fake):
    """code2Session: a wx.login code is good for one exchange; again it answers 40163 "code been used"."""
    assert fake.used_codes_fail  # the default: WeChat's rule
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    client.wxa.code_to_session("once")
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.code_to_session("once")
    assert exc.value.errcode == 40163


# ---------------------------------------------------------------- stable token


def test_stable_token_returns_same_token_until_force_refresh(fake):
    first = stable_token(fake)
    second = stable_token(fake)
    assert first["access_token"] == second["access_token"]
    assert 7190 <= first["expires_in"] <= 7200
    assert fake.token_fetches == 2
    assert fake.tokens_issued == 1

    refreshed = stable_token(fake, force_refresh=True)
    assert refreshed["access_token"] != first["access_token"]
    assert fake.token_fetches == 3
    assert fake.tokens_issued == 2

    # The replaced token is dead at once; the new one works.
    old = requests.get(
        fake.base_url + "cgi-bin/menu/get", params={"access_token": first["access_token"]}, timeout=5
    ).json()
    assert old["errcode"] == 40001
    new = requests.get(
        fake.base_url + "cgi-bin/menu/get", params={"access_token": refreshed["access_token"]}, timeout=5
    ).json()
    assert new["errcode"] == 46003  # valid token, just no menu yet


def test_stable_token_is_per_app(fake):
    oa = stable_token(fake)
    mp = stable_token(fake, appid=fake.mp_appid, secret=fake.mp_secret)
    assert oa["access_token"] != mp["access_token"]


def test_stable_token_credential_errors(fake):
    assert stable_token(fake, secret="nope")["errcode"] == 40125
    assert stable_token(fake, appid="wx-unknown")["errcode"] == 40013
    bad_grant = requests.post(
        fake.base_url + "cgi-bin/stable_token",
        json={"grant_type": "password", "appid": fake.appid, "secret": fake.secret},
        timeout=5,
    ).json()
    assert bad_grant["errcode"] == 40002
    assert fake.token_fetches == 0


def test_stable_token_new_after_expire_tokens(fake):
    first = stable_token(fake)["access_token"]
    fake.expire_tokens()
    assert stable_token(fake)["access_token"] != first


def test_token_ttl_expiry_gives_42001_and_new_stable_token():
    with FakeWeChat(token_ttl=0.2) as fake:
        token = stable_token(fake)["access_token"]
        time.sleep(0.3)
        resp = requests.get(
            fake.base_url + "cgi-bin/menu/get", params={"access_token": token}, timeout=5
        ).json()
        assert resp["errcode"] == 42001
        assert stable_token(fake)["access_token"] != token


def test_classic_token_is_new_each_time(fake):
    params = {"grant_type": "client_credential", "appid": fake.appid, "secret": fake.secret}
    a = requests.get(fake.base_url + "cgi-bin/token", params=params, timeout=5).json()
    b = requests.get(fake.base_url + "cgi-bin/token", params=params, timeout=5).json()
    assert a["access_token"] != b["access_token"]
    assert a["expires_in"] == 7200
    bad = requests.get(fake.base_url + "cgi-bin/token", params={**params, "secret": "x"}, timeout=5).json()
    assert bad["errcode"] == 40001
    assert fake.token_fetches == 2


# ------------------------------------------------------------ sending messages


def test_subscribe_send_is_recorded(fake):
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    openid = FakeWeChat.openid_for("u1")
    fake.accept_subscription(openid, TEMPLATE_ID)
    result = client.wxa.send_subscribe_message(openid, TEMPLATE_ID, DATA, page="pages/progress/index?id=1")
    assert result["errcode"] == 0
    assert isinstance(result["msgid"], int)

    [body] = fake.sent("subscribe")
    assert body == {
        "touser": openid,
        "template_id": TEMPLATE_ID,
        "data": DATA,
        "page": "pages/progress/index?id=1",
    }
    assert fake.sent("subscribe", touser="someone-else") == []
    assert fake.sent("template") == []
    call = fake.calls_to("/cgi-bin/message/subscribe/send")[0]
    assert call.method == "POST"
    assert call.appid == fake.mp_appid  # token belonged to the mini-program
    assert call.json["data"]["thing1"]["value"] == "不动产转移登记"
    assert fake.token_fetches == 1


def test_template_and_custom_messages(fake):
    client = make_client(fake)
    fake.follow("oOPENID")
    fake.user_message("oOPENID")
    r1 = client.message.send_template("oOPENID", "tpl-1", DATA, url="https://example.cn")
    r2 = client.message.send_template("oOPENID", "tpl-1", DATA)
    assert r1["msgid"] != r2["msgid"]
    client.message.send_text("oOPENID", "您的登记申请已受理")
    assert [b["template_id"] for b in fake.sent("template")] == ["tpl-1", "tpl-1"]
    assert fake.sent("custom")[0]["text"]["content"] == "您的登记申请已受理"
    with pytest.raises(ValueError):
        fake.sent("sms")


def test_template_client_msg_id_dedups_within_window(fake):
    """WeChat's 防重入 id: one message per (touser, client_msg_id) within 10 minutes, same answer again."""
    client = make_client(fake)
    fake.client_msg_id_duplicate_reply = "first"  # undocumented: answer with the first msgid (the default omits it)
    for openid in ("o1", "o2", "o3"):
        fake.follow(openid)

    def send(touser, client_msg_id=None):
        body = {"touser": touser, "template_id": "tpl-1", "data": DATA}
        if client_msg_id is not None:
            body["client_msg_id"] = client_msg_id
        return client.post("message/template/send", data=body)

    first = send("o1", "n1-d1")
    again = send("o1", "n1-d1")
    other_user = send("o2", "n1-d1")
    no_id = [send("o1"), send("o1")]
    assert again["errcode"] == 0 and again["msgid"] == first["msgid"]
    assert other_user["msgid"] != first["msgid"] and no_id[0]["msgid"] != no_id[1]["msgid"]
    assert [b["touser"] for b in fake.sent("template")] == ["o1", "o2", "o1", "o1"]
    assert fake.deduped == 1
    assert len(fake.calls_to("cgi-bin/message/template/send")) == 5  # every request is still recorded
    fake.fail_openids["o3"] = 43101  # a refused send does not take the id
    with pytest.raises(WeChatClientException):
        send("o3", "n1-d3")
    del fake.fail_openids["o3"]
    send("o3", "n1-d3")
    assert len(fake.sent("template", touser="o3")) == 1 and fake.deduped == 1
    fake.client_msg_id_window = 0.05  # past the window the same id is delivered again
    time.sleep(0.06)
    assert send("o1", "n1-d1")["msgid"] != first["msgid"]
    assert len(fake.sent("template", touser="o1")) == 4 and fake.deduped == 1
    fake.reset()
    assert fake.deduped == 0 and fake.client_msg_id_window == 600 and fake.consents_left("o1", "tpl-1") == 0


def test_send_validates_body(fake):
    token = stable_token(fake, appid=fake.mp_appid, secret=fake.mp_secret)["access_token"]
    url = fake.base_url + "cgi-bin/message/subscribe/send"
    no_template = requests.post(
        url, params={"access_token": token}, json={"touser": "o1", "data": {}}, timeout=5
    ).json()
    assert no_template["errcode"] == 40037
    not_json = requests.post(url, params={"access_token": token}, data=b"{oops", timeout=5).json()
    assert not_json["errcode"] == 47001
    assert fake.sent("subscribe") == []


# -------------------------------------------------------------- token errors


def test_expired_token_gives_42001_without_retry(fake):
    client = make_client(fake, auto_retry=False)
    fake.follow("o1")
    client.message.send_template("o1", "tpl", DATA)
    fake.expire_tokens()
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_template("o1", "tpl", DATA)
    assert exc.value.errcode == 42001
    assert len(fake.sent("template")) == 1


def test_unknown_token_gives_40001(fake):
    client = make_client(fake, access_token="not-a-real-token", auto_retry=False)
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_template("o1", "tpl", DATA)
    assert exc.value.errcode == 40001
    missing = requests.post(
        fake.base_url + "cgi-bin/message/template/send", json={"touser": "o1"}, timeout=5
    ).json()
    assert missing["errcode"] == 41001


def test_wechatpy_auto_retry_recovers_after_expiry(fake):
    client = make_client(fake)
    fake.follow("o1")
    client.message.send_template("o1", "tpl", DATA)
    fake.expire_tokens()
    client.message.send_template("o1", "tpl", DATA)
    assert len(fake.sent("template")) == 2
    assert fake.token_fetches == 2
    assert [c.errcode for c in fake.calls_to("cgi-bin/message/template/send")] == [0, 42001, 0]


# ------------------------------------------------------------ fault injection


def test_fail_next_injects_errors_then_recovers(fake):
    client = make_client(fake, auto_retry=False)
    fake.follow("o1")
    fake.fail_next("cgi-bin/message/template/send", 45009)
    fake.fail_next("/cgi-bin/message/template/send", -1, times=2, errmsg="system busy")

    with pytest.raises(APILimitedException):
        client.message.send_template("o1", "tpl", DATA)
    for _ in range(2):
        with pytest.raises(WeChatClientException) as exc:
            client.message.send_template("o1", "tpl", DATA)
        assert exc.value.errcode == -1
        assert exc.value.errmsg == "system busy"
    assert client.message.send_template("o1", "tpl", DATA)["errcode"] == 0
    assert len(fake.sent("template")) == 1  # failed attempts were not delivered


def test_fail_next_can_fake_expired_token_on_a_valid_one(fake):
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    fake.accept_subscription("o1", TEMPLATE_ID, times=2)
    client.wxa.send_subscribe_message("o1", TEMPLATE_ID, DATA)
    fake.fail_next("cgi-bin/message/subscribe/send", 42001)
    client.wxa.send_subscribe_message("o1", TEMPLATE_ID, DATA)  # wechatpy refetches and retries
    assert len(fake.sent("subscribe")) == 2
    assert fake.token_fetches == 2


def test_fail_next_http_status(fake):
    client = make_client(fake, auto_retry=False)
    fake.fail_next("cgi-bin/message/custom/send", -1, status=502)
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_text("o1", "hi")
    assert exc.value.response.status_code == 502


def test_fail_openids(fake):
    fake.fail_openids["o-refused"] = 43101
    fake.fail_openids["o-bogus"] = 40003
    client = make_client(fake, fake.mp_appid, fake.mp_secret, auto_retry=False)
    for openid, code in (("o-refused", 43101), ("o-bogus", 40003), ("o-refused", 43101)):
        with pytest.raises(WeChatClientException) as exc:
            client.wxa.send_subscribe_message(openid, TEMPLATE_ID, DATA)
        assert exc.value.errcode == code
    fake.accept_subscription("o-fine", TEMPLATE_ID)
    client.wxa.send_subscribe_message("o-fine", TEMPLATE_ID, DATA)
    assert [b["touser"] for b in fake.sent("subscribe")] == ["o-fine"]


def test_rate_limit_per_second(fake):
    """Too many calls a second answer 45011, WeChat's frequency limit ("api minute-quota reach limit")."""
    fake.rate_limit_per_second = 5
    fake.user_message("o1")
    token = stable_token(fake)["access_token"]
    url = fake.base_url + "cgi-bin/message/custom/send"
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "x"}}
    with requests.Session() as s:
        codes = [
            s.post(url, params={"access_token": token}, json=body, timeout=5).json()["errcode"]
            for _ in range(8)
        ]
    assert codes.count(0) == 5
    assert codes.count(45011) == 3
    assert len(fake.sent("custom")) == 5


def test_latency(fake):
    fake.latency = 0.15
    started = time.monotonic()
    stable_token(fake)
    assert time.monotonic() - started >= 0.15


# ---------------------------------------------------- other endpoints, routing


def test_menu_qrcode_user_info(fake):
    client = make_client(fake)
    menu = {"button": [{"type": "view", "name": "办事指南", "url": "https://example.cn/guide"}]}
    client.menu.create(menu)
    assert client.menu.get()["menu"] == menu
    client.menu.delete()
    assert client.menu.get() is None  # wechatpy maps 46003 "menu no exist" to None
    assert fake.calls_to("cgi-bin/menu/get")[-1].errcode == 46003

    qr = client.qrcode.create(
        {
            "expire_seconds": 600,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": "window-3"}},
        }
    )
    assert qr["ticket"] and qr["url"].startswith("http://weixin.qq.com/q/")
    assert qr["expire_seconds"] == 600
    assert fake.qrcodes[0]["action_info"]["scene"]["scene_str"] == "window-3"

    fake.follow("o-sub")
    fake.users["o-unsub"] = {"subscribe": 0}
    assert client.user.get("o-sub")["subscribe"] == 1
    assert client.user.get("o-unsub")["subscribe"] == 0


def test_unknown_path_and_wrong_method(fake):
    resp = requests.get(fake.base_url + "cgi-bin/does/not/exist", timeout=5)
    assert resp.status_code == 404
    assert resp.json()["errcode"] == -1
    wrong = requests.get(fake.base_url + "cgi-bin/message/subscribe/send", timeout=5).json()
    assert wrong["errcode"] == 43002
    assert [c.status for c in fake.calls] == [404, 200]


def test_reset_forgets_state_and_tokens(fake):
    client = make_client(fake, auto_retry=False)
    fake.follow("o1")
    client.message.send_template("o1", "tpl", DATA)
    fake.fail_next("cgi-bin/menu/get", -1)
    fake.latency = 0.5
    fake.reset()
    assert fake.calls == [] and fake.sent("template") == [] and fake.token_fetches == 0
    assert fake.latency == 0
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_template("o1", "tpl", DATA)
    assert exc.value.errcode == 40001


def test_wait_sent(fake):
    client = make_client(fake)
    assert client.access_token  # fetch the token up front
    fake.user_message("o1")

    def later():
        time.sleep(0.1)
        client.message.send_text("o1", "办结通知")

    threading.Thread(target=later).start()
    assert fake.wait_sent("custom", 1, timeout=5)[0]["touser"] == "o1"
    with pytest.raises(TimeoutError):
        fake.wait_sent("custom", 2, timeout=0.1)


# --------------------------------------------------------- transport, speed


def test_keep_alive_reuses_one_connection(fake):
    token = stable_token(fake)["access_token"]
    before = fake.connections
    with requests.Session() as s:
        for _ in range(30):
            s.get(
                fake.base_url + "cgi-bin/user/info", params={"access_token": token, "openid": "o1"}, timeout=5
            ).raise_for_status()
    assert fake.connections - before == 1


def test_httpx_async_client(fake):
    fake.accept_subscription("o1", "t", times=50)

    async def run():
        async with httpx.AsyncClient(base_url=fake.base_url) as http:
            tok = (
                await http.post(
                    "cgi-bin/stable_token",
                    json={"grant_type": "client_credential", "appid": fake.mp_appid, "secret": fake.mp_secret},
                )
            ).json()["access_token"]
            body = {"touser": "o1", "template_id": "t", "data": {}}
            results = await asyncio.gather(
                *[
                    http.post("cgi-bin/message/subscribe/send", params={"access_token": tok}, json=body)
                    for _ in range(50)
                ]
            )
            return [r.json()["errcode"] for r in results]

    assert asyncio.run(run()) == [0] * 50
    assert len(fake.sent("subscribe")) == 50


def test_concurrent_senders_are_all_recorded_quickly(fake):
    token = stable_token(fake, appid=fake.mp_appid, secret=fake.mp_secret)["access_token"]
    for n in range(8):
        for i in range(250):
            fake.accept_subscription(f"o{n}-{i}", "t")
    url = fake.base_url + "cgi-bin/message/subscribe/send"

    def worker(n):
        msgids = []
        with requests.Session() as s:
            for i in range(250):
                body = {"touser": f"o{n}-{i}", "template_id": "t", "data": {}}
                msgids.append(
                    s.post(url, params={"access_token": token}, json=body, timeout=5).json()["msgid"]
                )
        return msgids

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        msgids = [m for ms in pool.map(worker, range(8)) for m in ms]
    elapsed = time.monotonic() - started

    assert len(set(msgids)) == 2000
    assert len(fake.sent("subscribe")) == 2000
    assert len({b["touser"] for b in fake.sent("subscribe")}) == 2000
    # ~0.2 ms per request locally; a generous bound still catches a 40 ms
    # Nagle/delayed-ACK stall per request or one connection per request.
    assert elapsed < 15, elapsed


def test_stop_closes_server():
    fake = FakeWeChat().start()
    url = fake.base_url + "cgi-bin/stable_token"
    session = requests.Session()
    session.post(url, json={}, timeout=5)
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        session.post(url, json={}, timeout=2)
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    fake.stop()  # idempotent


# ------------------------------------------------ WeChat's published rules (each one tested)


def _post(fake, path, token, body):
    return requests.post(fake.base_url + path, params={"access_token": token}, json=body, timeout=5).json()


def _tokens(fake):
    return (stable_token(fake)["access_token"],
            stable_token(fake, appid=fake.mp_appid, secret=fake.mp_secret)["access_token"])


def test_a_token_works_only_on_its_own_apps_apis(fake):
    oa, mp = _tokens(fake)
    fake.follow("o1")
    fake.user_message("o1")
    fake.accept_subscription("o1", TEMPLATE_ID, times=2)
    sub = {"touser": "o1", "template_id": TEMPLATE_ID, "data": DATA}
    assert _post(fake, "cgi-bin/message/subscribe/send", oa, sub)["errcode"] == 48001
    assert _post(fake, "cgi-bin/message/subscribe/send", mp, sub)["errcode"] == 0
    tpl = {"touser": "o1", "template_id": "tpl-1", "data": DATA}
    assert _post(fake, "cgi-bin/message/template/send", mp, tpl)["errcode"] == 48001
    assert _post(fake, "cgi-bin/message/template/send", oa, tpl)["errcode"] == 0
    menu = {"button": [{"type": "click", "name": "预约", "key": "K"}]}
    assert _post(fake, "cgi-bin/menu/create", mp, menu)["errcode"] == 48001
    info = requests.get(fake.base_url + "cgi-bin/user/info", params={"access_token": mp, "openid": "o1"},
                        timeout=5).json()
    assert info["errcode"] == 48001
    # Both apps have customer-service messages at the same path.
    text = {"touser": "o1", "msgtype": "text", "text": {"content": "您好"}}
    assert [_post(fake, "cgi-bin/message/custom/send", t, text)["errcode"] for t in (oa, mp)] == [0, 0]
    assert len(fake.sent("subscribe")) == 1 and len(fake.sent("template")) == 1
    assert {c.appid for c in fake.calls_to("cgi-bin/message/subscribe/send")} == {fake.appid, fake.mp_appid}


def test_jscode2session_is_for_the_mini_program_and_oauth_for_the_public_account(fake):
    def login(path, appid, secret, code_param):
        return requests.get(fake.base_url + path, params={
            "appid": appid, "secret": secret, code_param: "c-1", "grant_type": "authorization_code"}, timeout=5).json()

    assert login("sns/jscode2session", fake.appid, fake.secret, "js_code")["errcode"] == 40013
    assert login("sns/oauth2/access_token", fake.mp_appid, fake.mp_secret, "code")["errcode"] == 40013
    assert "openid" in login("sns/jscode2session", fake.mp_appid, fake.mp_secret, "js_code")


def test_unionid_only_when_the_app_is_bound_to_an_open_platform_account(fake):
    client = make_client(fake, fake.mp_appid, fake.mp_secret)
    assert client.wxa.code_to_session("bound")["unionid"] == fake.unionid_for(FakeWeChat.openid_for("bound"))
    fake.open_platform_apps.discard(fake.mp_appid)
    session = client.wxa.code_to_session("unbound")
    assert "unionid" not in session and session["openid"] == FakeWeChat.openid_for("unbound")


def test_one_time_subscription_needs_one_consent_per_message(fake):
    client = make_client(fake, fake.mp_appid, fake.mp_secret, auto_retry=False)
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.send_subscribe_message("o1", TEMPLATE_ID, DATA)
    assert exc.value.errcode == 43101
    fake.accept_subscription("o1", TEMPLATE_ID)
    fake.accept_subscription("o1", "another-template")
    client.wxa.send_subscribe_message("o1", TEMPLATE_ID, DATA)
    assert fake.consents_left("o1", TEMPLATE_ID) == 0
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.send_subscribe_message("o1", TEMPLATE_ID, DATA)  # the one consent is used up
    assert exc.value.errcode == 43101
    fake.long_term_templates.add(TEMPLATE_ID)  # 长期订阅: consent once, send many
    fake.accept_subscription("o1", TEMPLATE_ID)
    for _ in range(3):
        client.wxa.send_subscribe_message("o1", TEMPLATE_ID, DATA)
    assert len(fake.sent("subscribe")) == 4 and fake.consents_left("o1", "another-template") == 1


# (field, a value WeChat accepts, a value it refuses), from the documented rules of each type.
FIELD_CASES = [
    ("thing1", "不动产转移登记预约到厅办理提醒二十字", "一二三四五六七八九十一二三四五六七八九十一"),
    ("phrase2", "已受理", "已发放电子证照"),
    ("phrase2", "待领证", "ok"),
    ("time3", "2026年11月23日 09:00", "2026年11月23日"),
    ("time3", "15:01", "25:01"),
    ("time3", "2024-07-24 08:00~12:00", "明天上午"),
    ("date4", "2019年10月1日", "10:00"),
    ("character_string5", "2024-0426-000123", "受理编号123"),
    ("character_string5", "A" * 32, "A" * 33),
    ("number6", "339208.5", "12a"),
    ("letter7", "abc", "ab1"),
    ("symbol8", "#", "#####1"),
    ("amount9", "¥99.00", "99.00美元"),
    ("phone_number10", "+86-0766-66888866", "电话12345"),
    ("car_number11", "粤A8Z888挂", "粤A8Z8888888"),
    ("name12", "张三", "一二三四五六七八九十一"),
    ("thing13", "两行", "两\n行"),
]


@pytest.mark.parametrize(("key", "good", "bad"), FIELD_CASES)
def test_subscribe_fields_follow_their_types_rules(fake, key, good, bad):
    _, mp = _tokens(fake)
    fake.long_term_templates.add(TEMPLATE_ID)
    fake.accept_subscription("o1", TEMPLATE_ID)

    def send(value):
        return _post(fake, "cgi-bin/message/subscribe/send", mp,
                     {"touser": "o1", "template_id": TEMPLATE_ID, "data": {key: {"value": value}}})

    assert send(good)["errcode"] == 0
    refused = send(bad)
    assert refused["errcode"] == 47003 and f"data.{key}" in refused["errmsg"]
    assert send("")["errcode"] == 47003
    assert len(fake.sent("subscribe")) == 1


def test_unknown_field_types_and_keys_not_in_the_template_are_refused(fake):
    _, mp = _tokens(fake)
    fake.long_term_templates.add(TEMPLATE_ID)
    fake.accept_subscription("o1", TEMPLATE_ID)
    body = {"touser": "o1", "template_id": TEMPLATE_ID}
    assert _post(fake, "cgi-bin/message/subscribe/send", mp, {**body, "data": {"keyword1": {"value": "x"}}})[
        "errcode"] == 47003
    fake.templates[TEMPLATE_ID] = {"thing1", "phrase2"}
    assert _post(fake, "cgi-bin/message/subscribe/send", mp, {**body, "data": {"thing1": {"value": "x"}}})[
        "errcode"] == 47003
    assert _post(fake, "cgi-bin/message/subscribe/send", mp, {**body, "data": DATA})["errcode"] == 0


def test_template_messages_reach_followers_only(fake):
    client = make_client(fake, auto_retry=False)
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_template("o-stranger", "tpl-1", DATA)
    assert exc.value.errcode == 43004
    fake.follow("o-fan")
    client.message.send_template("o-fan", "tpl-1", DATA)
    assert client.user.get("o-fan")["subscribe"] == 1 and client.user.get("o-stranger")["subscribe"] == 0
    fake.unfollow("o-fan")
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_template("o-fan", "tpl-1", DATA)
    assert exc.value.errcode == 43004
    assert [b["touser"] for b in fake.sent("template")] == ["o-fan"]


def test_customer_service_messages_only_in_the_users_reply_window(fake):
    client = make_client(fake, auto_retry=False)

    def send(openid):
        try:
            client.message.send_text(openid, "您好")
            return 0
        except WeChatClientException as exc:
            return exc.errcode

    assert send("o-silent") == 45015  # never wrote to us
    hours = 3600
    fake.user_message("o-old", at=time.time() - 48 * hours - 5)  # just over 48 hours ago
    assert send("o-old") == 45015
    fake.user_message("o-recent", at=time.time() - 48 * hours + 60)  # a minute inside the window
    assert [send("o-recent") for _ in range(6)] == [0, 0, 0, 0, 0, 45047]  # five replies per message
    fake.user_message("o-recent")  # a new message opens a new window
    assert send("o-recent") == 0
    fake.user_event("o-click", at=time.time() - 61)  # a menu click gives one minute
    assert send("o-click") == 45015
    fake.user_event("o-click")
    assert [send("o-click") for _ in range(4)] == [0, 0, 0, 45047]  # three replies per event
    assert len(fake.sent("custom")) == 9
    fake.follow("o-gone")
    fake.user_message("o-gone")
    fake.unfollow("o-gone")  # "response out of time limit or subscription is canceled"
    assert send("o-gone") == 45015


def test_daily_quota_answers_45009(fake):
    fake.daily_quota["cgi-bin/message/template/send"] = 2
    fake.follow("o1")
    client = make_client(fake, auto_retry=False)
    client.message.send_template("o1", "tpl-1", DATA)
    client.message.send_template("o1", "tpl-1", DATA)
    with pytest.raises(APILimitedException) as exc:
        client.message.send_template("o1", "tpl-1", DATA)
    assert exc.value.errcode == 45009 and len(fake.sent("template")) == 2


def _button(name="预约办事", **kw):
    return {"type": "click", "name": name, "key": "K", **kw}


@pytest.mark.parametrize(("menu", "errcode"), [
    ({"button": [_button(), _button(), _button()]}, 0),
    ({"button": [_button(), _button(), _button(), _button()]}, 40016),
    ({"button": []}, 40016),
    ({"button": [{"name": "指南", "sub_button": [_button(f"子{i}") for i in range(5)]}]}, 0),
    ({"button": [{"name": "指南", "sub_button": [_button(f"子{i}") for i in range(6)]}]}, 40023),
    ({"button": [_button("一二三四五")]}, 0),  # 15 bytes of UTF-8 are fine...
    ({"button": [_button("一二三四五a")]}, 0),  # ...16 too
    ({"button": [_button("一二三四五ab")]}, 40018),  # 17 are not
    ({"button": [{"name": "指南", "sub_button": [_button("二" * 20)]}]}, 0),  # 60 bytes
    ({"button": [{"name": "指南", "sub_button": [_button("二" * 20 + "a")]}]}, 40025),  # 61 bytes
    ({"button": [_button(key="k" * 128)]}, 0),
    ({"button": [_button(key="k" * 129)]}, 40019),
    ({"button": [{"type": "view", "name": "官网", "url": "https://x.cn/" + "a" * 1011}]}, 0),  # 1024 bytes
    ({"button": [{"type": "view", "name": "官网", "url": "https://x.cn/" + "a" * 1012}]}, 40020),
    ({"button": [{"type": "teleport", "name": "传送"}]}, 40017),
])
def test_menu_limits(fake, menu, errcode):
    oa, _ = _tokens(fake)
    assert _post(fake, "cgi-bin/menu/create", oa, menu)["errcode"] == errcode
    assert (fake.menu == menu) is (errcode == 0)


def test_a_repeated_client_msg_id_is_not_delivered_again_whatever_the_reply(fake):
    client = make_client(fake)
    fake.follow("o1")
    body = {"touser": "o1", "template_id": "tpl-1", "data": DATA, "client_msg_id": "n1-d1"}
    first = client.post("message/template/send", data=body)
    assert isinstance(first["msgid"], int)
    assert client.post("message/template/send", data=body) == {"errcode": 0, "errmsg": "ok"}  # default reply
    fake.client_msg_id_duplicate_reply = "first"
    assert client.post("message/template/send", data=body)["msgid"] == first["msgid"]
    assert len(fake.sent("template")) == 1 and fake.deduped == 2
