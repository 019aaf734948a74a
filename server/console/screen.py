"""The hall's call screen: a full-screen page for the hall's TV, opened with a long-lived screen token
(no staff login on the TV), fed live by server-sent events from the hall's Redis channel, so a call made on
any worker reaches every screen. Beside the calls it shows the hall's rotating check-in QR
(`server/booking/checkin_qr.py`), drawn here as SVG (segno) and fetched again when its window turns, before the
one shown expires."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from datetime import datetime

import segno
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from server.booking import checkin_qr, flows
from server.console.render import refuse, render
from server.core.errors import AppError, Forbidden
from server.queue import service as queue

bp = Blueprint("console_screen", url_prefix="/console/halls")
KEEPALIVE_SECONDS = 15.0
# A stream ends after this long and the browser's EventSource reconnects by itself: no connection (and no
# Redis subscription) outlives a restart or a revoked token by more than this.
STREAM_SECONDS = 600.0


def _key(app, token: str) -> str:
    return app.ctx.keys("console", "screen", hashlib.sha256(token.encode()).hexdigest())


async def issue_token(app, hall_code: str) -> str:
    token = secrets.token_urlsafe(24)
    await app.ctx.redis.set(_key(app, token), hall_code, ex=app.ctx.settings.console_screen_token_days * 86400)
    return token


async def _check(request: Request, code: str) -> None:
    token = request.args.get("token") or ""
    if not token or await request.app.ctx.redis.get(_key(request.app, token)) != code:
        raise Forbidden("大屏链接无效或已过期，请在大厅工作台重新生成", code="SCREEN_TOKEN_INVALID")


async def _checkin_qr(app, hall_code: str) -> dict | None:
    """The hall's check-in QR as it should be shown now: an SVG data URI of WeChat's QR URL and the seconds
    until the next one; None when the public account is not configured (no QR to show)."""
    qr = await checkin_qr.current_checkin_qr(app, hall_code=hall_code)
    if not qr["qr_url"]:
        return None
    _, now = await flows.context(app)
    refresh_in = (datetime.fromisoformat(qr["refresh_at"]) - now).total_seconds()
    return {"svg": segno.make(qr["qr_url"], error="m").svg_data_uri(scale=8, border=2),
            "refresh_in": max(5, int(refresh_in) + 1), "expires_at": qr["expires_at"]}


@bp.get("/<code>/screen")
async def screen(request: Request, code: str):
    try:
        await _check(request, code)
    except AppError as exc:  # the TV shows a page that says what to do, not a JSON body
        return refuse(request, exc.message, status=exc.status)
    catalog, now = await flows.context(request.app)
    hall = catalog.hall(code)
    calls = [queue.read(t) for t in await queue.board(hall_code=hall.code, day=now.date())]
    try:
        qr = await _checkin_qr(request.app, hall.code)
    except AppError:  # WeChat unavailable: the calls still show, the page fetches the QR again
        qr = None
    return render(request, "screen.html", hall=hall, calls=calls, token=request.args.get("token"), qr=qr)


@bp.get("/<code>/screen/qr")
async def screen_qr(request: Request, code: str):
    """The current check-in QR for the screen (JSON: svg, refresh_in seconds); 503 while WeChat is down."""
    await _check(request, code)
    return json_response({"qr": await _checkin_qr(request.app, code)}, headers={"cache-control": "no-store"})


@bp.get("/<code>/screen/events")
async def screen_events(request: Request, code: str) -> HTTPResponse:
    """Server-sent events: the current `board` first, then one `call` event per call or recall of this hall."""
    await _check(request, code)
    response = await request.respond(content_type="text/event-stream",
                                     headers={"cache-control": "no-store", "x-accel-buffering": "no"})
    pubsub = request.app.ctx.redis.pubsub()
    await pubsub.subscribe(queue.channel(request.app.ctx.keys, code))
    try:
        await response.send("retry: 1000\n\n")
        # The board as it is now, read after subscribing: a screen that reconnects misses no call in between.
        _, now = await flows.context(request.app)
        board = [queue.read(t) for t in await queue.board(hall_code=code, day=now.date())]
        await response.send(f"event: board\ndata: {json.dumps(board, ensure_ascii=False)}\n\n")
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        while loop.time() < ends:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_SECONDS)
            if message is None:
                await response.send(": keepalive\n\n")
                continue
            data = message["data"]
            json.loads(data)  # only well-formed calls go to the screen
            await response.send(f"event: call\ndata: {data}\n\n")
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
    await response.eof()
