"""The public account's message server: `/wechat` (URL check on GET, pushes on POST)."""

from sanic import Blueprint, Request
from sanic.response import text

from server.wechat import dedup, menu, messages, protocol

bp = Blueprint("wechat")


async def setup(app) -> None:
    """Load the message-server configuration and menu replies once per worker."""
    app.ctx.wechat_endpoint = protocol.Endpoint.from_settings(app.ctx.settings)
    app.ctx.wechat_reply_budget = messages.DEFAULT_REPLY_BUDGET_SECONDS
    app.ctx.wechat_menu_replies = menu.click_replies(menu.load())
    app.ctx.wechat_tasks = set()
    app.ctx.wechat_commit = dedup.commit_script(app.ctx.redis)


@bp.get("/wechat")
async def verify_url(request: Request):
    """Echo WeChat's check string when the signature holds."""
    return text(protocol.verify_url(request.app.ctx.wechat_endpoint, protocol.parse_query(request.query_string)))


@bp.post("/wechat")
async def receive(request: Request):
    """Answer a pushed message or event with a passive reply."""
    endpoint = request.app.ctx.wechat_endpoint
    inbound = protocol.decode(endpoint, protocol.parse_query(request.query_string), request.body)
    reply = await messages.respond(app=request.app, inbound=inbound)
    return text(protocol.encode(endpoint, inbound, reply), content_type="application/xml; charset=utf-8")
