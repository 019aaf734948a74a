"""The console's scripts are served by the service itself, pinned, and match the hashes in VENDOR.md."""

import hashlib
import re

from server.console.render import STATIC, TEMPLATES

VENDOR = STATIC / "vendor"


def test_vendored_files_match_their_recorded_hashes():
    table = (VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, flags=re.M)
    assert {name for name, _ in rows} == {p.name for p in VENDOR.glob("*.js")}
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert (VENDOR / "LICENSE.htmx").exists() and (VENDOR / "LICENSE.echarts").exists()


def test_no_template_loads_anything_from_another_host():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), template.name


async def test_static_files_are_served(live):
    for name in ("htmx-2.0.11.min.js", "echarts-5.6.0.common.min.js"):
        res = await live.http.get(f"/console/static/vendor/{name}")
        assert res.status_code == 200 and res.content == (VENDOR / name).read_bytes()
    assert (await live.http.get("/console/static/console.css")).status_code == 200


async def test_crafted_static_names_are_a_plain_404_never_a_500(live):
    for prefix in ("/console/static/", "/h5/static/"):
        for name in ("%00", "a" * 300, "%FF", "vendor", "", "..%2F..%2Fviews.py", "vendor%2F..%2F..%2Fviews.py",
                     "VENDOR.md", "vendor/VENDOR.md"):
            res = await live.http.get(prefix + name)
            assert res.status_code == 404, (prefix + name, res.status_code)
