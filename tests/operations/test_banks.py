"""Networked banks as data: seeded from banks.yaml, answered by the bot, targeted by notices."""

from models import Bank
from server.operations import seed as ops_seed
from tests.factories import login_citizen, staff_headers
from tests.notices.helpers import join, make_org


async def test_banks_are_data_the_bot_answers_from(client, live, settings):
    out = await ops_seed.seed(settings)
    assert out == "已导入 37 家联网银行（其中 7 家已开通抵押登记全程网办）"
    assert await Bank.filter(active=True).count() == 37
    assert await Bank.filter(online_mortgage=True).count() == 7
    admin = await staff_headers(client)
    items = (await client.get("/api/staff/banks", headers=admin)).json()["items"]
    first = items[0]
    assert first["name"] == "示例工商银行" and first["online_mortgage_since"] == "2020-03-01"
    assert first["branches"][0]["name"] == "市分行营业部"
    token = await login_citizen(client)
    headers = {"Authorization": f"Bearer {token}"}
    res = await client.post("/api/mp/bot/ask", headers=headers, json={"question": "哪些银行可以网上办抵押"})
    assert res.status_code == 200, res.text
    text = res.json()["text"]
    assert "全市共 37 家联网银行，其中 7 家已开通抵押登记全程网办" in text
    assert "示例工商银行" in text and "示例农村商业银行" in text and "示例联网银行08" not in text
    # The answer follows the data: a bank dropping online mortgage leaves the answer at once.
    await Bank.filter(name="示例工商银行").update(online_mortgage=False, online_mortgage_since=None)
    text = (await client.post("/api/mp/bot/ask", headers=headers,
                              json={"question": "哪些银行可以网上办抵押"})).json()["text"]
    assert "其中 6 家" in text and "示例工商银行" not in text
    # Re-seeding the file restores it (the file is the source of truth for `dengji db seed`).
    await ops_seed.seed(settings)
    assert (await Bank.get(name="示例工商银行")).online_mortgage is True


async def test_notices_can_target_banks_with_online_mortgage(client, live, settings, fake_wechat):
    await ops_seed.seed(settings)
    admin = await staff_headers(client)
    online = await make_org(client, admin, type="bank", name="示例建设银行")
    offline = await make_org(client, admin, type="bank", name="示例联网银行09")
    developer = await make_org(client, admin, type="developer", name="示例农业银行")  # same name, not a bank
    for org in (online, offline, developer):
        await join(client, fake_wechat, admin, org["id"])
    publisher = await staff_headers(client, role="publisher")
    res = await client.post("/api/staff/notices/preview", headers=publisher,
                            json={"target": {"online_mortgage_banks": True}})
    assert res.status_code == 200, res.text
    assert (res.json()["organizations"], res.json()["members"]) == (1, 1)
    res = await client.post("/api/staff/notices/preview", headers=publisher,
                            json={"target": {"online_mortgage_banks": True, "districts": ["城西区"]}})
    assert res.json()["organizations"] == 0
