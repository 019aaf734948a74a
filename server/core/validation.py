"""Request parsing into pydantic schemas, with every failure turned into a 4xx."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sanic import Request

from server.core.errors import BadRequest, Unprocessable

M = TypeVar("M", bound=BaseModel)


def parse_body(request: Request, schema: type[M]) -> M:
    """Validate the JSON body against a schema (malformed JSON → 400, wrong fields → 422)."""
    try:
        data = request.json
    except Exception as exc:  # Sanic raises BadRequest on malformed JSON
        raise BadRequest("请求体不是有效的 JSON", code="INVALID_JSON") from exc
    if b"\\u0000" in request.body:  # JSON's only way to carry a NUL, which no text column can store
        raise Unprocessable("内容含有不允许的控制字符", code="INVALID_CHARACTER")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("请求体应为 JSON 对象", code="INVALID_JSON")
    return schema.model_validate(data)


def parse_query(request: Request, schema: type[M]) -> M:
    """Validate query arguments (first value of each) against a schema."""
    args = {k: v[0] for k, v in request.args.items()}
    if any("\x00" in k or "\x00" in v for k, v in args.items()):
        raise Unprocessable("参数含有不允许的控制字符", code="INVALID_CHARACTER")
    return schema.model_validate(args)
