"""Path and query parameters: validated and percent-decoded (never a 500), unsupported methods 405 + Allow,
and CSV cells that would run as formulas neutralised."""

from __future__ import annotations

import csv
import io

from server.core.export import safe_cell
from tests.factories import bound_citizen, staff_headers


def code(res) -> str:
    return res.json()["error"]["code"]


async def test_over_long_and_unknown_parameters_are_4xx(live, client):
    citizen, _ = await bound_citizen(client)
    admin = await staff_headers(client)
    cases = [
        ("GET", "/api/staff/notices?status=x", admin, 422),
        ("GET", "/api/mp/cases/" + "A" * 41, citizen, 404),
        ("POST", "/api/mp/cases/" + "A" * 41 + "/subscribe", citizen, 404),
        ("GET", "/api/staff/cases/" + "A" * 41, admin, 404),
        ("DELETE", "/api/mp/notices/subscriptions/" + "a" * 33, citizen, 404),
        ("PUT", "/api/staff/halls/" + "a" * 40, admin, 404),
    ]
    for method, path, headers, status in cases:
        res = await client.request(method, path, headers=headers, json={} if method == "PUT" else None)
        assert res.status_code == status, (method, path, res.text)
        assert res.json()["error"]["message"]


async def test_path_parameters_are_percent_decoded(live, client):
    plain = await client.get("/api/halls/center/slots", params={"date": "2026-01-05"})
    quoted = await client.get("/api/halls/cent%65r/slots", params={"date": "2026-01-05"})
    assert quoted.status_code == plain.status_code != 404
    assert code(await client.get("/api/halls/%E4%B8%AD%E5%BF%83/slots?date=2026-01-05")) == "HALL_NOT_FOUND"


async def test_unsupported_methods_answer_405_with_allow(live, client):
    for method in ("TRACE", "PATCH", "PUT"):
        res = await client.request(method, "/api/halls")
        assert res.status_code == 405 and code(res) == "METHOD_NOT_ALLOWED", method
        assert res.headers["allow"] == "GET"
    res = await client.request("TRACE", "/api/progress/lookup")
    assert res.status_code == 405 and res.headers["allow"] == "POST"


def test_csv_cells_never_start_a_formula():
    for dangerous in ("=HYPERLINK(\"http://x\")", "+1", "-1+2", "@SUM(A1)", "\t=1", "＝1"):
        assert safe_cell(dangerous).startswith("'")
    assert safe_cell("中国银行") == "中国银行" and safe_cell(12) == 12 and safe_cell(-3) == -3


async def test_notice_report_csv_neutralises_formulas(live, client):
    admin = await staff_headers(client)
    res = await client.post("/api/staff/orgs", headers=admin, json={
        "name": "=HYPERLINK(\"http://evil\",\"点此\")", "type": "bank", "district": "@城东区",
        "business_lines": [], "tags": []})
    assert res.status_code == 201, res.text
    publisher = await staff_headers(client, role="publisher")
    res = await client.post("/api/staff/notices", headers=publisher, json={
        "title": "-2+3 系统维护", "body": "维护。", "category": "policy", "audience": "orgs",
        "target": {"types": ["bank"]}, "attachments": []})
    assert res.status_code == 201, res.text
    notice_id = res.json()["id"]
    from models import NoticeDelivery, Organization

    org = await Organization.first()
    await NoticeDelivery.create(notice_id=notice_id, org_id=org.id, openid="o-x", channel="oa", status="sent")
    res = await client.get(f"/api/staff/notices/{notice_id}/report.csv", headers=publisher)
    assert res.status_code == 200
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'-2+3 系统维护" in cells and "'@城东区" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


async def test_nul_characters_are_a_clean_4xx(live, client):
    """Found by schemathesis on PostgreSQL: a NUL in a hall code reached the database and answered 500."""
    citizen, _ = await bound_citizen(client)
    admin = await staff_headers(client)
    res = await client.post("/api/mp/notices/subscriptions", headers=citizen, json={"hall_codes": ["south\u0000"]})
    assert (res.status_code, code(res)) == (422, "INVALID_CHARACTER")
    res = await client.get("/api/staff/notices", params={"status": "draft\x00"}, headers=admin)
    assert (res.status_code, code(res)) == (422, "INVALID_CHARACTER")
    res = await client.delete("/api/mp/notices/subscriptions/south%00", headers=citizen)
    assert 400 <= res.status_code < 500, res.text
