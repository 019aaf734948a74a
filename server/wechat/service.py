"""Public-account followers as reported by subscribe/unsubscribe events."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from models.wechat import WeChatFollower


async def _upsert(openid: str, **changes) -> None:
    if await WeChatFollower.filter(openid=openid).update(**changes):
        return
    try:
        await WeChatFollower.create(openid=openid, **changes)
    except IntegrityError:  # created concurrently
        await WeChatFollower.filter(openid=openid).update(**changes)


async def subscribe(*, openid: str, scene: str | None = None) -> None:
    """Record that a user followed the account (through a QR code scene, if any)."""
    await _upsert(openid, subscribed=True, subscribed_at=datetime.now(UTC), scene=scene)


async def unsubscribe(*, openid: str) -> None:
    """Record that a user unfollowed the account."""
    await _upsert(openid, subscribed=False, unsubscribed_at=datetime.now(UTC))


async def get_or_raise(*, openid: str) -> WeChatFollower:
    return await WeChatFollower.get(openid=openid)
