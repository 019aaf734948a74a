"""The foundation over real HTTP: health, metrics, OpenAPI, the error shape, identity and staff auth."""

import asyncio
import re

import pytest

from config.settings import ConfigError, Settings
from tests.factories import bound_citizen, face_bind, login_citizen, make_id_number, person_code, staff_headers


async def test_healthz_reports_database_and_redis(client):
    res = await client.get("/healthz")
    assert res.status_code == 200
    assert res.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert len(res.headers["x-request-id"]) == 32


async def test_request_id_is_echoed(client):
    res = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert res.headers["x-request-id"] == "abc-123"


async def test_metrics_count_requests(client):
    await client.get("/healthz")
    body = (await client.get("/metrics")).text
    assert 'dengji_http_requests_total{method="GET",route="healthz",status="200"}' in body


async def test_openapi_lists_every_route(live, client):
    """Every API route of the app (HTML pages aside) is in the OpenAPI document with each of its methods."""
    from server.core.openapi import is_api_route

    res = await client.get("/docs/openapi.json")
    assert res.status_code == 200
    paths = res.json()["paths"]
    routes = [r for r in live.app.router.routes if is_api_route(r)]  # not the document, console or h5 pages
    assert len(routes) > 50
    missing = []
    for route in routes:
        path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path)
        documented = {m.upper() for m in paths.get(path, {})}
        missing += [f"{m} {path}" for m in route.methods - {"HEAD", "OPTIONS"} if m not in documented]
    assert missing == []
    for expected in ("/api/mp/login", "/api/mp/binding", "/api/staff/login", "/healthz"):
        assert expected in paths


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/no/such/route", {}, 404, "NOT_FOUND"),
        ("DELETE", "/healthz", {}, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/api/mp/login", {"content": b"{not json", "headers": {"content-type": "application/json"}},
         400, "INVALID_JSON"),
        ("POST", "/api/mp/login", {"json": [1, 2]}, 400, "INVALID_JSON"),
        ("POST", "/api/mp/login", {"json": {"code": 123}}, 422, "VALIDATION_ERROR"),
        ("POST", "/api/mp/login", {"json": {}}, 422, "VALIDATION_ERROR"),
        ("POST", "/api/mp/login", {"json": {"code": "x" * 500}}, 422, "VALIDATION_ERROR"),
        ("POST", "/api/mp/login", {"json": {"code": "invalid"}}, 401, "WECHAT_LOGIN_FAILED"),
        ("GET", "/api/mp/me", {}, 401, "UNAUTHORIZED"),
        ("GET", "/api/mp/me", {"headers": {"Authorization": "Bearer nope"}}, 401, "UNAUTHORIZED"),
        ("GET", "/api/staff/audit?limit=abc", {}, 401, "UNAUTHORIZED"),
        ("POST", "/api/staff/login", {"json": {"username": "nobody", "password": "x"}}, 401, "STAFF_LOGIN_FAILED"),
    ],
)
async def test_bad_input_gets_the_error_shape(client, method, path, kwargs, status, code):
    res = await client.request(method, path, **kwargs)
    assert res.status_code == status, res.text
    err = res.json()["error"]
    assert err["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err["message"]), "message must be Chinese"


async def test_oversized_body_is_413(client):
    res = await client.post("/api/mp/login", content=b"x" * (3 * 1024 * 1024),
                            headers={"content-type": "application/json"})
    assert res.status_code == 413
    assert res.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_login_calls_jscode2session_and_binding_is_masked_and_encrypted(live, client, fake_wechat):
    from models import Citizen

    id_number = make_id_number(birth="19850312", seq=123)
    code = person_code("code-abc", name="欧阳娜娜", id_number=id_number)
    token = await login_citizen(client, code)
    assert fake_wechat.calls_to("/sns/jscode2session")[-1].query["js_code"] == code
    headers = {"Authorization": f"Bearer {token}"}
    res = await face_bind(client, headers, name="欧阳娜娜", id_number=id_number, mobile="13812345678")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert body["mobile"] == "138****5678"
    assert body["name"] == "欧***"
    row = await Citizen.get(openid=fake_wechat.openid_for("code-abc"))
    for clear in (id_number, "13812345678", "欧阳娜娜"):
        assert clear not in str(row.__dict__)
    assert live.ctx.cipher.decrypt(row.id_number_enc) == id_number
    # A code is single use (WeChat answers 40163); the same user's next wx.login code finds the same citizen.
    reused = await client.post("/api/mp/login", json={"code": code})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "WECHAT_LOGIN_FAILED"
    assert fake_wechat.calls_to("/sns/jscode2session")[-1].errcode == 40163
    again = await login_citizen(client, person_code("code-abc"))
    me = (await client.get("/api/mp/me", headers={"Authorization": f"Bearer {again}"})).json()
    assert me["bound"] is True and me["id"] == row.id
    # Logins go to the mini-program's appid: jscode2session refuses the public account's (40013).
    assert {c.query["appid"] for c in fake_wechat.calls_to("/sns/jscode2session")} == {fake_wechat.mp_appid}


async def test_login_works_without_unionid(live, client, fake_wechat):
    """Only apps bound to an open-platform account get a unionid from jscode2session."""
    from models import Citizen

    fake_wechat.open_platform_apps.clear()
    await login_citizen(client, "no-union")
    row = await Citizen.get(openid=fake_wechat.openid_for("no-union"))
    assert row.unionid is None


def _wechat_calls(metrics: str, api: str, outcome: str) -> float:
    found = re.search(rf'^dengji_wechat_calls_total\{{api="{api}",outcome="{outcome}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def test_logins_are_counted_under_jscode2session_in_the_metrics(client, fake_wechat):
    """Operators watch each WeChat API's error rate on /metrics: a login and a refused (reused) code count there."""
    before = (await client.get("/metrics")).text
    code = person_code()
    await login_citizen(client, code)
    assert (await client.post("/api/mp/login", json={"code": code})).status_code == 401  # 40163: used once
    after = (await client.get("/metrics")).text
    assert _wechat_calls(after, "jscode2session", "ok") - _wechat_calls(before, "jscode2session", "ok") == 1
    assert _wechat_calls(after, "jscode2session", "error") - _wechat_calls(before, "jscode2session", "error") == 1


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("id_number", "320102199001011234", "ID_NUMBER_CHECKSUM"),
        ("id_number", "32010219900230123X", "ID_NUMBER_BIRTHDATE"),
        ("id_number", "12345", "ID_NUMBER_FORMAT"),
        ("mobile", "12345678901", "MOBILE_FORMAT"),
        ("name", "1", "NAME_FORMAT"),
    ],
)
async def test_binding_rejects_invalid_identity(client, field, value, code):
    headers = {"Authorization": f"Bearer {await login_citizen(client)}"}
    body = {"name": "张三", "id_number": make_id_number(), "mobile": "13900001111", field: value}
    res = await client.post("/api/mp/binding/verify", headers=headers, json=body)
    assert res.status_code == 422
    assert res.json()["error"]["code"] == code


