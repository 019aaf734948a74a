"""One error shape for the whole API: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sanic import Request
from sanic.exceptions import SanicException
from sanic.response import JSONResponse, json
from tortoise.exceptions import DoesNotExist, IntegrityError
from tortoise.exceptions import ValidationError as FieldValidationError

log = logging.getLogger("dengji.errors")


class AppError(Exception):
    """Base of every domain error: a stable code, a Chinese message and an HTTP status."""

    status = 400
    code = "BAD_REQUEST"
    message = "请求有误"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None, details: Any = None) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details
        super().__init__(self.message)


class BadRequest(AppError):
    status, code, message = 400, "BAD_REQUEST", "请求有误"


class Unauthorized(AppError):
    status, code, message = 401, "UNAUTHORIZED", "请先登录"


class Forbidden(AppError):
    status, code, message = 403, "FORBIDDEN", "没有权限执行此操作"


class NotFound(AppError):
    status, code, message = 404, "NOT_FOUND", "未找到相关记录"


class Conflict(AppError):
    status, code, message = 409, "CONFLICT", "与现有数据冲突"


class Unprocessable(AppError):
    status, code, message = 422, "VALIDATION_ERROR", "提交的数据不符合要求"


class TooManyRequests(AppError):
    status, code, message = 429, "TOO_MANY_REQUESTS", "操作过于频繁，请稍后再试"


class ServiceUnavailable(AppError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试"


# Sanic's own exceptions (routing, body parsing) mapped to stable codes and Chinese text.
_SANIC_CODES = {
    400: ("BAD_REQUEST", "请求格式有误"),
    401: ("UNAUTHORIZED", "请先登录"),
    403: ("FORBIDDEN", "没有权限执行此操作"),
    404: ("NOT_FOUND", "请求的地址不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    408: ("REQUEST_TIMEOUT", "请求超时"),
    413: ("PAYLOAD_TOO_LARGE", "请求内容过大"),
    416: ("RANGE_NOT_SATISFIABLE", "请求范围无效"),
    503: ("SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试"),
}

_PYDANTIC_MESSAGES = {
    "missing": "缺少必填项",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为是/否",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式有误",
    "time_parsing": "时间格式应为 HH:MM",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "extra_forbidden": "包含不支持的字段",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "too_long": "条目过多",
    "too_short": "条目过少",
}


def error_body(code: str, message: str, details: Any = None, status: int = 400) -> JSONResponse:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return json({"error": err}, status=status, ensure_ascii=False)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = e.get("ctx", {}).get("reason") if e["type"] == "value_error" else None
        out.append({"field": field, "message": msg or _PYDANTIC_MESSAGES.get(e["type"], "取值无效")})
    return out


# Text PostgreSQL cannot store (a NUL character, say) where the request's own checks did not catch it.
_BAD_TEXT_ERRORS = ("CharacterNotInRepertoireError", "UntranslatableCharacterError")


def _is_bad_text(exc: BaseException) -> bool:
    return _in_chain(exc, lambda e: type(e).__name__ in _BAD_TEXT_ERRORS)


def _is_out_of_range(exc: BaseException) -> bool:
    """Tell whether a database error comes from a value outside the column's range (e.g. a huge id)."""
    return _in_chain(exc, lambda e: isinstance(e, OverflowError) or type(e).__name__ == "NumericValueOutOfRangeError")


def _in_chain(exc: BaseException, test) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if test(seen):
            return True
        nested = [a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]
        seen = seen.__cause__ or seen.__context__ or (nested[0] if nested else None)
    return False


def outage(exc: BaseException) -> str | None:
    """Name the backing server an exception says is unavailable ("redis" or "database"), else None."""
    from server.core import db, redis

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        module = type(seen).__module__
        if module.startswith("redis") and isinstance(seen, redis.UNAVAILABLE):
            return "redis"
        # Builtin socket errors and timeouts come from asyncpg here (WeChat's client raises its own types).
        if isinstance(seen, db.UNAVAILABLE) and module.split(".")[0] in ("asyncpg", "tortoise", "builtins"):
            return "database"
        seen = seen.__cause__ or seen.__context__
    return None


_OUTAGE_MESSAGES = {
    "redis": "缓存服务暂时不可用，请稍后重试",
    "database": "数据库暂时不可用，请稍后重试",
}


def handle_exception(request: Request, exc: BaseException) -> JSONResponse:
    """Turn any exception into the single error shape; unknown ones become a bare 500."""
    if isinstance(exc, AppError):
        return error_body(exc.code, exc.message, exc.details, exc.status)
    if isinstance(exc, ValidationError):
        details = validation_details(exc)
        first = details[0] if details else {"field": "", "message": "取值无效"}
        message = f"{first['field']}：{first['message']}" if first["field"] else first["message"]
        return error_body("VALIDATION_ERROR", message, details, 422)
    if isinstance(exc, DoesNotExist) or _is_out_of_range(exc):
        # An id too large for the column cannot name an existing record.
        return error_body("NOT_FOUND", "未找到相关记录", status=404)
    if isinstance(exc, FieldValidationError) or _is_bad_text(exc):
        # A value no column could hold (e.g. a 41-character receipt number in a path) names no record; routes
        # validate their parameters first, this is the net under them.
        return error_body("VALIDATION_ERROR", "提交的数据不符合要求", status=422)
    if isinstance(exc, IntegrityError):
        log.warning("integrity error on %s %s: %s", request.method, request.path, type(exc).__name__)
        return error_body("CONFLICT", "与现有数据冲突，请刷新后重试", status=409)
    if (down := outage(exc)) is not None:
        # A server we depend on is away: say so plainly (503), never a bare 500.
        log.warning("%s unavailable on %s %s: %s", down, request.method, request.path, type(exc).__name__)
        response = error_body("SERVICE_UNAVAILABLE", _OUTAGE_MESSAGES[down], {"unavailable": down}, 503)
        response.headers["retry-after"] = "2"
        return response
    if isinstance(exc, SanicException):
        status = getattr(exc, "status_code", 500) or 500
        if status < 500 or status == 503:
            code, message = _SANIC_CODES.get(status, ("BAD_REQUEST", "请求有误"))
            response = error_body(code, message, status=status)
            # e.g. the Allow header of a 405, which the standard asks for
            response.headers.update({k: v for k, v in (getattr(exc, "headers", None) or {}).items()})
            return response
    request_id = getattr(request, "request_id", "-")
    log.error("unhandled error request_id=%s %s %s", request_id, request.method, request.path,
              exc_info=exc)
    return error_body("INTERNAL_ERROR", "系统繁忙，请稍后再试", status=500)
