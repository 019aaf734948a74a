"""The API document: every route with its body, parameters, auth and error shape, built from the schemas that
validate; the documentation pages load nothing from outside."""

from __future__ import annotations

import re

from server.core.openapi import STATIC_FILES, auth_of, is_api_route, response_model_of, schemas_of
from tests.factories import bound_citizen, staff_headers

# Writes that take no body: the path names the object, the action is the verb.
BODYLESS = {
    ("post", "/api/staff/logout"), ("post", "/api/staff/bot/reload"), ("post", "/api/mp/cases/{receipt_no}/subscribe"),
    ("delete", "/api/mp/cases/{receipt_no}/subscribe"), ("post", "/api/bookings/{booking_id}/cancel"),
    ("post", "/api/staff/bookings/{booking_id}/cancel"), ("post", "/api/mp/inbox/{delivery_id}/read"),
    ("post", "/api/staff/notices/{notice_id}/withdraw"), ("delete", "/api/staff/accounts/{account_id}/sessions"),
    ("delete", "/api/staff/accounts/{account_id}/lockout"), ("delete", "/api/staff/calendar/{day_id}"),
    ("delete", "/api/staff/orgs/{org_id}"), ("delete", "/api/staff/orgs/{org_id}/members/{member_id}"),
    ("delete", "/api/staff/bot/entries/{entry_id}"), ("delete", "/api/mp/notices/subscriptions/{hall_code}"),
}

