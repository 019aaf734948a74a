"""Steps from the public account into other domains, started by scanning a QR code."""

from __future__ import annotations

from notices import service as notices_service
from server.booking.flows import check_in_by_scan
from server.core.errors import AppError


async def scan(*, app, openid: str, scene: str) -> str:
    """Act on a scanned QR scene: an organisation's invitation joins it, a hall's code checks a booking in."""
    scene = scene.removeprefix("qrscene_")
    if scene.startswith(notices_service.SCENE_PREFIX):
        # Joining here binds the public-account openid, which is what template messages are sent to.
        try:
            member = await notices_service.redeem_scene(openid, scene)
        except AppError as exc:
            return exc.message
        org = await member.org
        return f"您已加入「{org.name}」，今后将在本公众号接收登记中心发给贵机构的通知。"
    return await check_in_by_scan(app=app, openid=openid, scene=scene)
