"""What the public account answers: a handler per message type / event, looked up in a table.

respond() wraps a handler with at-most-once delivery (dedup) and the reply window: an answer not
ready within the budget is sent later as a customer-service message, and WeChat gets "success".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from wechatpy.messages import BaseMessage

from bot import flows as bot_flows
from bot import service as bot_service
from server.core.redis import close_batch, open_batch
from server.identity import service as identity
from server.wechat import dedup, flows, menu, messaging, service
from server.wechat.protocol import Inbound, Replayed, Transfer, render, render_text

log = logging.getLogger("dengji.wechat")

Handler = Callable[[object, BaseMessage], Awaitable[str | None]]
HANDLERS: dict[str, Handler] = {}
# WeChat drops a passive reply after 5 s; leave room for the network.
DEFAULT_REPLY_BUDGET_SECONDS = 4.0


def handles(*kinds: str) -> Callable[[Handler], Handler]:
    """Register a handler for message types ("text") or events ("event:click")."""
    def register(fn: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = fn
        return fn

    return register


def kind_of(message: BaseMessage) -> str:
    raw = message._data
    msg_type = str(raw.get("MsgType", "")).lower()
    if msg_type == "event":
        # wechatpy turns a subscribe with a qrscene_ key into "subscribe_scan".
        return "event:" + str(raw.get("Event", "")).lower()
    return msg_type


async def dispatch(app, message: BaseMessage) -> str | None:
    """Run the handler for a message; return the reply text, or None for no reply."""
    kind = kind_of(message)
    handler = HANDLERS.get(kind)
    if handler is None:
        if kind.startswith("event:"):
            return None  # events we do not act on need no answer
        return app.ctx.bot.text("unsupported_message", "目前只能回复文字消息。")
    return await handler(app, message)


@handles("text")
async def on_text(app, message: BaseMessage) -> str:
    reply = await bot_flows.chat(app=app, user_id=message.source, text=message.content or "", channel="oa")
    if reply.kind == "transfer":
        return Transfer(reply.text)
    hint = app.ctx.bot.text("feedback_hint")
    return f"{reply.text}\n\n{hint}" if reply.kind == "answer" and hint else reply.text


@handles("event:subscribe")
async def on_subscribe(app, message: BaseMessage) -> str:
    await service.subscribe(openid=message.source)
    await identity.link_oa_openid(app, openid=message.source)  # user/info gives the unionid: one person
    return app.ctx.bot.text("welcome")


@handles("event:subscribe_scan")
async def on_subscribe_scan(app, message: BaseMessage) -> str:
    scene = message.scene_id or ""
    await service.subscribe(openid=message.source, scene=scene[:64] or None)
    await identity.link_oa_openid(app, openid=message.source)
    checked = await flows.scan(app=app, openid=message.source, scene=scene)
    return f"{app.ctx.bot.text('welcome')}\n\n{checked}"


@handles("event:unsubscribe")
async def on_unsubscribe(app, message: BaseMessage) -> None:
    await service.unsubscribe(openid=message.source)
    return None


@handles("event:scan")
async def on_scan(app, message: BaseMessage) -> str:
    return await flows.scan(app=app, openid=message.source, scene=message.scene_id or "")


@handles("event:click")
async def on_click(app, message: BaseMessage) -> str:
    return menu.reply_for_click(app.ctx.bot, app.ctx.wechat_menu_replies, message.key or "")


@handles("event:view")
async def on_view(app, message: BaseMessage) -> None:
    return None  # the user is opening a page; nothing to say


async def _produce(app, inbound: Inbound) -> str:
    """Answer within the budget, or hand the answer to a background send and return "success"."""
    task = asyncio.create_task(dispatch(app, inbound.message))
    done, _ = await asyncio.wait({task}, timeout=app.ctx.wechat_reply_budget)
    if task in done:
        text = task.result()
        return render(inbound, text) if text else "success"
    _answer_later(app, inbound, task)
    return "success"


def _answer_later(app, inbound: Inbound, task: asyncio.Task) -> None:
    """Send the task's answer as a customer-service message once it is ready (kept until it is sent)."""
    late = asyncio.create_task(_send_late(app, inbound.message.source, task))
    app.ctx.wechat_tasks.add(late)
    late.add_done_callback(app.ctx.wechat_tasks.discard)


async def _send_late(app, openid: str, task: asyncio.Task) -> None:
    try:
        text = await task
    except Exception:
        log.exception("late wechat answer failed")
        return
    if text:
        await messaging.send_text(app=app, openid=openid, text=text)


async def respond(*, app, inbound: Inbound) -> str:
    """Return the rendered reply to a push (plain XML or "success"), once per push across retries."""
    key = app.ctx.keys("wechat", "push", *dedup.key_parts(inbound.message))
    nonce_key = app.ctx.keys("wechat", "nonce", *inbound.replay_parts)
    try:
        if _plain_question(app, inbound.message):
            reply = await _respond_committing(app, inbound, key, nonce_key)
        else:
            reply = await dedup.once(app.ctx.redis, key, lambda: _produce(app, inbound), nonce_key=nonce_key)
    except dedup.Replayed as exc:
        raise Replayed() from exc
    except Exception:
        log.exception("wechat message handling failed")
        return render_text(inbound, app.ctx.bot.text("busy", "系统繁忙，请稍后再试。"))
    return reply if reply is not None else "success"


def _plain_question(app, message: BaseMessage) -> bool:
    """A text message the bot answers from memory, whose only side effects are Redis writes.

    Votes (they store feedback in the database) and receipt numbers (they look the case up) are claimed
    before they are handled, like events.
    """
    if kind_of(message) != "text":
        return False
    text = message.content or ""
    bot = app.ctx.bot
    return bot_service.vote_of(bot, text) is None and not bot.shared_answer(text).receipt_no


async def _respond_committing(app, inbound: Inbound, key: str, nonce_key: str) -> str:
    """Answer a plain question, then store the reply and its writes in one step (see dedup.commit)."""
    batch, token = open_batch()
    try:
        task = asyncio.create_task(dispatch(app, inbound.message))  # its writes land in the batch
    finally:
        close_batch(token)
    done, _ = await asyncio.wait({task}, timeout=app.ctx.wechat_reply_budget)
    if task in done:
        text = task.result()
        reply = render(inbound, text) if text else "success"
        stored = await dedup.commit(app.ctx.wechat_commit, key, reply, batch, nonce_key=nonce_key)
        return reply if stored is None else stored
    # Too slow for a passive reply: claim the push now, so only one delivery answers later.
    try:
        stored = await dedup.commit(app.ctx.wechat_commit, key, "success", batch, nonce_key=nonce_key)
    except dedup.Replayed:
        task.cancel()
        raise
    if stored is not None:
        task.cancel()
        return stored
    _answer_later(app, inbound, task)
    return "success"