async def test_every_route_documents_body_parameters_auth_and_errors(live, client):
    res = await client.get("/docs/openapi.json")
    assert res.status_code == 200
    doc = res.json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    error = doc["components"]["schemas"]["Error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message"}
    missing = []
    routes = [r for r in live.app.router.routes if is_api_route(r)]
    assert routes and not any(p.startswith(("/console", "/h5")) for p in doc["paths"])  # pages are not the API
    for route in routes:
        path = "/" + re.sub(r"<([^:>]+)(?::[^>]*)?>", r"{\1}", route.path)
        for method in route.methods - {"HEAD", "OPTIONS"}:
            op = doc["paths"].get(path, {}).get(method.lower())
            if op is None:
                missing.append((method, path, "not documented"))
                continue
            names = {(p["in"], p["name"]) for p in op["parameters"]}
            for param in route.params.values():
                if ("path", param.name) not in names:
                    missing.append((method, path, f"path parameter {param.name}"))
            found = schemas_of(route.handler)
            if found["query"] is not None:
                for field in found["query"].model_fields.values():
                    name = field.alias or next(k for k, v in found["query"].model_fields.items() if v is field)
                    if ("query", name) not in names:
                        missing.append((method, path, f"query parameter {name}"))
            if method in ("POST", "PUT", "PATCH") and "requestBody" not in op \
                    and (method.lower(), path) not in BODYLESS:
                missing.append((method, path, "request body"))
            kind, _ = auth_of(route.handler)
            if kind is not None and op.get("security") != [{"bearerAuth": []}]:
                missing.append((method, path, "bearer security"))
            if kind is not None and not {"401", "403"} <= set(op["responses"]):
                missing.append((method, path, "401/403"))
            errors = {status: r for status, r in op["responses"].items() if int(status) >= 400}
            for status, r in errors.items():
                schema = r["content"]["application/json"]["schema"]
                if "allOf" not in schema and int(status) in getattr(route.handler, "dengji_also", ()):
                    continue  # answered with the success body (healthz's 503)
                codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
                if schema["allOf"][0] != {"$ref": "#/components/schemas/Error"} or not codes \
                        or not all(code in r["description"] for code in codes):
                    missing.append((method, path, f"error shape and codes of {status}"))
            if not {"405", "503"} <= set(errors):
                missing.append((method, path, "405/503"))
            success = [r for status, r in op["responses"].items() if int(status) < 400]
            if not success:
                missing.append((method, path, "success response"))
            elif not all("schema" in media for r in success for media in r.get("content", {}).values()) \
                    or not any(r.get("content") or status == "302" for status, r in op["responses"].items()
                               if int(status) < 400):
                missing.append((method, path, "success body schema"))
            elif path != "/wechat" and "application/json" in str(success) \
                    and response_model_of(route.handler) is None and "302" not in op["responses"]:
                missing.append((method, path, "success body model"))
    assert missing == [], "\n".join(map(str, missing))
    # A few spot checks against what the schemas say.
    lookup = doc["paths"]["/api/progress/lookup"]
    assert set(lookup) == {"post"}
    body = lookup["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["required"] == ["receipt_no", "id_last6"]
    notices = {p["name"]: p for p in doc["paths"]["/api/staff/notices"]["get"]["parameters"]}
    assert notices["limit"]["schema"]["maximum"] == 200
    assert "pending_review" in str(notices["status"]["schema"]) or "NoticeStatus" in str(notices["status"]["schema"])
    patch = doc["paths"]["/api/staff/accounts/{account_id}"]["patch"]
    assert patch["parameters"][0]["schema"] == {"type": "integer"}


async def test_the_documentation_pages_use_local_files_only(live, client):
    for page in ("/docs", "/docs/redoc"):
        res = await client.get(page)
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
        assert "http://" not in res.text and "https://" not in res.text and "//cdn" not in res.text
        for src in re.findall(r'(?:src|href)="([^"]+)"', res.text):
            assert src.startswith("/docs/"), src
            assert (await client.get(src)).status_code == 200, src
    for name, content_type in STATIC_FILES.items():
        res = await client.get(f"/docs/static/{name}")
        assert res.status_code == 200 and res.headers["content-type"].startswith(content_type)
    assert (await client.get("/docs/static/..%2F..%2Fconfig%2Fsettings.py")).status_code == 404


async def test_every_error_code_answered_is_in_the_route_s_document(live, client):
    """Every route called with bad input, without a token, with the wrong kind of token and with objects that do
    not exist: each error code that comes back over HTTP is listed for that route and status in the document
    (the app records any answer its document does not describe in `api_doc_gaps`)."""
    doc = (await client.get("/docs/openapi.json")).json()
    citizen, _ = await bound_citizen(client)
    staff = await staff_headers(client, role="hall_staff", hall_code="H01")
    fillers = {"integer": "999999", "date": "2001-01-01"}
    seen: dict[tuple[str, str], set[str]] = {}
    for path, ops in doc["paths"].items():
        if path in ("/api/staff/logout", "/api/staff/me/password"):
            continue  # would end the staff session the rest of the sweep uses
        for method, op in ops.items():
            url = path
            for p in op["parameters"]:
                if p["in"] == "path":
                    schema = p["schema"]
                    url = url.replace("{" + p["name"] + "}", fillers.get(schema.get("type"), fillers.get(
                        schema.get("format"), "nope")))
            for headers in ({}, citizen, staff):
                for body in (None, b"{not json", b'{"unexpected": 1}', b"[]"):
                    if body is not None and method == "get":
                        continue
                    res = await client.request(method.upper(), url, headers={**headers,
                                               "content-type": "application/json"}, content=body)
                    if res.status_code >= 400 and res.headers.get("content-type", "").startswith("application/json"):
                        seen.setdefault((method, path), set()).add(res.json()["error"]["code"])
    assert live.ctx.api_doc_gaps == set(), sorted(live.ctx.api_doc_gaps)
    # The sweep reached the routes' own checks, not only the generic ones.
    codes = set().union(*seen.values())
    assert {"UNAUTHORIZED", "FORBIDDEN", "INVALID_JSON", "VALIDATION_ERROR", "BOOKING_NOT_FOUND"} <= codes, codes
    assert codes - {"UNAUTHORIZED", "FORBIDDEN", "INVALID_JSON", "VALIDATION_ERROR", "NOT_FOUND", "BAD_REQUEST",
                    "STAFF_SESSION_REVOKED", "METHOD_NOT_ALLOWED"}, codes
    for (method, path), found in seen.items():
        documented = {c for status, r in doc["paths"][path][method]["responses"].items() if int(status) >= 400
                      for c in r["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"][
                          "properties"]["code"]["enum"]}
        assert found <= documented, (method, path, found - documented)


async def test_an_undocumented_error_code_is_noticed(live, client):
    """The check itself: a route answering a code its document leaves out is recorded as a gap."""
    from server.core import openapi

    route = next(r for r in live.app.router.routes if r.path == "api/bookings/<booking_id:int>")
    documented = openapi.error_codes_of(route, "GET")
    assert "SLOT_FULL" not in documented.get(409, set())
    from sanic.response import json as json_response

    answer = json_response({"error": {"code": "SLOT_FULL", "message": "约满"}}, status=409)
    assert openapi.conformance_gap(live.app, route, "GET", answer) == (
        "GET", "/api/bookings/{booking_id}", 409, "status not documented")
    answer = json_response({"error": {"code": "SLOT_FULL", "message": "约满"}}, status=404)
    assert openapi.conformance_gap(live.app, route, "GET", answer) == (
        "GET", "/api/bookings/{booking_id}", 404, "SLOT_FULL")
    answer = json_response({"error": {"code": "BOOKING_NOT_FOUND", "message": "不存在"}}, status=404)
    assert openapi.conformance_gap(live.app, route, "GET", answer) is None


def test_sanic_ext_is_no_dependency_and_nothing_imports_it():
    import ast
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.lower().replace("_", "-").startswith("sanic-ext")]
    for folder in ("server", "bot", "notices", "models", "config"):
        for source in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n.split(".")[0] == "sanic_ext" for n in names), source
