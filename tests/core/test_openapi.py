"""The API document: every route with its body, parameters, auth and error shape, built from the schemas that
validate; the documentation pages load nothing from outside."""

from __future__ import annotations

import re

from server.core.openapi import STATIC_FILES, auth_of, is_api_route, schemas_of

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
            errors = [r for status, r in op["responses"].items() if int(status) >= 400]
            if not errors or any(r["content"]["application/json"]["schema"] != {"$ref": "#/components/schemas/Error"}
                                 for r in errors):
                missing.append((method, path, "error shape"))
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
