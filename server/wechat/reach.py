"""Send one message to a person by whichever channel reaches them (issue 14: people who use only the public account).

First the mini-program's subscribe message, where the person has a mini-program openid (WeChat answers 43101
when they gave no one-time consent); else the public account's template message to their public-account openid,
which WeChat delivers to followers only (43004 otherwise, recorded in `wechat_follower` so the next message is not
even tried); else nobody can be reached, counted in `dengji_wechat_unreachable_total` and never retried.
Transient errors propagate (the caller frees its claim and retries); every refusal for good is answered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wechatpy.exceptions import WeChatClientException

from models.wechat import WeChatFollower
from server.core import metrics
from server.wechat.client import is_transient

log = logging.getLogger("dengji.wechat.reach")

NO_CONSENT = 43101  # subscribe message: no one-time consent left for this template
NOT_FOLLOWER = 43004  # template message: the user does not follow the public account


@dataclass(frozen=True)
class Subscribe:
    """A mini-program subscribe message (the recipient is the person's mini-program openid)."""

    template_id: str
    data: dict
    page: str | None = None


@dataclass(frozen=True)
class Template:
    """A public-account template message. `client_msg_id` is WeChat's 防重入 key: a resend with the same id to the
    same user within 10 minutes is not delivered twice. `path` is one of our /h5/ pages."""

    template_id: str
    data: dict
    client_msg_id: str
    path: str | None = None


@dataclass(frozen=True)
class Reached:
    channel: str | None  # "mp", "oa" or None (nobody reached)
    errcode: int | None = None  # WeChat's last refusal, if any


def page_url(settings, path: str | None) -> str | None:
    """An /h5/ page as an absolute link on DENGJI_PUBLIC_BASE_URL (no link when the root is not configured)."""
    if not path or not settings.public_base_url:
        return None
    return settings.public_base_url.rstrip("/") + path


async def send_to_person(ctx: dict, *, mp_openid: str | None, oa_openid: str | None, subscribe: Subscribe | None,
                         template: Template | None, label: str, consent_used_is_delivered: bool = False) -> Reached:
    """Send by the first channel that reaches the person. `consent_used_is_delivered`: the resend of an attempt a
    crash interrupted, where 43101 means that attempt was delivered (server/progress) — answered as "mp", no
    fallback, so the person never gets the message twice."""
    errcode = None
    if mp_openid and subscribe is not None:
        try:
            await ctx["mp"].call(lambda c: c.wxa.send_subscribe_message(
                mp_openid, subscribe.template_id, subscribe.data, subscribe.page), api="subscribe")
            return Reached("mp")
        except WeChatClientException as exc:
            if is_transient(exc):
                raise
            if consent_used_is_delivered and exc.errcode == NO_CONSENT:
                return Reached("mp", exc.errcode)
            errcode = exc.errcode
            log.info("subscribe message refused", extra={"fields": {"kind": label, "errcode": exc.errcode}})
    if oa_openid and template is not None:
        row = await WeChatFollower.get_or_none(openid=oa_openid).values("subscribed")
        if row is not None and not row["subscribed"]:
            errcode = NOT_FOLLOWER  # known not to follow: WeChat would answer 43004
        else:
            reached, errcode = await _send_template(ctx, openid=oa_openid, template=template, label=label)
            if reached:
                return Reached("oa")
    metrics.WECHAT_UNREACHABLE.labels(label, str(errcode or "none")).inc()
    return Reached(None, errcode)


async def _send_template(ctx: dict, *, openid: str, template: Template, label: str) -> tuple[bool, int | None]:
    url = page_url(ctx["settings"], template.path)
    body = {"touser": openid, "template_id": template.template_id, "data": template.data,
            "client_msg_id": template.client_msg_id} | ({"url": url} if url else {})
    try:
        # wechatpy's send_template has no client_msg_id: the same body posted directly (as notices do).
        await ctx["wechat"].call(lambda c: c.post("message/template/send", data=body), api="template")
    except WeChatClientException as exc:
        if is_transient(exc):
            raise
        if exc.errcode == NOT_FOLLOWER:  # not (or no longer) a follower: remembered, the pages stop offering it
            from server.wechat import service as followers

            await followers.not_following(openid=openid)
        log.info("template message refused", extra={"fields": {"kind": label, "errcode": exc.errcode}})
        return False, exc.errcode
    return True, None
