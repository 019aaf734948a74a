"""Organisations, invitations, notices, targeting previews, reports, inbox and hall subscriptions."""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from models import (
    DeliveryStatus,
    Hall,
    HallSubscription,
    Notice,
    NoticeAudience,
    NoticeDelivery,
    NoticeStatus,
    Organization,
    OrgInvitation,
    OrgMember,
    OrgType,
)
from notices.config import NoticesConfig
from notices.delivery import EXPAND_JOB
from notices.targeting import DIMENSIONS, matching_org_ids
from server.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from server.core.export import safe_row
from server.identity.validators import InvalidIdentity, validate_credit_code

SCENE_PREFIX = "orgjoin:"
ORG_TYPE_NAMES = {OrgType.BANK: "银行", OrgType.HOUSING_FUND: "公积金中心", OrgType.DEVELOPER: "开发企业",
                  OrgType.AGENCY: "中介机构", OrgType.COURT: "司法机关", OrgType.OTHER: "其他"}
STATUS_NAMES = {DeliveryStatus.PENDING: "待发送", DeliveryStatus.SENDING: "发送中",
                DeliveryStatus.SENT: "已发送", DeliveryStatus.FAILED: "发送失败"}
# States from which a notice may still be edited, withdrawn, or is past the point of no return.
EDITABLE = (NoticeStatus.DRAFT, NoticeStatus.REJECTED)
WITHDRAWABLE = (NoticeStatus.DRAFT, NoticeStatus.PENDING_REVIEW, NoticeStatus.APPROVED, NoticeStatus.SCHEDULED,
                NoticeStatus.REJECTED)


def _now() -> datetime:
    return datetime.now(UTC)


def mask_openid(openid: str) -> str:
    return openid[:4] + "****" + openid[-4:] if len(openid) > 8 else "****"


# ---------------------------------------------------------------- organisations

