"""The API document, generated from the routes and the same pydantic schemas that validate their input.

Nothing is written twice: each handler's `parse_body(request, Schema)` / `parse_query(request, Schema)` calls
are read from its source, the schemas give the request body and query parameters, the route gives the path
parameters (with their converters), and the auth decorators mark what a route needs (`require_staff`,
`require_citizen`, or an optional citizen via `current_principal`). Every error answers the one error shape
(server/core/errors.py). Swagger UI and ReDoc are served from vendored files (`docs_static/`, see its
README), never a CDN, so the pages work on an intranet.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

from pydantic import BaseModel, TypeAdapter
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, file, html, json

STATIC_DIR = Path(__file__).resolve().parent / "docs_static"
STATIC_FILES = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
                "redoc.standalone.js": "application/javascript"}
REF = "#/components/schemas/{model}"

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "稳定的错误代码，如 VALIDATION_ERROR、HALL_FORBIDDEN"},
            "message": {"type": "string", "description": "中文错误说明"},
            "details": {"description": "可选：字段级错误等", "type": "array",
                        "items": {"type": "object", "properties": {"field": {"type": "string"},
                                                                   "message": {"type": "string"}}}},
        }}},
}
ERROR_TEXT = {
    400: "请求格式有误（如请求体不是 JSON 对象）", 401: "未登录或登录已失效", 403: "无权执行（角色、大厅、本人）",
    404: "记录不存在", 405: "不支持该请求方法", 409: "与现有数据冲突", 413: "请求内容过大",
    422: "参数或请求体不符合要求", 429: "操作过于频繁", 503: "服务暂时不可用",
}
PATH_TYPES = {int: {"type": "integer"}, str: {"type": "string", "maxLength": 256}}

_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")

bp = Blueprint("docs", url_prefix="/docs")


# ───────────────────────── reading what a handler validates ─────────────────────────


def auth_of(handler) -> tuple[str | None, tuple[str, ...]]:
    """What the auth decorators recorded: ("staff", roles), ("citizen", ()) or (None, ())."""
    return getattr(handler, "dengji_auth", (None, ()))


def _source_tree(handler) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(handler))))
    except (OSError, TypeError, SyntaxError):
        return None


def schemas_of(handler) -> dict:
    """The schemas a handler validates its body and query with, whether it may take an optional citizen,
    and whether it answers 201."""
    found = {"body": None, "query": None, "optional_citizen": False, "created": False}
    tree = _source_tree(handler)
    if tree is None:
        return found
    scope = inspect.unwrap(handler).__globals__
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("parse_body", "parse_query") and len(node.args) >= 2:
                arg = node.args[1]
                schema = scope.get(arg.id) if isinstance(arg, ast.Name) else None
                if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                    schema = getattr(scope.get(arg.value.id), arg.attr, None)
                if isinstance(schema, type) and issubclass(schema, BaseModel):
                    found["body" if name == "parse_body" else "query"] = schema
            elif name == "current_principal":
                found["optional_citizen"] = True
            for kw in node.keywords:
                if kw.arg == "status" and isinstance(kw.value, ast.Constant) and kw.value.value == 201:
                    found["created"] = True
    return found


# ───────────────────────── the document ─────────────────────────


class _Components:
    def __init__(self) -> None:
        self.schemas: dict = {"Error": ERROR_SCHEMA}

    def schema(self, model) -> dict:
        """A model's JSON schema with its nested definitions moved to components."""
        adapter = model if isinstance(model, TypeAdapter) else None
        raw = (adapter.json_schema(ref_template=REF) if adapter
               else model.model_json_schema(ref_template=REF))
        for name, sub in raw.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        return raw

    def ref(self, model: type[BaseModel]) -> dict:
        if model.__name__ not in self.schemas:
            self.schemas[model.__name__] = {}  # reserve first: recursive models
            self.schemas[model.__name__] = self.schema(model)
        return {"$ref": REF.format(model=model.__name__)}


def _error(status: int) -> dict:
    return {"description": ERROR_TEXT.get(status, "错误"),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}


def _path_params(route) -> list[dict]:
    out = []
    for param in route.params.values():
        schema = dict(PATH_TYPES.get(param.cast, {"type": "string"}))
        if param.label == "ymd":
            schema = {"type": "string", "format": "date"}
        out.append({"name": param.name, "in": "path", "required": True, "schema": schema})
    return out


