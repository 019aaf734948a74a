"""The hall's call screen: a full-screen page for the hall's TV, opened with a long-lived screen token
(no staff login on the TV), fed live by server-sent events from the hall's Redis channel, so a call made on
any worker reaches every screen."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from server.booking import flows
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


def _checkin_qr(app, hall_code: str):
    """SLOT for issue 9 (identity): the hall's short-lived check-in QR. Returns None until that service
    function exists; then call it here and the screen shows the QR under the call list."""
    return None


@bp.get("/<code>/screen")
async def screen(request: Request, code: str):
    try:
        await _check(request, code)
    except AppError as exc:  # the TV shows a page that says what to do, not a JSON body
        return refuse(request, exc.message, status=exc.status)
    catalog, now = await flows.context(request.app)
    hall = catalog.hall(code)
    calls = [queue.read(t) for t in await queue.board(hall_code=hall.code, day=now.date())]
    return render(request, "screen.html", hall=hall, calls=calls, token=request.args.get("token"),
                  qr=_checkin_qr(request.app, hall.code))


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
