"""Short-lived hall check-in QR codes, so a photo of yesterday's code checks nobody in.

The scene a hall's screen shows is ``hall:<code>:<window>:<signature>``: the window is the number of
``WINDOW_SECONDS`` periods since the epoch on the booking clock, the signature a keyed hash of hall and window
(only the server can make one). A scan is accepted in the window it was made for and the next one, so a code
read just before it changes still works; anything older gets a clear answer.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from wechatpy.exceptions import WeChatClientException

from server.core.errors import NotFound
from server.wechat.client import WeChatUnavailable

PREFIX = "hall:"
WINDOW_SECONDS = 300
GRACE_WINDOWS = 1
SHOW_QRCODE = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="


@dataclass(frozen=True)
class Scan:
    hall_code: str | None
    state: str  # "ok" | "expired" | "stale" (an old fixed code) | "unknown"


def window_of(now: datetime) -> int:
    return int(now.timestamp()) // WINDOW_SECONDS


def _signature(cipher, hall_code: str, window: int) -> str:
    return cipher.digest(f"{hall_code}:{window}", purpose="checkin-qr")[:10]


def scene_for(cipher, hall_code: str, now: datetime) -> str:
    window = window_of(now)
    return f"{PREFIX}{hall_code}:{window}:{_signature(cipher, hall_code, window)}"


def read_scene(cipher, scene: str, now: datetime) -> Scan:
    """Tell which hall a scanned scene is for and whether it is still valid."""
    scene = (scene or "").strip().removeprefix("qrscene_")
    if not scene.startswith(PREFIX):
        return Scan(None, "unknown")
    parts = scene[len(PREFIX):].split(":")
    if len(parts) == 1:
        return Scan(parts[0] or None, "stale")  # the fixed code printed before codes rotated
    if len(parts) != 3 or not parts[1].isdigit():
        return Scan(None, "unknown")
    hall_code, window = parts[0], int(parts[1])
    if not hmac.compare_digest(parts[2], _signature(cipher, hall_code, window)):
        return Scan(None, "unknown")
    age = window_of(now) - window
    return Scan(hall_code, "ok" if 0 <= age <= GRACE_WINDOWS else "expired")


async def current_checkin_qr(app, *, hall_code: str) -> dict:
    """The check-in QR a hall's screen should show now: scene, WeChat ticket/URL and when to refresh it."""
    from server.booking.flows import context

    catalog, now = await context(app)
    hall = catalog.halls.get(hall_code)
    if hall is None:
        raise NotFound("大厅不存在", code="HALL_NOT_FOUND")
    window = window_of(now)
    scene = scene_for(app.ctx.cipher, hall.code, now)
    refresh_at = datetime.fromtimestamp((window + 1) * WINDOW_SECONDS, tz=now.tzinfo)
    valid_until = refresh_at + timedelta(seconds=GRACE_WINDOWS * WINDOW_SECONDS)
    out = {"hall": hall.code, "scene": scene, "refresh_at": refresh_at.isoformat(),
           "expires_at": valid_until.isoformat(), "ticket": None, "qr_url": None, "image_url": None}
    if not app.ctx.wechat.configured:
        return out
    key = app.ctx.keys("checkin-qr", hall.code, window)
    cached = await app.ctx.redis.get(key)
    if cached:
        return out | json.loads(cached)
    body = {"expire_seconds": int((valid_until - now).total_seconds()) + 1, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}}}
    try:
        res = await app.ctx.wechat.call(lambda c: c.qrcode.create(body), api="qrcode")
    except (WeChatClientException, OSError) as exc:
        raise WeChatUnavailable("暂时无法生成签到二维码，请稍后刷新") from exc
    qr = {"ticket": res["ticket"], "qr_url": res.get("url"), "image_url": SHOW_QRCODE + res["ticket"]}
    await app.ctx.redis.set(key, json.dumps(qr), ex=WINDOW_SECONDS * (GRACE_WINDOWS + 1))
    return out | qr
