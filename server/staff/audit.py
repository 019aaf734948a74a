"""Audit log writes: every staff read of personal data, and every staff write, leaves who, what and when."""

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
                 ip=request.remote_addr or request.ip, request_id=request.request_id)
        for tid in target_ids
    ]
    if rows:
        await AuditLog.bulk_create(rows)


async def record_write(request: Request, *, target_id: object = None, action: str | None = None,
                       actor_id: object = None, fields: Iterable[str] | None = None) -> None:
    """Write the audit row of a staff write: the route names the action, the first path parameter the object;
    the names (never the values) of the body's fields are kept."""
    principal = getattr(request.ctx, "principal", None)
    route = request.route.name.split(".", 1)[-1] if request.route else "unrouted"  # "<blueprint>.<handler>"
    if fields is None:
        try:
            body = request.json
        except Exception:  # a write whose body is not JSON (it succeeded, so the route accepted it)
            body = None
        fields = sorted(body) if isinstance(body, dict) else []
    await AuditLog.create(
        actor_kind=principal.kind if principal else "anonymous",
        actor_id=str(actor_id if actor_id is not None else principal.id if principal else "-")[:64],
        action=(action or f"write:{route}")[:64], target_type=route.split(".", 1)[0][:32],
        target_id=str(target_id if target_id is not None else "-")[:64], fields_read=list(fields),
        ip=request.remote_addr or request.ip, request_id=request.request_id)
