"""Organisations, invitations and membership over real HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from models import OrgInvitation, OrgMember
from notices import service
from tests.factories import login_citizen, staff_headers
from tests.notices.helpers import invite, join, make_org


async def test_org_crud_and_validation(client):
    admin = await staff_headers(client, role="admin")
    publisher = await staff_headers(client, role="publisher")
    org = await make_org(client, admin, name="示例銀行　城東支行", type="bank", district="城東區",
                         business_lines=["抵押", "抵押", "預告"], tags=["網辦"])
    # Traditional and full-width input is stored simplified, labels deduplicated.
    assert org["name"] == "示例银行 城东支行"
    assert org["district"] == "城东区"
    assert org["business_lines"] == ["抵押", "预告"] and org["tags"] == ["网办"]

    dup = await client.post("/api/staff/orgs", headers=admin, json={"name": "示例银行 城东支行", "type": "bank",
                                                                    "district": "城东区"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "ORG_EXISTS"
    bad_type = await client.post("/api/staff/orgs", headers=admin, json={"name": "某机构", "type": "school",
                                                                         "district": "城东区"})
    assert bad_type.status_code == 422 and bad_type.json()["error"]["code"] == "VALIDATION_ERROR"
    bad_code = await client.post("/api/staff/orgs", headers=admin, json={
        "name": "某开发公司", "type": "developer", "district": "新区", "credit_code": "91350100M000100Y44"})
    assert bad_code.status_code == 422
    extra = await client.post("/api/staff/orgs", headers=admin, json={"name": "某机构", "type": "other",
                                                                      "district": "新区", "evil": 1})
    assert extra.status_code == 422
    # Only admins manage organisations; publishers may read them for targeting.
    denied = await client.post("/api/staff/orgs", headers=publisher, json={"name": "某机构", "type": "other",
                                                                           "district": "新区"})
    assert denied.status_code == 403
    listed = await client.get("/api/staff/orgs?type=bank", headers=publisher)
    assert [o["id"] for o in listed.json()["items"]] == [org["id"]]

    res = await client.patch(f"/api/staff/orgs/{org['id']}", headers=admin,
                             json={"suspended": True, "tags": ["合作银行"]})
    assert res.status_code == 200 and res.json()["suspended"] is True and res.json()["tags"] == ["合作银行"]
    assert (await client.get("/api/staff/orgs/99999", headers=admin)).status_code == 404
    assert (await client.delete(f"/api/staff/orgs/{org['id']}", headers=admin)).status_code == 200
    assert (await client.get(f"/api/staff/orgs/{org['id']}", headers=admin)).status_code == 404


async def test_invitation_single_use_hashed_and_expiring(client, fake_wechat):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin)
    inv = await invite(client, admin, org["id"])
    stored = await OrgInvitation.get(org_id=org["id"])
    assert inv["code"] not in stored.code_hash and len(stored.code_hash) == 64  # only a hash is kept

    # Two citizens race for the same code: exactly one gets in.
    tokens = [await login_citizen(client, f"race-{i}") for i in range(2)]
    results = await asyncio.gather(*[client.post("/api/mp/org/join", headers={"Authorization": f"Bearer {t}"},
                                                 json={"code": inv["code"]}) for t in tokens])
    assert sorted(r.status_code for r in results) == [200, 409]
    assert [r.json()["error"]["code"] for r in results if r.status_code == 409] == ["INVITATION_USED"]
    assert await OrgMember.filter(org_id=org["id"]).count() == 1

    expired = await invite(client, admin, org["id"])
    await OrgInvitation.filter(used_at__isnull=True).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    res = await client.post("/api/mp/org/join", headers={"Authorization": f"Bearer {tokens[0]}"},
                            json={"code": expired["code"]})
    assert res.status_code == 409 and res.json()["error"]["code"] == "INVITATION_EXPIRED"
    wrong = await client.post("/api/mp/org/join", headers={"Authorization": f"Bearer {tokens[0]}"},
                              json={"code": "NOTACODE42"})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "INVITATION_INVALID"
    anon = await client.post("/api/mp/org/join", json={"code": inv["code"]})
    assert anon.status_code == 401


async def test_join_leave_admin_invites_and_scene(client, fake_wechat):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin)
    boss, _ = await join(client, fake_wechat, admin, org["id"], is_admin=True)
    clerk, clerk_openid = await join(client, fake_wechat, admin, org["id"])

    # The organisation's admin hands out codes; an ordinary member may not.
    res = await client.post(f"/api/mp/org/{org['id']}/invitations", headers=boss, json={})
    assert res.status_code == 201 and res.json()["scene"].startswith("orgjoin:")
    denied = await client.post(f"/api/mp/org/{org['id']}/invitations", headers=clerk, json={})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "NOT_ORG_ADMIN"

    # The public account's SCAN handler redeems the scene for an OA openid.
    member = await service.redeem_scene("oa-openid-1", res.json()["scene"])
    assert member.org_id == org["id"] and member.channel == "oa"
    assert await service.redeem_scene("oa-openid-2", "booking:123") is None

    mine = await client.get("/api/mp/org/memberships", headers=clerk)
    assert [m["org"]["id"] for m in mine.json()["items"]] == [org["id"]]
    assert (await client.post("/api/mp/org/leave", headers=clerk, json={"org_id": org["id"]})).status_code == 200
    again = await client.post("/api/mp/org/leave", headers=clerk, json={"org_id": org["id"]})
    assert again.status_code == 404
    assert not await OrgMember.filter(openid=clerk_openid, active=True).exists()
    members = (await client.get(f"/api/staff/orgs/{org['id']}/members", headers=admin)).json()["items"]
    assert len(members) == 3 and all("****" in m["openid"] for m in members)

    # Suspended organisations take no new members.
    await client.patch(f"/api/staff/orgs/{org['id']}", headers=admin, json={"suspended": True})
    res = await client.post(f"/api/staff/orgs/{org['id']}/invitations", headers=admin, json={})
    assert res.status_code == 409 and res.json()["error"]["code"] == "ORG_SUSPENDED"


async def test_cli_imports_organisations_from_csv(live, tmp_path):
    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text("name,type,district,business_lines,tags,credit_code\n"
                        "示例银行,银行,城东区,抵押;预告,合作银行,\n"
                        "示例置业,developer,新区,新房办证,,\n"
                        "坏数据,学校,新区,,,\n", encoding="utf-8-sig")
    settings = live.ctx.settings
    env = {**os.environ, "DENGJI_DATABASE_URL": settings.database_url, "DENGJI_HOME": str(settings.home),
           "DENGJI_DATA_KEY": settings.data_key.get_secret_value(), "DENGJI_ENV": "test"}
    proc = subprocess.run([sys.executable, "-m", "server.cli", "orgs", "import", str(csv_file)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1, proc.stderr  # one bad row
    assert "新增机构 2 家" in proc.stdout and "第 4 行" in proc.stdout
    orgs = {o["name"]: o for o in await service.get_all_orgs()}
    assert orgs["示例银行"]["type"] == "bank" and orgs["示例银行"]["business_lines"] == ["抵押", "预告"]
    assert orgs["示例置业"]["type"] == "developer"