async def test_someone_elses_id_number_does_not_bind(client):
    _, id_number = await bound_citizen(client, name="李四")
    headers = {"Authorization": f"Bearer {await login_citizen(client)}"}  # a stranger who knows the number
    res = await face_bind(client, headers, name="李四", id_number=id_number, mobile="13900001111")
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "FACE_VERIFY_FAILED"  # nothing says the number is bound elsewhere


async def test_staff_roles_and_citizen_tokens_are_kept_apart(client):
    citizen = {"Authorization": f"Bearer {await login_citizen(client)}"}
    res = await client.get("/api/staff/accounts", headers=citizen)
    assert res.status_code == 403
    reviewer = await staff_headers(client, role="reviewer")
    assert (await client.get("/api/staff/accounts", headers=reviewer)).status_code == 403
    admin = await staff_headers(client, role="admin")
    res = await client.get("/api/staff/accounts", headers=admin)
    assert res.status_code == 200
    assert {a["role"] for a in res.json()["items"]} == {"reviewer", "admin"}
    assert all("password" not in str(a) for a in res.json()["items"])
    assert (await client.get("/api/mp/me", headers=admin)).status_code == 403
    res = await client.get("/api/staff/audit?limit=abc", headers=admin)
    assert res.status_code == 422
    await client.post("/api/staff/logout", headers=admin)
    assert (await client.get("/api/staff/accounts", headers=admin)).status_code == 401


def test_production_requires_secrets():
    with pytest.raises(ConfigError, match="DENGJI_DATA_KEY"):
        Settings(env="production", redis_url="redis://x", database_url="postgres://x/y")


def test_development_generates_and_keeps_a_data_key(tmp_path):
    first = Settings(env="development", home=tmp_path).master_key
    assert len(first) == 32
    assert Settings(env="development", home=tmp_path).master_key == first
    assert (tmp_path / "data.key").stat().st_mode & 0o777 == 0o600


async def test_concurrent_requests_are_served(client):
    results = await asyncio.gather(*(client.get("/healthz") for _ in range(50)))
    assert {r.status_code for r in results} == {200}


async def test_access_log_is_structured_with_request_id_and_no_query_string(live, client):
    import io
    import json

    live.ctx.access_log.stream, live.ctx.access_log.enabled = io.StringIO(), True
    await client.get("/api/halls?id_number=320102199001011234", headers={"X-Request-ID": "rid-42"})
    live.ctx.access_log.flush()
    lines = [json.loads(line) for line in live.ctx.access_log.stream.getvalue().splitlines()]
    line = next(entry for entry in lines if entry["request_id"] == "rid-42")
    assert line["path"] == "/api/halls" and line["status"] == 200 and line["ms"] >= 0
    assert "320102199001011234" not in live.ctx.access_log.stream.getvalue()
