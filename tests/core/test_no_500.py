"""No input gets a 500: every registered route is fed junk paths, bodies and credentials over HTTP."""

import itertools
import re

from tests.factories import bound_citizen, staff_headers

JUNK_PARAMS = ("abc", "0", "-1", "99999999999999999999", "%E4%B8%AD%E6%96%87", "2026-13-45")
JUNK_BODIES = (
    None,
    b"{",
    b"[]",
    b'"text"',
    b"{}",
    b'{"id": "x", "date": "not-a-date", "code": [], "quota": -5, "name": null}',
    "{\"question\": \"\u4e2d\u6587\", \"text\": 1e309}".encode(),
)
SKIP_PREFIXES = ("/docs",)


def _paths(route_path: str) -> list[str]:
    names = re.findall(r"<([^>]+)>", route_path)
    if not names:
        return ["/" + route_path.lstrip("/")]
    out = []
    for value in JUNK_PARAMS[: 3 if len(names) > 1 else len(JUNK_PARAMS)]:
        path = route_path
        for name in names:
            path = path.replace(f"<{name}>", value)
        out.append("/" + path.lstrip("/"))
    return out


async def test_no_route_answers_500_to_junk(live, client):
    citizen, _ = await bound_citizen(client)
    admin = await staff_headers(client, role="admin")
    auths = ({}, citizen, admin)
    failures = []
    routes = [r for r in live.app.router.routes if not ("/" + r.path).startswith(SKIP_PREFIXES)]
    assert len(routes) > 10
    for route in routes:
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for path, body, headers in itertools.product(_paths(route.path), JUNK_BODIES, auths):
                if method == "GET" and body not in (None, b"{}"):
                    continue
                res = await client.request(method, path + "?date=x&limit=-1&receipt_no=%00", content=body,
                                           headers={**headers, "content-type": "application/json"})
                if res.status_code >= 500 and res.status_code != 503:
                    failures.append((method, path, body, res.status_code, res.text[:200]))
    assert failures == [], "\n".join(map(str, failures))
