"""The bot API tests share the public-account test fixtures."""

import pytest

from tests.wechat.conftest import oracle, settings, wx  # noqa: F401


@pytest.fixture(autouse=True)
async def _kb_of_this_test(live):
    """A worker reads the knowledge base from the database as it starts, before the harness empties the tables
    for the test: read it again, so an earlier test's edits are not answered here."""
    from bot import service

    await service.refresh(app=live.app)
