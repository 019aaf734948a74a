"""Public-account followers as reported by subscribe/unsubscribe events (and, for one not seen yet, user/info)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from wechatpy.exceptions import WeChatClientException

from models.wechat import WeChatFollower

log = logging.getLogger("dengji.wechat")


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


async def follows(app, *, openid: str) -> bool | None:
    """Whether a public-account openid follows the account: from the subscribe/unsubscribe events we recorded,
    else WeChat's cgi-bin/user/info (its `subscribe` flag, recorded for next time); None when nobody can say."""
    row = await WeChatFollower.get_or_none(openid=openid).values("subscribed")
    if row is not None:
        return row["subscribed"]
    if not app.ctx.wechat.configured:
        return None
    try:
        info = await app.ctx.wechat.call(lambda c: c.user.get(openid), api="user_info")
    except (WeChatClientException, OSError) as exc:
        log.info("user/info did not say whether the user follows",
                 extra={"fields": {"error": type(exc).__name__, "errcode": getattr(exc, "errcode", None)}})
        return None
    following = bool((info or {}).get("subscribe"))
    await _upsert(openid, subscribed=following)
    return following


async def not_following(*, openid: str) -> None:
    """WeChat refused a template message with 43004 (not a follower): remember it, so pages stop offering it."""
    await _upsert(openid, subscribed=False)


async def get_or_raise(*, openid: str) -> WeChatFollower:
    return await WeChatFollower.get(openid=openid)
