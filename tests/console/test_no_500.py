"""No console page answers 500: every console route, signed in as admin (CSRF token included), fed junk
path parameters, query strings and form fields."""

import re

from tests.console.conftest import console_login

JUNK = ("abc", "0", "-1", "99999999999999999999", "%E4%B8%AD%E6%96%87", "2026-13-45")
FORMS = ({}, {"date": "2026-13-45", "quota": "-5", "hall": "nope", "start": "25:99", "day": "x", "kind": "x",
              "name": "x" * 300, "window": "w" * 40, "business_type": "nope", "id_number": "123",
              "code": "DJBK:", "title": "", "category": "nope", "audience": "robots", "types": "nope",
              "scheduled_at": "soon", "decision": "maybe", "role": "king", "username": "../", "entry_id": "../x",
              "question": "", "phrasings": "\n" * 3, "old_password": "", "new_password": "x"})
QUERIES = ("", "?start=2026-13-45&end=x&hall=nope", "?id_number=123&status=nope&q=%00", "?limit=-1&actor_id=x")


async def test_no_console_route_answers_500_to_junk(live):
    admin = await console_login(live, "admin")
    failures, statuses = [], set()
    routes = [r for r in live.app.router.routes if r.path.startswith("console") and "static" not in r.path
              and not r.path.endswith(("/events", "/logout"))]
    assert len(routes) > 30
    for route in routes:
        names = re.findall(r"<([^>]+)>", route.path)
        paths = ["/" + route.path] if not names else [
            "/" + re.sub(r"<[^>]+>", value, route.path) for value in JUNK]
        for path in paths:
            if "GET" in route.methods:
                for query in QUERIES:
                    res = await admin.get(path + query)
                    statuses.add(res.status_code)
                    if res.status_code >= 500:
                        failures.append(("GET", path + query, res.status_code))
            if "POST" in route.methods:
                for form in FORMS:
                    res = await admin.post(path, form)
                    if res.status_code >= 500:
                        failures.append(("POST", path, res.status_code))
    assert (await admin.get("/console/staff")).status_code == 200  # still signed in: every request above was real
    await admin.aclose()
    assert failures == []
    assert {200, 404, 422} <= statuses
