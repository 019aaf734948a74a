"""Steps from the public account into other domains: scanning a hall's QR code checks a booking in."""

from __future__ import annotations


async def check_in(*, app, openid: str, scene: str) -> str:
    """Check in the user's booking for today at the scanned hall; return the chat reply."""
    try:
        from server.booking.flows import check_in_by_scan
    except ImportError:  # booking not deployed yet
        return app.ctx.bot.text("checkin_unavailable", "扫码签到暂时不可用，请到窗口由工作人员为您签到。")
    return await check_in_by_scan(app=app, openid=openid, scene=scene)
