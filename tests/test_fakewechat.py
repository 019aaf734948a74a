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
    again = client.wxa.code_to_session("code-abc")
    other = client.wxa.code_to_session("code-xyz")

    assert first["openid"] == FakeWeChat.openid_for("code-abc")
    assert len(first["openid"]) == 28
    assert again["openid"] == first["openid"]
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


def test_single_use_codes_when_enabled(fake):
    fake.used_codes_fail = True
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
    assert fake.deduped == 0 and fake.client_msg_id_window == 600


def test_send_validates_body(fake):
    token = stable_token(fake)["access_token"]
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
    client.message.send_template("o1", "tpl", DATA)
    fake.expire_tokens()
    client.message.send_template("o1", "tpl", DATA)
    assert len(fake.sent("template")) == 2
    assert fake.token_fetches == 2
    assert [c.errcode for c in fake.calls_to("cgi-bin/message/template/send")] == [0, 42001, 0]


# ------------------------------------------------------------ fault injection


def test_fail_next_injects_errors_then_recovers(fake):
    client = make_client(fake, auto_retry=False)
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
    client.wxa.send_subscribe_message("o-fine", TEMPLATE_ID, DATA)
    assert [b["touser"] for b in fake.sent("subscribe")] == ["o-fine"]


def test_rate_limit_per_second(fake):
    fake.rate_limit_per_second = 5
    token = stable_token(fake)["access_token"]
    url = fake.base_url + "cgi-bin/message/custom/send"
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "x"}}
    with requests.Session() as s:
        codes = [
            s.post(url, params={"access_token": token}, json=body, timeout=5).json()["errcode"]
            for _ in range(8)
        ]
    assert codes.count(0) == 5
    assert codes.count(45009) == 3
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
    async def run():
        async with httpx.AsyncClient(base_url=fake.base_url) as http:
            tok = (
                await http.post(
                    "cgi-bin/stable_token",
                    json={"grant_type": "client_credential", "appid": fake.appid, "secret": fake.secret},
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
    token = stable_token(fake)["access_token"]
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
