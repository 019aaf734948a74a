"""`dengji dev citizen`: a newcomer's verified citizen session without WeChat, refused in production."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from server.cli import main
from tests.booking.conftest import unique_id_number


async def test_dev_citizen_prints_a_token_of_a_verified_citizen(live, client, capsys):
    id_number = unique_id_number()
    await asyncio.to_thread(main, ["dev", "citizen", "--name", "张三", "--id-number", id_number, "--url", live.url])
    token = capsys.readouterr().out.strip()
    me = (await client.get("/api/mp/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["bound"] is True and me["verification"] == "dev" and me["id_number"].endswith(id_number[-4:])
    # The README's next calls work with it: see slots, book, see the booking.
    from tests.booking.conftest import MONDAY

    live.ctx.clock.set(MONDAY)
    headers = {"Authorization": f"Bearer {token}"}
    slots = (await client.get("/api/halls/center/slots", params={"date": "2026-11-24"})).json()["slots"]
    assert slots[0]["remaining"] > 0
    res = await client.post("/api/bookings", headers=headers, json={
        "hall": "center", "business_type": "secondhand_transfer", "date": "2026-11-24", "start": slots[0]["start"]})
    assert res.status_code == 201, res.text
    assert [b["id"] for b in (await client.get("/api/bookings", headers=headers)).json()["items"]] == [res.json()["id"]]


def test_dev_citizen_is_refused_in_production(tmp_path):
    env = {**os.environ, "DENGJI_ENV": "production", "DENGJI_HOME": str(tmp_path),
           "DENGJI_DATA_KEY": "a" * 43 + "=", "DENGJI_DATABASE_URL": "postgres://u@127.0.0.1:1/x",
           "DENGJI_REDIS_URL": "redis://127.0.0.1:1/0"}
    res = subprocess.run([sys.executable, "-m", "server.cli", "dev", "citizen", "--name", "张三", "--id-number",
                          unique_id_number(), "--url", "http://127.0.0.1:1"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode != 0 and "生产环境不能创建测试市民身份" in res.stderr
