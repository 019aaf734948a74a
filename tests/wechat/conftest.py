from __future__ import annotations

import shutil

import pytest

from bot.engine import DEFAULT_DATA_DIR, Bot
from tests.wechat.helpers import WeChatServer


@pytest.fixture
def settings(settings):
    """The app's knowledge base is a private copy under <home>/bot that tests may edit."""
    shutil.copytree(DEFAULT_DATA_DIR, settings.home / "bot")
    return settings


@pytest.fixture(scope="session")
def oracle() -> Bot:
    """The shipped data, read independently of the app, for expected answers."""
    return Bot(DEFAULT_DATA_DIR)


@pytest.fixture
def wx(live, fake_wechat) -> WeChatServer:
    return WeChatServer(live.http, fake_wechat.appid, fake_wechat)
