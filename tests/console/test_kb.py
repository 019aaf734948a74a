"""Knowledge base over HTTP: a miss starts a new entry, bad input stays by its field, feedback per entry."""

from models import BotFeedback
from tests.console.conftest import console_login
from tests.factories import login_citizen


async def test_a_miss_starts_a_new_entry(live, client):
    headers = {"Authorization": f"Bearer {await login_citizen(client)}"}
    question = "大厅附近有没有充电桩给电动汽车充电"
    assert (await client.post("/api/mp/bot/ask", headers=headers, json={"question": question})).status_code == 200
    editor = await console_login(live, "publisher")
    form = await editor.get("/console/kb/new", params={"question": question})
    assert form.status_code == 200 and question in form.text
    entry = {"id": "Bad Id!", "question": question, "phrasings": question, "keywords": "充电桩\n电动汽车",
             "answer": "中心大厅停车场东侧有 8 个充电桩，按停车场标准收费。"}
    res = await editor.post("/console/kb/new", entry)
    assert res.status_code == 422 and 'id="e-id"' in res.text
    assert f"<strong>{question}</strong>" in (await editor.get("/console/kb/")).text  # listed as a miss
    res = await editor.post("/console/kb/new", entry | {"id": "hall-charging", "miss": question})
    assert res.status_code == 302 and res.headers["location"] == "/console/kb/hall-charging"
    res = await editor.post("/console/kb/new", entry | {"id": "hall-charging"})
    assert res.status_code == 409 and 'id="e-id"' in res.text and "已有相同标识的条目" in res.text
    reply = (await client.post("/api/mp/bot/ask", headers=headers, json={"question": question})).json()
    assert reply["entry_id"] == "hall-charging" and "充电桩" in reply["text"]
    assert f"<strong>{question}</strong>" not in (await editor.get("/console/kb/")).text  # answered: off the list
    await BotFeedback.create(entry_id="hall-charging", helpful=False, channel="mp")
    await BotFeedback.create(entry_id="hall-charging", helpful=True, channel="mp")
    await BotFeedback.create(entry_id="hall-charging", helpful=False, channel="mp")
    page = await editor.get("/console/kb/", params={"q": "充电桩"})
    assert page.status_code == 200 and "1 / <span" in page.text and ">2</span>" in page.text
    res = await editor.post("/console/kb/hall-charging", entry | {"answer": ""})
    assert res.status_code == 422 and 'id="e-answer"' in res.text
    again = await client.post("/api/mp/bot/ask", headers=headers, json={"question": question})
    assert "充电桩" in again.json()["text"]  # the refused edit changed nothing
    res = await editor.post("/console/kb/hall-charging/delete", {})
    assert res.status_code == 200 and "已删除条目 hall-charging" in res.text
    assert (await editor.get("/console/kb/hall-charging")).status_code == 404
    gone = (await client.post("/api/mp/bot/ask", headers=headers, json={"question": question})).json()
    assert gone.get("entry_id") != "hall-charging"
    await editor.aclose()
