"""Request parsing into pydantic schemas, with every failure turned into a 4xx."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sanic import Request

from server.core.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


def parse_body(request: Request, schema: type[M]) -> M:
    """Validate the JSON body against a schema (malformed JSON → 400, wrong fields → 422)."""
    try:
        data = request.json
    except Exception as exc:  # Sanic raises BadRequest on malformed JSON
        raise BadRequest("请求体不是有效的 JSON", code="INVALID_JSON") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("请求体应为 JSON 对象", code="INVALID_JSON")
    return schema.model_validate(data)


def parse_query(request: Request, schema: type[M]) -> M:
    """Validate query arguments (first value of each) against a schema."""
    return schema.model_validate({k: v[0] for k, v in request.args.items()})
