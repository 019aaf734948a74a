"""The bot API tests share the public-account test fixtures."""

from tests.wechat.conftest import oracle, settings, wx  # noqa: F401
