"""The public-account menu opens the pages through the web authorisation URL, within WeChat's menu limits."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from server.wechat import menu


def _leaves(data: dict) -> list[dict]:
    return [leaf for b in data["button"] for leaf in b.get("sub_button") or [b]]


async def test_every_view_button_opens_one_of_our_pages_through_the_authorisation_url(live, signed_in):
    browser, _, _ = signed_in
    payload = menu.wechat_payload(menu.load(), "https://dengji.example.gov.cn")
    views = [leaf for leaf in _leaves(payload) if leaf["type"] == "view"]
    targets = set()
    for leaf in views:
        url = urlsplit(leaf["url"])
        assert (url.scheme, url.netloc, url.path) == ("https", "dengji.example.gov.cn", "/api/oa/oauth/authorize")
        [target] = parse_qs(url.query)["next"]
        targets.add(target)
        res = await browser.get(target)
        assert res.status_code == 200, (leaf["name"], target, res.status_code)
    assert {"/h5/booking", "/h5/bookings", "/h5/progress", "/h5/cases", "/h5/inbox", "/h5/guide"} <= targets


def test_menu_limits_are_checked_before_anything_is_sent(tmp_path):
    def check(data: dict) -> None:
        path = tmp_path / "menu.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        menu.wechat_payload(menu.load(path), "https://x.example")

    view = {"type": "view", "name": "预约", "url": "/api/oa/oauth/authorize?next=/h5/booking"}
    check({"button": [view]})
    with pytest.raises(menu.MenuError, match="过长"):
        check({"button": [view | {"name": "预约办事大厅入口"}]})  # 24 bytes on the top level (16 allowed)
    with pytest.raises(menu.MenuError, match="子菜单"):
        check({"button": [{"name": "办事", "sub_button": [view] * 6}]})
    with pytest.raises(menu.MenuError, match="url"):
        check({"button": [view | {"url": "/h5/" + "x" * 1100}]})
    with pytest.raises(menu.MenuError, match="url"):
        check({"button": [view | {"url": "javascript:alert(1)"}]})
    with pytest.raises(menu.MenuError, match="DENGJI_PUBLIC_BASE_URL"):
        menu.wechat_payload({"button": [view]}, "")
