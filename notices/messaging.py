"""WeChat sends for notices: template messages to organisation members, subscribe messages to citizens.

Members get public-account template messages (no per-user authorisation needed, suits repeated
business notices). Citizens subscribe inside the mini-program, which is where they grant the
subscribe-message template, so their notices go through the mini-program's subscribe message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wechatpy.exceptions import WeChatClientException

from notices.config import NoticesConfig
from server.wechat.client import is_transient

# Why WeChat refused, in words staff understand (shown in reports and the CSV export).
ERROR_REASONS = {
    -1: "微信系统繁忙",
    40003: "openid 无效",
    40037: "模板编号无效",
    43004: "用户未关注公众号",
    43101: "用户拒收消息",
    45009: "微信接口调用超过频率限制",
    45011: "微信接口调用过于频繁",
    45015: "超过客服消息回复时限",
    45047: "客服消息条数已达上限",
    47003: "模板参数不正确",
}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    transient: bool = False
    code: int | None = None
    reason: str | None = None
    msgid: str | None = None


def error_reason(code: int | None) -> str:
    if code is None:
        return "网络错误"
    return ERROR_REASONS.get(code, f"微信返回错误 {code}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def org_message(cfg: NoticesConfig, notice: dict) -> tuple[dict, str | dict | None]:
    """Build template data and link for a notice to organisation members.

    WeChat no longer shows a template's ``first`` and ``remark`` (since May 2023): the content goes in keyword
    fields, "thing" ones at most 20 characters, and the full text behind the link (a web page, or the
    mini-program's inbox page).
    """
    tpl = cfg.org_template
    category = cfg.category(notice["category"])
    values = {"title": _clip(notice["title"], 20),
              "category": _clip(category.name if category else notice["category"], 20),
              "time": _when(notice), "summary": _clip(notice["body"], 20)}
    data = {tpl.fields[k]: {"value": v} for k, v in values.items() if k in tpl.fields}
    if tpl.url:
        return data, tpl.url.replace("{id}", str(notice["id"]))
    if tpl.page:
        return data, {"pagepath": tpl.page.replace("{id}", str(notice["id"]))}
    return data, None


def public_message(cfg: NoticesConfig, notice: dict) -> tuple[dict, str | None]:
    """Build subscribe-message data and page (its "thing" fields take at most 20 characters)."""
    tpl = cfg.public_template
    values = {"title": _clip(notice["title"], 20), "time": _when(notice), "summary": _clip(notice["body"], 20)}
    data = {tpl.fields[k]: {"value": v} for k, v in values.items() if k in tpl.fields}
    return data, (tpl.page.replace("{id}", str(notice["id"])) or None)


def _when(notice: dict) -> str:
    at = notice.get("started_at") or datetime.now().astimezone()
    return at.strftime("%Y-%m-%d %H:%M")


async def send(ctx: dict, cfg: NoticesConfig, *, channel: str, openid: str, data: dict,
               link: str | dict | None, client_msg_id: str | None = None) -> SendResult:
    """Send one notice message and classify the outcome (never raises for WeChat or network errors).

    ``client_msg_id`` is WeChat's 防重入 id for template messages: the same openid and id within
    10 minutes deliver one message, so a send whose outcome we lost can be repeated safely. The
    mini-program subscribe message has no such id and ignores it.
    """
    try:
        if channel == "mp":
            tpl_id = cfg.public_template.template_id
            res = await ctx["mp"].call(
                lambda c: c.wxa.send_subscribe_message(openid, tpl_id, data, page=link), api="subscribe")
        else:
            body = {"touser": openid, "template_id": cfg.org_template.template_id, "data": data}
            mp_appid = ctx["mp"].appid if ctx.get("mp") is not None else ""
            if isinstance(link, dict):
                if mp_appid:  # the message opens the notice in the mini-program
                    body["miniprogram"] = {"appid": mp_appid, **link}
            elif link:
                body["url"] = link
            if client_msg_id:
                body["client_msg_id"] = client_msg_id
            # wechatpy's send_template has no client_msg_id; post the same body with it ourselves.
            res = await ctx["wechat"].call(lambda c: c.post("message/template/send", data=body), api="template")
    except WeChatClientException as exc:
        return SendResult(False, is_transient(exc), exc.errcode, error_reason(exc.errcode))
    except OSError as exc:  # requests' errors are OSErrors: the message may or may not have left
        return SendResult(False, True, None, error_reason(None) + f"（{type(exc).__name__}）")
    msgid = res.get("msgid") if isinstance(res, dict) else None
    return SendResult(True, msgid=str(msgid) if msgid is not None else None)
