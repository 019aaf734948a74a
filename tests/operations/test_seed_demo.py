"""`dengji db seed` applies the data files (banks included); `--demo` adds sample cases and bookings once."""

import os
import sqlite3
import subprocess
import sys

from tests.conftest import TEST_DATA_KEY


def _dengji(home, *args):
    env = dict(os.environ, DENGJI_ENV="development", DENGJI_HOME=str(home), DENGJI_DATA_KEY=TEST_DATA_KEY)
    env.pop("DENGJI_DATABASE_URL", None)
    env.pop("DENGJI_REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_seed_demo_adds_cases_bookings_and_check_ins_once(tmp_path):
    assert _dengji(tmp_path, "db", "init").returncode == 0
    out = _dengji(tmp_path, "db", "seed", "--demo")
    assert out.returncode == 0, out.stderr
    assert "已导入 37 家联网银行（其中 7 家已开通抵押登记全程网办）" in out.stdout
    assert "示例数据：新增办件 300 件" in out.stdout
    db = sqlite3.connect(tmp_path / "dengji.sqlite3")
    stages = {s for (s,) in db.execute("SELECT DISTINCT stage FROM cases")}
    assert {"accepted", "correction_required", "e_certificate", "ready"} <= stages
    assert db.execute("SELECT count(*) FROM booking WHERE status = 'checked_in'").fetchone()[0] > 100
    assert db.execute("SELECT count(*) FROM walk_in").fetchone()[0] > 0
    channels = {c for (c,) in db.execute("SELECT DISTINCT channel FROM cases")}
    assert channels == {"online_self", "online_agent", "hall"}
    bookings = db.execute("SELECT count(*) FROM booking").fetchone()[0]
    db.close()
    again = _dengji(tmp_path, "db", "seed", "--demo")
    assert again.returncode == 0 and "新增办件 0 件、预约 0 条" in again.stdout
    db = sqlite3.connect(tmp_path / "dengji.sqlite3")
    assert db.execute("SELECT count(*) FROM booking").fetchone()[0] == bookings
    db.close()