def _query_params(components: _Components, model: type[BaseModel]) -> list[dict]:
    schema = components.schema(model)
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def _operation(components: _Components, route, method: str) -> dict:
    handler = route.handler
    kind, roles = auth_of(handler)
    found = schemas_of(handler)
    doc = inspect.getdoc(inspect.unwrap(handler)) or ""
    op: dict = {
        "operationId": f"{method.lower()}_{route.name.split('.', 1)[-1].replace('.', '_')}",
        "tags": [route.name.split(".")[1] if route.name.count(".") >= 2 else "service"],
        "summary": doc.splitlines()[0] if doc else route.name.split(".")[-1].replace("_", " "),
        "parameters": _path_params(route),
        "responses": {},
    }
    if found["query"] is not None:
        op["parameters"] += _query_params(components, found["query"])
    if found["body"] is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": components.ref(found["body"])}}}
    ok = "201" if found["created"] else "200"
    op["responses"][ok] = {"description": "成功", "content": {"application/json": {"schema": {"type": "object"}}}}
    statuses = {405}
    if route.params:
        statuses |= {404, 422}
    if found["body"] is not None:
        statuses |= {400, 422, 413}
    if found["query"] is not None:
        statuses.add(422)
    if kind is not None:
        statuses |= {401, 403}
        op["security"] = [{"bearerAuth": []}]
        who = ("工作人员" + (f"（角色：{'、'.join(roles)}；admin 亦可）" if roles else "")
               if kind == "staff" else "已登录市民")
        op["description"] = (doc + "\n\n" if doc else "") + f"需要：{who}。"
    elif found["optional_citizen"]:
        op["security"] = [{}, {"bearerAuth": []}]
    if method in ("POST", "PUT", "PATCH", "DELETE") and kind is not None:
        statuses.add(409)
    for status in sorted(statuses):
        op["responses"][str(status)] = _error(status)
    return op


def _special(components: _Components, paths: dict) -> None:
    """The two routes whose input is not JSON validated by parse_body: ingest (signed) and /wechat (XML)."""
    from server.progress.schemas import EVENT

    ingest = paths.get("/api/ingest/events", {}).get("post")
    if ingest is not None:
        event = components.schema(EVENT)
        ingest["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            event, {"type": "object", "required": ["events"],
                    "properties": {"events": {"type": "array", "items": event, "maxItems": 500}}}]}}}}
        ingest["security"] = [{"ingestSignature": []}]
        ingest["parameters"] += [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string", "maxLength": 128}}
            for name in ("X-Dengji-Key", "X-Dengji-Timestamp", "X-Dengji-Signature")]
        for status in (400, 401, 413, 422):
            ingest["responses"][str(status)] = _error(status)
    signed = [{"name": name, "in": "query", "required": name != "echostr", "schema": {"type": "string"}}
              for name in ("signature", "timestamp", "nonce")]
    for method, extra in (("get", [{"name": "echostr", "in": "query", "required": True,
                                    "schema": {"type": "string"}}]),
                          ("post", [{"name": "encrypt_type", "in": "query", "required": False,
                                     "schema": {"type": "string", "enum": ["aes"]}},
                                    {"name": "msg_signature", "in": "query", "required": False,
                                     "schema": {"type": "string"}},
                                    {"name": "openid", "in": "query", "required": False,
                                     "schema": {"type": "string"}}])):
        op = paths.get("/wechat", {}).get(method)
        if op is None:
            continue
        op["parameters"] = signed + extra
        op["responses"] = {"200": {"description": "被动回复（XML）或 success",
                                   "content": {"text/plain": {"schema": {"type": "string"}}}},
                           **{str(s): _error(s) for s in (400, 403, 413, 503)}}
        if method == "post":
            op["requestBody"] = {"required": True, "content": {"text/xml": {"schema": {"type": "string"}}}}


# HTML pages (the staff console, the public-account pages) and this document itself are not the JSON API.
NOT_API = ("docs", "console", "h5")


def is_api_route(route) -> bool:
    return not route.path.startswith(NOT_API)


def build(app: Sanic) -> dict:
    """The OpenAPI 3.1 document of every JSON API route of the app."""
    components = _Components()
    paths: dict = {}
    for route in sorted(app.router.routes, key=lambda r: r.path):
        if not is_api_route(route):
            continue
        path = "/" + _PARAM.sub(r"{\1}", route.path)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(components, route, method)
    _special(components, paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "dengji 不动产登记中心 API", "version": "1.0",
                 "description": "所有错误均为 {\"error\": {\"code\", \"message\", \"details\"?}}；"
                                "工作人员与市民接口使用 Bearer 令牌（登录接口返回）。"},
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http", "scheme": "bearer",
                    "description": "POST /api/mp/login（市民）或 POST /api/staff/login（工作人员）返回的令牌"},
                "ingestSignature": {
                    "type": "apiKey", "in": "header", "name": "X-Dengji-Signature",
                    "description": "登记业务系统：HMAC-SHA256 签名（另带 X-Dengji-Key、X-Dengji-Timestamp）"},
            },
        },
    }


# ───────────────────────── the pages ─────────────────────────


_SWAGGER = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>dengji API 文档</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/docs/openapi.json", dom_id: "#ui", deepLinking: true});</script>
<p style="margin:1em"><a href="/docs/redoc">ReDoc 版本</a></p></body></html>"""
_REDOC = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>dengji API 文档</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<redoc spec-url="/docs/openapi.json"></redoc><script src="/docs/static/redoc.standalone.js"></script>
</body></html>"""


@bp.get("/")
async def swagger(request: Request) -> HTTPResponse:
    return html(_SWAGGER)


@bp.get("/redoc")
async def redoc(request: Request) -> HTTPResponse:
    return html(_REDOC)


@bp.get("/openapi.json")
async def document(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    if getattr(ctx, "openapi", None) is None:
        ctx.openapi = build(request.app)
    return json(ctx.openapi)


@bp.get("/static/<name:str>")
async def static(request: Request, name: str) -> HTTPResponse:
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        from server.core.errors import NotFound

        raise NotFound("文件不存在")
    return await file(STATIC_DIR / name, mime_type=content_type, headers={"cache-control": "public, max-age=86400"})
