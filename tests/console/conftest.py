"""Console test helpers: a staff member signed in to /console/ through its login form, over real HTTP."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import httpx
import pytest

from models import StaffRole
from server.staff import service as staff_service
from tests.booking.conftest import clock  # noqa: F401  (the pinned clock fixture)

PASSWORD = "correct-horse-42"
_seq = itertools.count(1)


async def make_staff(role: str = "admin", hall_code: str | None = None, username: str | None = None) -> str:
    username = username or f"c{role}{next(_seq)}"
    await staff_service.create(username=username, password=PASSWORD, display_name=f"测试{next(_seq)}",
                               role=StaffRole(role), hall_code=hall_code)
    return username


class Console:
    """An httpx client with a console session cookie and the page's CSRF token."""

    def __init__(self, http: httpx.AsyncClient, csrf: str) -> None:
        self.http, self.csrf = http, csrf

    async def get(self, path: str, **kw) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def post(self, path: str, data: dict | None = None, **kw) -> httpx.Response:
        return await self.http.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)

    async def aclose(self) -> None:
        await self.http.aclose()


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def console_login(live, role: str = "admin", hall_code: str | None = None) -> Console:
    username = await make_staff(role, hall_code)
    http = httpx.AsyncClient(base_url=live.url, timeout=30)
    form = csrf_of((await http.get("/console/login")).text)
    res = await http.post("/console/login", data={"username": username, "password": PASSWORD, "csrf": form})
    assert res.status_code == 302, res.text
    page = (await http.get("/console/password")).text
    return Console(http, csrf_of(page))


CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture
async def browser():
    """Debian's chromium driven by playwright; skipped with a reason where either is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): no browser for the console tests")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("python playwright not installed (pip install -e '.[dev]')")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser, live):
    """A desk-sized (1366×768) page on the live app."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                        base_url=live.url)
    return await context.new_page()


async def browser_login(page, username: str) -> None:
    await page.goto("/console/login")
    await page.fill("#f-username", username)
    await page.fill("#f-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/**")


async def shot(page, name: str) -> None:
    """Refresh docs/console/<name>.png only when asked (DENGJI_SCREENSHOTS=1): `make test` leaves docs/ alone."""
    if os.environ.get("DENGJI_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
