"""WeChat sends for case progress: the stage change by whichever channel reaches the subscriber."""

from __future__ import annotations

from server.wechat import reach


async def send_stage_change(ctx: dict, content: dict, *, resumed: bool = False) -> reach.Reached:
    """Send one stage change: the mini-program subscribe message, else the public account's template message to a
    follower (server/wechat/reach.py). Transient errors propagate for the caller to retry. `resumed`: the resend
    of an attempt a crash interrupted, where 43101 means that attempt was delivered (no fallback then)."""
    oa = content.get("oa_template")
    template = reach.Template(oa["template_id"], oa["data"], client_msg_id=oa["client_msg_id"], path=oa["path"]) \
        if oa else None
    return await reach.send_to_person(
        ctx, mp_openid=content["openid"], oa_openid=content.get("oa_openid"),
        subscribe=reach.Subscribe(content["template_id"], content["data"], content["page"]), template=template,
        label="case_stage_changed", consent_used_is_delivered=resumed)
