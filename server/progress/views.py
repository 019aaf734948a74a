"""Case progress routes: ingest from the business system, citizen lookups, my cases, staff views."""

from sanic import Blueprint, Request
from sanic.response import json

from server.catalog import service as catalog_service
from server.core.auth import current_principal, hall_scope, require_citizen, require_staff
from server.core.openapi import answers_errors, responds
from server.core.responses import (
    CaseRead,
    CaseSubscriptionRead,
    IngestRead,
    Items,
    StaffCasesOverdueRead,
)
from server.core.validation import parse_body, parse_query
from server.progress import flows, service
from server.progress.schemas import LookupQuery, OverdueQuery
from server.staff.audit import record_read

bp = Blueprint("progress", url_prefix="/api")


async def _deps(request: Request) -> dict:
    return {"cipher": request.app.ctx.cipher, "catalog": await catalog_service.get(request.app),
            "rules": service.rules_for(request.app.ctx.settings)}


@bp.post("/ingest/events")
@answers_errors({422: ("VALIDATION_ERROR",)})  # an event that fails its schema, answered from the batch result
@responds(IngestRead)
async def ingest_events(request: Request):
    """Accept one event or a batch from an authenticated registration business system."""
    h = request.headers
    client = await service.authenticate_client(cipher=request.app.ctx.cipher, key_id=h.get("x-dengji-key"),
                                               timestamp=h.get("x-dengji-timestamp"),
                                               signature=h.get("x-dengji-signature"), body=request.body)
    return json(await flows.ingest(request.app, client=client.name, body=request.body),
                ensure_ascii=False)


@bp.post("/progress/lookup")
@responds(CaseRead)
async def lookup(request: Request):
    """Look a case up by receipt number and the last 6 characters of an applicant's ID number.

    POST only: in a query string the ID tail would land in proxies' logs."""
    query = parse_body(request, LookupQuery)
    principal = await current_principal(request)
    user_id = principal.id if principal and principal.kind == "citizen" else None
    return json(await service.lookup(redis=request.app.ctx.redis, keys=request.app.ctx.keys, **await _deps(request),
                                     receipt_no=query.receipt_no, id_last6=query.id_last6,
                                     ip=request.remote_addr or request.ip, user_id=user_id), ensure_ascii=False)


@bp.get("/mp/cases")
@require_citizen
@responds(Items[CaseRead])
async def my_cases(request: Request):
    """List the bound citizen's own cases."""
    items = await service.get_all_for_citizen(citizen_id=request.ctx.principal.id, **await _deps(request))
    return json({"items": items}, ensure_ascii=False)


@bp.get("/mp/cases/<receipt_no:str>")
@require_citizen
@responds(CaseRead)
async def my_case(request: Request, receipt_no: str):
    return json(await service.get_for_citizen(citizen_id=request.ctx.principal.id, receipt_no=receipt_no,
                                              **await _deps(request)), ensure_ascii=False)


@bp.post("/mp/cases/<receipt_no:str>/subscribe")
@require_citizen
@responds(CaseSubscriptionRead)
async def subscribe(request: Request, receipt_no: str):
    """Record consent to stage-change pushes for one of the citizen's cases."""
    return json(await service.update_subscription(citizen_id=request.ctx.principal.id, receipt_no=receipt_no,
                                                  active=True))


@bp.delete("/mp/cases/<receipt_no:str>/subscribe")
@require_citizen
@responds(CaseSubscriptionRead)
async def unsubscribe(request: Request, receipt_no: str):
    return json(await service.update_subscription(citizen_id=request.ctx.principal.id, receipt_no=receipt_no,
                                                  active=False))


@bp.get("/staff/cases/overdue")
@require_staff("hall_staff", "reviewer")
@responds(StaffCasesOverdueRead)
async def overdue(request: Request):
    """Count overdue cases per hall and business type (hall staff see their own hall)."""
    query = parse_query(request, OverdueQuery)
    hall = hall_scope(request.ctx.principal, query.hall)
    deps = await _deps(request)
    return json(await service.overdue(catalog=deps["catalog"], rules=deps["rules"], hall=hall,
                                      business_type=query.business_type, limit=query.limit), ensure_ascii=False)


@bp.get("/staff/cases/<receipt_no:str>")
@require_staff("hall_staff", "reviewer", "hotline")
@responds(CaseRead)
async def staff_case(request: Request, receipt_no: str):
    """Show a case with applicant names to staff; the read is audited."""
    case = await service.get_or_raise(receipt_no=receipt_no)
    hall_scope(request.ctx.principal, case.hall)
    data = await service.read(case, **await _deps(request), masked=False)
    await record_read(request, target_type="case", target_ids=[case.receipt_no], fields=["applicants.name"])
    return json(data, ensure_ascii=False)
