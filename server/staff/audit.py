"""Audit log writes: every staff read of personal data leaves who, what and when."""

from __future__ import annotations

from collections.abc import Iterable

from sanic import Request

from models import AuditLog


async def record_read(request: Request, *, target_type: str, target_ids: Iterable[object],
                      fields: Iterable[str], action: str = "pii.read") -> None:
    """Write one audit row per record whose personal fields a staff member saw."""
    principal = request.ctx.principal
    rows = [
        AuditLog(actor_kind=principal.kind, actor_id=str(principal.id), action=action,
                 target_type=target_type, target_id=str(tid), fields_read=list(fields),
                 ip=request.remote_addr or request.ip, request_id=getattr(request.ctx, "request_id", None))
        for tid in target_ids
    ]
    if rows:
        await AuditLog.bulk_create(rows)
