"""Public catalog routes: halls and business types."""

from sanic import Blueprint, Request
from sanic.response import json

from server.booking import clock
from server.catalog import service
from server.core.openapi import responds
from server.core.responses import BusinessTypesRead, HallsRead

bp = Blueprint("catalog", url_prefix="/api")


@bp.get("/halls")
@responds(HallsRead)
async def halls(request: Request):
    catalog = await service.get(request.app)
    return json({"items": [service.hall_read(h, catalog) for h in catalog.halls.values() if h.active]})


@bp.get("/business-types")
@responds(BusinessTypesRead)
async def business_types(request: Request):
    catalog = await service.get(request.app)
    today = clock.of(request.app.ctx).now(catalog.tz).date()
    return json({"items": [service.business_type_read(b, catalog, today)
                           for b in catalog.business_types.values() if b.active],
                 "walk_in_channels": catalog.settings.get("walk_in_channels", [])})