def _credit_code(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return validate_credit_code(value)
    except InvalidIdentity as exc:
        raise Unprocessable(exc.message, code=exc.code) from exc


def org_read(org: Organization, members: int | None = None) -> dict:
    out = {"id": org.id, "name": org.name, "type": org.type.value, "type_name": ORG_TYPE_NAMES[org.type],
           "district": org.district, "business_lines": org.business_lines, "tags": org.tags,
           "credit_code": org.credit_code, "suspended": org.suspended}
    if members is not None:
        out["members"] = members
    return out


async def create_org(*, name: str, type: OrgType, district: str, business_lines: list[str], tags: list[str],
                     credit_code: str | None = None, suspended: bool = False) -> Organization:
    """Register an organisation that can receive notices."""
    credit_code = _credit_code(credit_code)
    if await Organization.exists(name=name):
        raise Conflict("已存在同名机构", code="ORG_EXISTS")
    try:
        return await Organization.create(name=name, type=type, district=district, business_lines=business_lines,
                                         tags=tags, credit_code=credit_code, suspended=suspended)
    except IntegrityError as exc:
        raise Conflict("机构名称或统一社会信用代码已存在", code="ORG_EXISTS") from exc


async def get_org_or_raise(*, org_id: int) -> Organization:
    org = await Organization.get_or_none(id=org_id)
    if org is None:
        raise NotFound("机构不存在", code="ORG_NOT_FOUND")
    return org


async def get_all_orgs(*, type: OrgType | None = None, district: str | None = None,
                       suspended: bool | None = None) -> list[dict]:
    """List organisations with their active member counts."""
    query = Organization.all()
    if type is not None:
        query = query.filter(type=type)
    if district:
        query = query.filter(district=district)
    if suspended is not None:
        query = query.filter(suspended=suspended)
    orgs = await query.order_by("id")
    counts = Counter(await OrgMember.filter(org_id__in=[o.id for o in orgs], active=True)
                     .values_list("org_id", flat=True))
    return [org_read(o, counts.get(o.id, 0)) for o in orgs]


async def update_org(*, org_id: int, **changes) -> Organization:
    """Change an organisation's profile or suspend / resume it."""
    org = await get_org_or_raise(org_id=org_id)
    changes = {k: v for k, v in changes.items() if v is not None}
    if "credit_code" in changes:
        changes["credit_code"] = _credit_code(changes["credit_code"])
    if "name" in changes and await Organization.exclude(id=org_id).filter(name=changes["name"]).exists():
        raise Conflict("已存在同名机构", code="ORG_EXISTS")
    org.update_from_dict(changes)
    await org.save()
    return org


async def delete_org(*, org_id: int) -> None:
    """Delete an organisation that never received a notice (otherwise suspend it)."""
    org = await get_org_or_raise(org_id=org_id)
    if await NoticeDelivery.exists(org_id=org_id):
        raise Conflict("该机构已有通知记录，不能删除，可改为暂停", code="ORG_HAS_HISTORY")
    await org.delete()


async def import_orgs(rows: list[dict]) -> dict:
    """Create or update organisations from CSV rows (name, type, district, business_lines, tags, credit_code)."""
    from pydantic import ValidationError

    from notices.schemas import OrgCreate

    created = updated = 0
    errors: list[str] = []
    type_by_name = {v: k.value for k, v in ORG_TYPE_NAMES.items()}
    for line, row in enumerate(rows, start=2):
        data = {k: (v or "").strip() for k, v in row.items() if k}
        data["type"] = type_by_name.get(data.get("type", ""), data.get("type", ""))
        for key in ("business_lines", "tags"):
            data[key] = [p for p in data.get(key, "").replace("；", ";").split(";") if p.strip()]
        data["credit_code"] = data.get("credit_code") or None
        data.pop("suspended", None)
        try:
            body = OrgCreate.model_validate(data)
            existing = await Organization.get_or_none(name=body.name)
            if existing is None:
                await create_org(**body.model_dump())
                created += 1
            else:
                await update_org(org_id=existing.id, **body.model_dump(exclude={"name", "suspended"}))
                updated += 1
        except ValidationError as exc:
            first = exc.errors()[0]
            errors.append(f"第 {line} 行：{'.'.join(str(p) for p in first['loc'])} 取值无效")
        except (Conflict, Unprocessable) as exc:
            errors.append(f"第 {line} 行：{exc.message}")
    return {"created": created, "updated": updated, "errors": errors}


# ------------------------------------------------------------ members and invitations

def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def create_invitation(*, cfg: NoticesConfig, org_id: int, is_admin: bool = False, ttl_hours: int | None = None,
                            staff_id: int | None = None, member_id: int | None = None) -> dict:
    """Issue a single-use invitation code (stored hashed) and the QR scene that carries it."""
    org = await get_org_or_raise(org_id=org_id)
    if org.suspended:
        raise Conflict("机构已暂停，不能邀请新成员", code="ORG_SUSPENDED")
    # 10 characters from a 32-letter alphabet without look-alikes: ~50 bits, typed by hand if needed.
    code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
    expires_at = _now() + timedelta(hours=ttl_hours or cfg.invitation_ttl_hours)
    await OrgInvitation.create(org_id=org.id, code_hash=_hash_code(code), is_admin=is_admin, expires_at=expires_at,
                               created_by_staff_id=staff_id, created_by_member_id=member_id)
    return {"org_id": org.id, "code": code, "scene": SCENE_PREFIX + code, "is_admin": is_admin,
            "expires_at": expires_at.isoformat()}


def _mine(openid: str | None, openids: Sequence[str]) -> list[str]:
    # A person has an openid per WeChat app; memberships and inbox rows may carry either.
    return [o for o in dict.fromkeys([*openids, openid]) if o]


async def create_member_invitation(*, cfg: NoticesConfig, openid: str | None = None, org_id: int,
                                   is_admin: bool = False, openids: Sequence[str] = ()) -> dict:
    """Let an organisation's admin member invite colleagues."""
    admin = await OrgMember.filter(org_id=org_id, openid__in=_mine(openid, openids), active=True,
                                   is_admin=True).first()
    if admin is None:
        raise Forbidden("只有本机构管理员可以邀请成员", code="NOT_ORG_ADMIN")
    return await create_invitation(cfg=cfg, org_id=org_id, is_admin=is_admin, member_id=admin.id)


async def redeem(*, openid: str, code: str, channel: str = "mp") -> OrgMember:
    """Bind a WeChat user to the organisation an invitation code belongs to; each code works once."""
    invitation = await OrgInvitation.get_or_none(code_hash=_hash_code(code)).prefetch_related("org")
    if invitation is None:
        raise NotFound("邀请码无效", code="INVITATION_INVALID")
    if invitation.org.suspended:
        raise Conflict("机构已暂停，暂不能加入", code="ORG_SUSPENDED")
    # The conditional UPDATE is the single-use guarantee: of two concurrent redeemers only one matches.
    used = await OrgInvitation.filter(id=invitation.id, used_at__isnull=True, expires_at__gt=_now()).update(
        used_at=_now(), used_by_openid=openid)
    if not used:
        if invitation.used_at is None and invitation.expires_at <= _now():
            raise Conflict("邀请码已过期，请联系机构管理员重新获取", code="INVITATION_EXPIRED")
        raise Conflict("邀请码已被使用", code="INVITATION_USED")
    member, created = await OrgMember.get_or_create(
        org_id=invitation.org_id, openid=openid, defaults={"channel": channel, "is_admin": invitation.is_admin})
    if not created:
        member.active, member.left_at, member.channel = True, None, channel
        member.is_admin = member.is_admin or invitation.is_admin
        await member.save()
    return member


async def redeem_scene(openid: str, scene: str) -> OrgMember | None:
    """Redeem an invitation QR scene scanned in the public account; None when the scene is not ours."""
    if not scene or not scene.startswith(SCENE_PREFIX):
        return None
    return await redeem(openid=openid, code=scene[len(SCENE_PREFIX):], channel="oa")


async def leave(*, openid: str | None = None, org_id: int, openids: Sequence[str] = ()) -> None:
    """Stop receiving an organisation's notices."""
    left = await OrgMember.filter(org_id=org_id, openid__in=_mine(openid, openids), active=True).update(
        active=False, is_admin=False, left_at=_now())
    if not left:
        raise NotFound("您不是该机构成员", code="NOT_MEMBER")


async def get_memberships(*, openid: str | None = None, openids: Sequence[str] = ()) -> list[dict]:
    members = await OrgMember.filter(openid__in=_mine(openid, openids), active=True).prefetch_related(
        "org").order_by("id")
    return [{"org": org_read(m.org), "is_admin": m.is_admin, "joined_at": m.created_at.isoformat()} for m in members]


async def get_members(*, org_id: int) -> list[dict]:
    await get_org_or_raise(org_id=org_id)
    members = await OrgMember.filter(org_id=org_id).order_by("id")
    return [{"id": m.id, "openid": mask_openid(m.openid), "channel": m.channel, "is_admin": m.is_admin,
             "active": m.active, "joined_at": m.created_at.isoformat()} for m in members]


async def remove_member(*, org_id: int, member_id: int) -> None:
    """Remove a member on the organisation's request."""
    if not await OrgMember.filter(id=member_id, org_id=org_id, active=True).update(
            active=False, is_admin=False, left_at=_now()):
        raise NotFound("成员不存在", code="NOT_MEMBER")


# ------------------------------------------------------------------------ notices

def categories(cfg: NoticesConfig) -> list[dict]:
    return [c.model_dump() for c in cfg.categories]


async def _check_target(audience: NoticeAudience, target: dict) -> dict:
    has_org_dims = target.get("all") or any(target.get(d) for d in DIMENSIONS)
    if audience == NoticeAudience.PUBLIC:
        if has_org_dims:
            raise Unprocessable("面向群众的通知只能按大厅推送", code="TARGET_INVALID")
        halls = target.get("halls") or []
        if not halls:
            raise Unprocessable("请选择至少一个大厅", code="TARGET_EMPTY")
        known = set(await Hall.filter(code__in=halls).values_list("code", flat=True))
        if unknown := [h for h in halls if h not in known]:
            raise Unprocessable(f"大厅不存在：{'、'.join(unknown)}", code="UNKNOWN_HALL")
        return {"halls": halls}
    if target.get("halls"):
        raise Unprocessable("面向机构的通知不能按大厅推送", code="TARGET_INVALID")
    if not has_org_dims:
        raise Unprocessable("请选择推送对象（全部机构或按类型、区域、业务范围、标签、机构）", code="TARGET_EMPTY")
    if target.get("all") and any(target.get(d) for d in DIMENSIONS):
        raise Unprocessable("选择“全部机构”时不能再设置其他条件", code="TARGET_INVALID")
    return {k: v for k, v in target.items() if k != "halls"}


def _check_category(cfg: NoticesConfig, code: str) -> None:
    if cfg.category(code) is None:
        raise Unprocessable("通知类别不存在", code="UNKNOWN_CATEGORY")


def notice_read(n: Notice, cfg: NoticesConfig | None = None) -> dict:
    category = cfg.category(n.category) if cfg else None
    return {"id": n.id, "title": n.title, "body": n.body, "category": n.category,
            "category_name": category.name if category else None, "audience": n.audience.value,
            "attachments": n.attachments, "target": n.target, "status": n.status.value,
            "scheduled_at": n.scheduled_at.isoformat() if n.scheduled_at else None,
            "created_by": n.created_by_id, "reviewed_by": n.reviewed_by_id, "review_comment": n.review_comment,
            "recipients": n.recipients, "created_at": n.created_at.isoformat(),
            "started_at": n.started_at.isoformat() if n.started_at else None,
            "finished_at": n.finished_at.isoformat() if n.finished_at else None}


async def create_notice(*, cfg: NoticesConfig, staff_id: int, title: str, body: str, category: str,
                        audience: NoticeAudience, attachments: list[dict], target: dict) -> Notice:
    """Save a draft notice."""
    _check_category(cfg, category)
    target = await _check_target(audience, target)
    return await Notice.create(title=title, body=body, category=category, audience=audience,
                               attachments=attachments, target=target, created_by_id=staff_id)


async def get_notice_or_raise(*, notice_id: int) -> Notice:
    notice = await Notice.get_or_none(id=notice_id)
    if notice is None:
        raise NotFound("通知不存在", code="NOTICE_NOT_FOUND")
    return notice


async def get_all_notices(*, status: str | None, limit: int, offset: int) -> list[Notice]:
    query = Notice.all()
    if status:
        query = query.filter(status=status)
    return await query.order_by("-id").offset(offset).limit(limit)


def check_author(notice: Notice, *, staff_id: int, is_admin: bool) -> None:
    """Only a notice's author (or an admin) edits, submits or withdraws it; reviewers review, never edit."""
    if notice.created_by_id != staff_id and not is_admin:
        raise Forbidden("只能处理自己起草的通知", code="NOTICE_NOT_OWNER")


async def update_notice(*, cfg: NoticesConfig, notice_id: int, staff_id: int, is_admin: bool = False,
                        **changes) -> Notice:
    """Edit a draft (or a rejected notice, which returns to draft)."""
    notice = await get_notice_or_raise(notice_id=notice_id)
    check_author(notice, staff_id=staff_id, is_admin=is_admin)
    if notice.status not in EDITABLE:
        raise Conflict("通知已提交，不能修改", code="NOTICE_NOT_EDITABLE")
    changes = {k: v for k, v in changes.items() if v is not None}
    if "category" in changes:
        _check_category(cfg, changes["category"])
    if "target" in changes:
        changes["target"] = await _check_target(notice.audience, changes["target"])
    old = notice.status
    notice.update_from_dict({**changes, "status": NoticeStatus.DRAFT})
    # Conditional on the state we read, so a concurrent submit is not overwritten.
    if not await Notice.filter(id=notice_id, status=old).update(**changes, status=NoticeStatus.DRAFT):
        raise Conflict("通知状态已变化，请刷新后重试", code="NOTICE_STATE_CHANGED")
    return notice


async def preview(*, audience: NoticeAudience, target: dict) -> dict:
    """Count the organisations and members (or subscribed citizens) a target reaches right now."""
    target = await _check_target(audience, target)
    if audience == NoticeAudience.PUBLIC:
        citizens = await HallSubscription.filter(hall_code__in=target["halls"]).distinct().values_list(
            "citizen_id", flat=True)
        return {"organizations": 0, "members": len(set(citizens)), "halls": len(target["halls"])}
    org_ids = await matching_org_ids(target)
    openids = (await OrgMember.filter(org_id__in=org_ids, active=True).values_list("openid", flat=True)
               if org_ids else [])
    return {"organizations": len(org_ids), "members": len(set(openids))}


async def _release(jobs, notice_id: int, scheduled_at: datetime | None) -> None:
    """Queue the fan-out now or at the scheduled time (the sweeper catches a lost queue entry)."""
    # No job id: arq keeps finished job ids for an hour in keys shared by every deployment on the
    # Redis, and the conditional UPDATE in delivery.start already makes a second run harmless.
    if scheduled_at and scheduled_at > _now():
        await jobs.enqueue(EXPAND_JOB, defer_until=scheduled_at, notice_id=notice_id)
    else:
        await jobs.enqueue(EXPAND_JOB, notice_id=notice_id)


def _released_status(scheduled_at: datetime | None) -> NoticeStatus:
    return NoticeStatus.SCHEDULED if scheduled_at and scheduled_at > _now() else NoticeStatus.APPROVED


async def submit(*, cfg: NoticesConfig, jobs, notice_id: int, scheduled_at: datetime | None, staff_id: int,
                 is_admin: bool = False) -> Notice:
    """Send a draft for review, or straight out when its category needs none."""
    notice = await get_notice_or_raise(notice_id=notice_id)
    check_author(notice, staff_id=staff_id, is_admin=is_admin)
    if scheduled_at and scheduled_at > _now() + timedelta(days=90):
        raise Unprocessable("定时发送时间不能晚于 90 天后", code="SCHEDULE_TOO_FAR")
    category = cfg.category(notice.category)
    if category is None:
        raise Unprocessable("通知类别已停用，请修改类别", code="UNKNOWN_CATEGORY")
    status = NoticeStatus.PENDING_REVIEW if category.requires_review else _released_status(scheduled_at)
    if not await Notice.filter(id=notice_id, status__in=EDITABLE).update(
            status=status, scheduled_at=scheduled_at, submitted_at=_now()):
        raise Conflict("通知已提交，不能重复提交", code="NOTICE_NOT_EDITABLE")
    if status != NoticeStatus.PENDING_REVIEW:
        await _release(jobs, notice_id, scheduled_at)
    return await get_notice_or_raise(notice_id=notice_id)


async def review(*, jobs, notice_id: int, reviewer_id: int, decision: str, comment: str | None) -> Notice:
    """Approve (releasing it) or reject a notice waiting for review; nobody reviews their own."""
    notice = await get_notice_or_raise(notice_id=notice_id)
    if notice.created_by_id == reviewer_id:
        raise Forbidden("不能审核自己起草的通知", code="SELF_REVIEW")
    if decision == "approve":
        status = _released_status(notice.scheduled_at)
    else:
        status = NoticeStatus.REJECTED
    if not await Notice.filter(id=notice_id, status=NoticeStatus.PENDING_REVIEW).update(
            status=status, reviewed_by_id=reviewer_id, reviewed_at=_now(), review_comment=comment):
        raise Conflict("该通知不在待审核状态", code="NOTICE_NOT_PENDING")
    if status != NoticeStatus.REJECTED:
        await _release(jobs, notice_id, notice.scheduled_at)
    return await get_notice_or_raise(notice_id=notice_id)


async def withdraw(*, notice_id: int, staff_id: int, is_admin: bool = False) -> Notice:
    """Withdraw a notice that has not started sending."""
    check_author(await get_notice_or_raise(notice_id=notice_id), staff_id=staff_id, is_admin=is_admin)
    if not await Notice.filter(id=notice_id, status__in=WITHDRAWABLE).update(
            status=NoticeStatus.WITHDRAWN, withdrawn_at=_now()):
        raise Conflict("通知已开始发送或已结束，不能撤回", code="NOTICE_NOT_WITHDRAWABLE")
    return await get_notice_or_raise(notice_id=notice_id)


# ------------------------------------------------------------------------ reports

async def report(*, notice_id: int) -> dict:
    """Sent / failed (by reason) / read counts for a notice, overall and per organisation."""
    notice = await get_notice_or_raise(notice_id=notice_id)
    rows = await NoticeDelivery.filter(notice_id=notice_id).values(
        "org_id", "status", "error_code", "error_reason", "read_at")
    totals = Counter({s.value: 0 for s in DeliveryStatus})
    failures: Counter = Counter()
    per_org: dict[int | None, Counter] = defaultdict(Counter)
    per_org_reasons: dict[int | None, Counter] = defaultdict(Counter)
    for r in rows:
        totals[r["status"]] += 1
        org = per_org[r["org_id"]]
        org["recipients"] += 1
        org[r["status"]] += 1
        if r["read_at"]:
            totals["read"] += 1
            org["read"] += 1
        if r["status"] == DeliveryStatus.FAILED:
            failures[(r["error_code"], r["error_reason"])] += 1
            per_org_reasons[r["org_id"]][r["error_reason"]] += 1
    orgs = {o.id: o for o in await Organization.filter(id__in=[k for k in per_org if k is not None])}
    organizations = []
    for org_id, c in sorted(per_org.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        org = orgs.get(org_id)
        organizations.append({
            "org_id": org_id, "name": org.name if org else "订阅群众",
            "type": org.type.value if org else None, "district": org.district if org else None,
            "recipients": c["recipients"], "sent": c["sent"], "failed": c["failed"], "read": c["read"],
            "pending": c["pending"] + c["sending"],
            "failure_reasons": dict(per_org_reasons[org_id])})
    return {"notice": {"id": notice.id, "title": notice.title, "status": notice.status.value},
            "totals": {"recipients": len(rows), **{k: totals[k] for k in ("pending", "sending", "sent", "failed")},
                       "read": totals["read"]},
            "failures": [{"code": code, "reason": reason, "count": n}
                         for (code, reason), n in failures.most_common()],
            "organizations": organizations}


async def report_csv(*, notice_id: int) -> bytes:
    """The per-organisation report as CSV, UTF-8 with BOM so Excel shows the Chinese correctly."""
    data = await report(notice_id=notice_id)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["通知编号", "通知标题", "机构", "机构类型", "区域", "接收人数", "已发送", "发送失败", "已读",
                     "未完成", "失败原因"])
    for o in data["organizations"]:
        reasons = "；".join(f"{k}×{v}" for k, v in o["failure_reasons"].items())
        type_name = ORG_TYPE_NAMES[OrgType(o["type"])] if o["type"] else "群众"
        writer.writerow(safe_row([data["notice"]["id"], data["notice"]["title"], o["name"], type_name,
                                  o["district"] or "", o["recipients"], o["sent"], o["failed"], o["read"], o["pending"],
                                  reasons]))
    t = data["totals"]
    writer.writerow(safe_row([data["notice"]["id"], data["notice"]["title"], "合计", "", "", t["recipients"],
                              t["sent"], t["failed"], t["read"], t["pending"] + t["sending"], ""]))
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------------- inbox

async def get_inbox(*, openid: str | None = None, limit: int, offset: int, openids: Sequence[str] = ()) -> dict:
    """The caller's notices, newest first, whether or not the WeChat push reached them (either app's openid)."""
    query = NoticeDelivery.filter(openid__in=_mine(openid, openids),
                                  notice__status__in=[NoticeStatus.SENDING, NoticeStatus.SENT])
    total = await query.count()
    rows = await query.order_by("-id").offset(offset).limit(limit).prefetch_related("notice")
    return {"total": total, "unread": await query.filter(read_at__isnull=True).count(),
            "items": [_inbox_item(d) for d in rows]}


def _inbox_item(d: NoticeDelivery) -> dict:
    return {"id": d.id, "notice_id": d.notice_id, "title": d.notice.title, "body": d.notice.body,
            "category": d.notice.category, "attachments": d.notice.attachments,
            "published_at": (d.notice.started_at or d.created_at).isoformat(), "read": d.read_at is not None}


async def open_inbox_item(*, openid: str | None = None, delivery_id: int, openids: Sequence[str] = ()) -> dict:
    """Show one of the caller's notices and record its read receipt (opening it is reading it)."""
    delivery = await NoticeDelivery.get_or_none(
        id=delivery_id, openid__in=_mine(openid, openids), notice__status__in=[NoticeStatus.SENDING, NoticeStatus.SENT])
    if delivery is None:
        raise NotFound("消息不存在", code="INBOX_NOT_FOUND")
    receipt = await mark_read(openid=openid, delivery_id=delivery_id, openids=openids)
    await delivery.fetch_related("notice")
    return _inbox_item(delivery) | {"read": True, "read_at": receipt["read_at"]}


async def mark_read(*, openid: str | None = None, delivery_id: int, openids: Sequence[str] = ()) -> dict:
    """Record the read receipt of one inbox item (idempotent)."""
    own = NoticeDelivery.filter(id=delivery_id, openid__in=_mine(openid, openids))
    if not await own.exists():
        raise NotFound("消息不存在", code="INBOX_NOT_FOUND")
    await own.filter(read_at__isnull=True).update(read_at=_now())
    row = await own.first()
    return {"id": row.id, "read": True, "read_at": row.read_at.isoformat()}


# -------------------------------------------------------------- hall subscriptions

async def subscribe(*, citizen_id: int, openid: str, hall_codes: list[str]) -> list[str]:
    """Subscribe a citizen to public notices of the given halls."""
    codes = list(dict.fromkeys(clean_code(c) for c in hall_codes))
    known = set(await Hall.filter(code__in=codes).values_list("code", flat=True))
    if unknown := [c for c in codes if c not in known]:
        raise Unprocessable(f"大厅不存在：{'、'.join(unknown)}", code="UNKNOWN_HALL")
    await HallSubscription.bulk_create(
        [HallSubscription(citizen_id=citizen_id, openid=openid, hall_code=c) for c in codes], ignore_conflicts=True)
    return await get_subscriptions(citizen_id=citizen_id)


def clean_code(code: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", code).strip().lower()


async def get_subscriptions(*, citizen_id: int) -> list[str]:
    return list(await HallSubscription.filter(citizen_id=citizen_id).order_by("hall_code")
                .values_list("hall_code", flat=True))


async def unsubscribe(*, citizen_id: int, hall_code: str) -> list[str]:
    """Stop public notices of one hall."""
    hall_code = clean_code(hall_code)
    if len(hall_code) > 32 or not await HallSubscription.filter(citizen_id=citizen_id, hall_code=hall_code).delete():
        raise NotFound("未订阅该大厅的通知", code="NOT_SUBSCRIBED")
    return await get_subscriptions(citizen_id=citizen_id)

