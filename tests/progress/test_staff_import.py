"""Staff overdue view with audit, CSV/JSON import, and the CLI wiring."""

from __future__ import annotations

import json

from models import AuditLog, Case, CaseApplicant
from server.cli import build_parser
from server.progress import cli as progress_cli
from tests.factories import make_id_number, staff_headers
from tests.progress.conftest import created, stage


async def test_staff_overdue_grouped_and_detail_audited(live, client, ingest):
    past = "2024-04-26T10:00:00+08:00"
    await ingest.send(
        created("2024-0426-000001", [("张三", make_id_number(seq=1))], hall="center", accepted_at=past),
        created("2024-0426-000002", [("李四", make_id_number(seq=2))], hall="center", accepted_at=past),
        created("2024-0426-000003", [("王五", make_id_number(seq=3))], hall="east", accepted_at=past,
                business_type="mortgage_first"),
        created("2024-0426-000004", [("赵六", make_id_number(seq=4))], hall="east", accepted_at=past),
        # finished and not yet due: neither counts
        created("2024-0426-000005", [("钱七", make_id_number(seq=5))], hall="east", accepted_at=past),
        created("2099-0101-000006", [("孙八", make_id_number(seq=6))], hall="east",
                accepted_at="2099-01-05T10:00:00+08:00"),
    )
    await ingest.send(stage("2024-0426-000005", "registered", "2024-04-27T10:00:00+08:00"),
                      stage("2024-0426-000005", "e_certificate", "2024-04-27T11:00:00+08:00"))
    admin = await staff_headers(client, role="admin")
    res = await client.get("/api/staff/cases/overdue", headers=admin)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total"] == 4
    assert [(g["hall"], g["business_type"], g["count"]) for g in body["groups"]] == [
        ("center", "secondhand_transfer", 2), ("east", "mortgage_first", 1), ("east", "secondhand_transfer", 1)]
    assert "张三" not in res.text
    res = await client.get("/api/staff/cases/overdue", params={"business_type": "mortgage_first"}, headers=admin)
    assert res.json()["total"] == 1 and res.json()["items"][0]["receipt_no"] == "2024-0426-000003"
    east = await staff_headers(client, role="hall_staff", hall_code="east")
    res = await client.get("/api/staff/cases/overdue", params={"hall": "center"}, headers=east)
    assert (res.status_code, res.json()["error"]["code"]) == (403, "HALL_FORBIDDEN")
    res = await client.get("/api/staff/cases/overdue", headers=east)
    assert {g["hall"] for g in res.json()["groups"]} == {"east"} and res.json()["total"] == 2
    hotline = await staff_headers(client, role="hotline")
    assert (await client.get("/api/staff/cases/overdue", headers=hotline)).status_code == 403
    assert (await client.get("/api/staff/cases/overdue")).status_code == 401

    assert await AuditLog.filter(target_type="case").count() == 0
    res = await client.get("/api/staff/cases/2024-0426-000001", headers=hotline)
    assert res.status_code == 200
    assert res.json()["applicants"] == [{"name": "张三"}] and res.json()["overdue"] is True
    rows = await AuditLog.filter(target_type="case")
    assert [(r.target_id, r.fields_read, r.actor_kind) for r in rows] == [
        ("2024-0426-000001", ["applicants.name"], "staff")]
    citizen_token = (await client.post("/api/mp/login", json={"code": "c-staff-x"})).json()["token"]
    res = await client.get("/api/staff/cases/2024-0426-000001", headers={"Authorization": f"Bearer {citizen_token}"})
    assert res.status_code == 403


async def test_import_csv_and_json_is_idempotent(live, client, tmp_path):
    id_a, id_b, id_c = make_id_number(seq=21), make_id_number(seq=22), make_id_number(seq=23)
    csv_file = tmp_path / "cases.csv"
    csv_file.write_text(
        "receipt_no,business_type,hall,applicant_names,applicant_id_numbers,accepted_at,delivery_method,"
        "tracking_no,stage,stage_at,note,missing_materials\n"
        f"2024-0426-000123,secondhand_transfer,center,张三;李四,{id_a};{id_b},2026-09-30T10:00:00+08:00,ems,"
        "EMS1CN,ready,2026-10-09T10:00:00+08:00,,\n"
        f"2024-0426-000124,mortgage_first,east,王五,{id_c},2026-09-30T10:00:00+08:00,,,"
        "correction_required,2026-09-30T15:00:00+08:00,请补交,婚姻证明;户口簿\n"
        f"2024-0426-000125,no_such_type,east,王五,{id_c},2026-09-30T10:00:00+08:00,,,,,,\n",
        encoding="utf-8")
    json_file = tmp_path / "cases.json"
    json_file.write_text(json.dumps({"cases": [
        {"receipt_no": "2024-0426-000200", "business_type": "inheritance", "hall": "west",
         "applicants": [{"name": "赵六", "id_number": id_a}], "accepted_at": "2026-09-30T10:00:00+08:00",
         "stage": "public_notice", "stage_at": "2026-10-08T10:00:00+08:00"}]}, ensure_ascii=False),
        encoding="utf-8")
    settings = live.ctx.settings
    first = await progress_cli.import_file(settings, csv_file)
    assert (first["accepted"], first["duplicate"], first["rejected"]) == (4, 0, 1)
    again = await progress_cli.import_file(settings, csv_file)
    assert (again["accepted"], again["duplicate"], again["rejected"]) == (0, 4, 1)
    assert (await progress_cli.import_file(settings, json_file))["accepted"] == 2
    assert (await progress_cli.import_file(settings, json_file))["duplicate"] == 2

    assert await Case.all().count() == 3
    ready = await Case.get(receipt_no="2024-0426-000123")
    assert (ready.stage, ready.delivery_method, ready.tracking_no) == ("ready", "ems", "EMS1CN")
    assert await CaseApplicant.filter(case_id=ready.id).count() == 2
    res = await client.post("/api/progress/lookup", json={"receipt_no": "2024-0426-000124", "id_last6": id_c[-6:]})
    assert res.json()["missing_materials"] == ["婚姻证明", "户口簿"]
    res = await client.post("/api/progress/lookup", json={"receipt_no": "2024-0426-000200", "id_last6": id_a[-6:]})
    assert (res.json()["stage_label"], res.json()["promised_date"]) == ("公示中", "2026-10-30")


def test_cli_commands_are_registered():
    args = build_parser().parse_args(["cases", "import", "x.csv"])
    assert args.func is progress_cli.cmd_import and args.file == "x.csv"
    args = build_parser().parse_args(["ingest-client", "create", "bdc"])
    assert args.func is progress_cli.cmd_client_create and args.name == "bdc"
