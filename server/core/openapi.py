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
import logging
import re
import textwrap
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, file, html, json
from tortoise.models import Model

from server.core.errors import AppError
from server.core.ops import OPS_PREFIXES, OpsForbidden

STATIC_DIR = Path(__file__).resolve().parent / "docs_static"
STATIC_FILES = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
                "redoc.standalone.js": "application/javascript"}
REF = "#/components/schemas/{model}"
log = logging.getLogger("dengji.openapi")

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
    found = {"body": None, "query": None, "optional_citizen": False, "created": False, "ok_too": False,
             "redirect": False}
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
                elif (kw.arg == "status" and isinstance(kw.value, ast.IfExp)  # 201 if created else 200
                      and isinstance(kw.value.body, ast.Constant) and kw.value.body.value == 201):
                    found["created"] = found["ok_too"] = True
            if name == "redirect":
                found["redirect"] = True
    return found


# ───────────────────────── the error codes a route can answer ─────────────────────────

# Our packages: calls into them are followed, calls anywhere else are not.
OUR_PACKAGES = ("server", "bot", "notices", "models", "config")
# Answered around any handler: Sanic's own errors and an outage of the database or Redis.
ALWAYS = {405: {"METHOD_NOT_ALLOWED"}, 503: {"SERVICE_UNAVAILABLE"}}


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", "") or "").split(".")[0] in OUR_PACKAGES


def _resolve(node: ast.AST, scope: dict):
    """The object a Name or dotted Attribute refers to in a function's globals, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        # Only through modules and classes: other objects (Tortoise's connection proxy) may run code on access.
        if not (inspect.ismodule(base) or isinstance(base, type)):
            return None
        try:
            return inspect.getattr_static(base, node.attr) if isinstance(base, type) else getattr(base, node.attr)
        except AttributeError:
            return None
    return None


def _methods_that_raise() -> dict[str, list]:
    """Methods of our classes that build an error, by name: `catalog.hall(...)` on a local variable whose type
    the source does not name still counts."""
    import sys

    found: dict[str, list] = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in OUR_PACKAGES or module is None:
            continue
        for cls in list(vars(module).values()):
            if not (isinstance(cls, type) and cls.__module__ == name) or issubclass(cls, Exception):
                continue
            for attr, fn in vars(cls).items():
                fn = getattr(fn, "__func__", fn)
                if inspect.isfunction(fn) and _builds_errors(fn):
                    found.setdefault(attr, []).append(fn)
    return found


def _builds_errors(fn) -> bool:
    tree = _source_tree(fn)
    return tree is not None and any(isinstance(n, ast.Call) and isinstance(_resolve(n.func, fn.__globals__), type)
                                    and issubclass(_resolve(n.func, fn.__globals__), AppError)
                                    for n in ast.walk(tree))


_FUNCTION_CODES: dict = {}
# Tortoise calls whose failure the error handler answers with a stable code: a record that is not there, a
# unique constraint that is hit.
_MODEL_CALLS = {"get": (404, "NOT_FOUND"), **{name: (409, "CONFLICT") for name in (
    "create", "bulk_create", "get_or_create", "update_or_create", "save")}}


def _codes_built_in(fn) -> tuple[dict[int, set[str]], list]:
    """Error codes a function builds itself, and the functions of ours it refers to."""
    if fn in _FUNCTION_CODES:
        return _FUNCTION_CODES[fn]
    codes: dict[int, set[str]] = {}
    refs: list = []
    tree, scope = _source_tree(fn), getattr(fn, "__globals__", {})
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
            obj = _resolve(node, scope)
            if inspect.isfunction(obj) and _ours(obj):
                refs.append(inspect.unwrap(obj))
            elif isinstance(obj, (dict, list, tuple)):  # dispatch tables
                values = obj.values() if isinstance(obj, dict) else obj
                refs += [inspect.unwrap(v) for v in values if inspect.isfunction(v) and _ours(v)]
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and _resolve(node.func, scope) is None:
            refs += _methods_that_raise_cache().get(node.func.attr, [])
        cls = _resolve(node.func, scope)
        if isinstance(node.func, ast.Attribute) and node.func.attr in _MODEL_CALLS:
            model = _resolve(node.func.value, scope)
            if isinstance(model, type) and issubclass(model, Model):
                status, code = _MODEL_CALLS[node.func.attr]
                codes.setdefault(status, set()).add(code)
        if not isinstance(cls, type):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        if issubclass(cls, AppError):
            code, status = kw.get("code"), kw.get("status")
            if code is not None and not isinstance(code, ast.Constant):
                continue  # passes on a code built elsewhere (found where it is built)
            status = status.value if isinstance(status, ast.Constant) else cls.status
            codes.setdefault(status, set()).add(code.value if code is not None else cls.code)
        elif getattr(cls, "http_status", None) and node.args and isinstance(node.args[0], ast.Constant):
            # A validation error of ours that callers answer with its own code (e.g. InvalidIdentity → 422).
            codes.setdefault(cls.http_status, set()).add(node.args[0].value)
    _FUNCTION_CODES[fn] = (codes, refs)
    return codes, refs


_METHODS: list = []


def _methods_that_raise_cache() -> dict[str, list]:
    if not _METHODS:
        _METHODS.append(_methods_that_raise())
    return _METHODS[0]


def error_codes_of(route, method: str = "GET") -> dict[int, set[str]]:
    """Every error code a route can answer, by HTTP status: the codes built in the functions its handler reaches
    (through calls and references, auth wrappers included), Sanic's own for what the route takes, and any the
    handler declares with `@answers_errors`."""
    handler = route.handler
    codes: dict[int, set[str]] = {s: set(c) for s, c in ALWAYS.items()}
    found = schemas_of(handler)
    kind, _ = auth_of(handler)
    if route.params:
        codes.setdefault(404, set()).add("NOT_FOUND")
        codes.setdefault(422, set()).add("VALIDATION_ERROR")
    if found["body"] is not None or found["query"] is not None:
        codes.setdefault(422, set()).add("VALIDATION_ERROR")
    if found["body"] is not None:
        codes.setdefault(400, set()).add("BAD_REQUEST")
    if method in ("POST", "PUT", "PATCH", "DELETE"):  # Sanic's body limit (REQUEST_MAX_SIZE)
        codes.setdefault(413, set()).add("PAYLOAD_TOO_LARGE")
    if kind is not None:
        codes.setdefault(401, set()).add("UNAUTHORIZED")
        codes.setdefault(403, set()).add("FORBIDDEN")
    if ("/" + route.path).startswith(OPS_PREFIXES):  # the operator gate (server/core/ops.py)
        codes.setdefault(403, set()).add(OpsForbidden.code)
    for status, extra in getattr(inspect.unwrap(handler), "dengji_errors", {}).items():
        codes.setdefault(status, set()).update(extra)
    start, seen, stack = handler, set(), []
    while start is not None:  # every level of the decorators (require_staff's wrapper checks the session)
        stack.append(start)
        start = getattr(start, "__wrapped__", None)
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        built, refs = _codes_built_in(fn)
        for status, names in built.items():
            codes.setdefault(status, set()).update(names)
        stack += refs
    return codes


def responds(model=None, *, also: tuple[int, ...] = (), content_type: str = "application/json",
             redirect_only: bool = False):
    """Declare the body a handler answers with on success (a pydantic model or type): the document shows its
    schema and, in tests (DENGJI_ENV=test), every JSON answer is checked against it (watch_conformance). `also`: other
    statuses answered with the same body (e.g. a health check's 503); `content_type` for a body that is not JSON
    (CSV, Prometheus text); `redirect_only` for a route that answers with a redirect and nothing else."""

    def decorate(handler):
        handler.dengji_response = model
        handler.dengji_also = also
        handler.dengji_content_type = content_type
        handler.dengji_redirect_only = redirect_only
        return handler

    return decorate


def _declared(handler, name: str, default=None):
    while handler is not None:
        if hasattr(handler, name):
            return getattr(handler, name)
        handler = getattr(handler, "__wrapped__", None)
    return default


def response_model_of(handler):
    return _declared(handler, "dengji_response")


def answers_errors(errors: dict[int, tuple[str, ...]]):
    """Declare error codes a handler answers that the source cannot show (e.g. built from data)."""

    def decorate(handler):
        handler.dengji_errors = {status: set(names) for status, names in errors.items()}
        return handler

    return decorate


# ───────────────────────── the document ─────────────────────────


class _Components:
    def __init__(self) -> None:
        self.schemas: dict = {"Error": ERROR_SCHEMA}

    def schema(self, model, mode: str = "validation") -> dict:
        """A model's JSON schema with its nested definitions moved to components."""
        adapter = model if isinstance(model, TypeAdapter) else None
        raw = (adapter.json_schema(ref_template=REF, mode=mode) if adapter
               else model.model_json_schema(ref_template=REF, mode=mode))
        for name, sub in raw.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        return raw

    def response(self, model) -> dict:
        """A response model's schema (as serialised, by name when it is a model)."""
        if isinstance(model, type) and issubclass(model, BaseModel):
            return self.ref(model, mode="serialization")
        raw = TypeAdapter(model).json_schema(ref_template=REF, mode="serialization")
        for name, sub in raw.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        return raw

    def ref(self, model: type[BaseModel], mode: str = "validation") -> dict:
        if model.__name__ not in self.schemas:
            self.schemas[model.__name__] = {}  # reserve first: recursive models
            self.schemas[model.__name__] = self.schema(model, mode)
        return {"$ref": REF.format(model=model.__name__)}


def _error(status: int, codes: set[str]) -> dict:
    """The error shape with the codes this route answers with this status."""
    names = sorted(codes)
    schema = {"allOf": [{"$ref": REF.format(model="Error")},
                        {"type": "object", "properties": {"error": {"type": "object", "properties": {
                            "code": {"type": "string", "enum": names}}}}}]}
    return {"description": f"{ERROR_TEXT.get(status, '错误')}。错误代码：{'、'.join(names)}",
            "content": {"application/json": {"schema": schema}}}


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
    model = response_model_of(handler)
    content_type = _declared(handler, "dengji_content_type", "application/json")
    if _declared(handler, "dengji_redirect_only", False):
        pass  # the 302 below is the only success
    elif content_type != "application/json":
        op["responses"][ok] = {"description": "成功", "content": {content_type: {"schema": {"type": "string"}}}}
    elif model is not None:
        success = {"description": "成功", "content": {"application/json": {"schema": components.response(model)}}}
        op["responses"][ok] = success
        if found["created"] and found["ok_too"]:  # e.g. an idempotent retry answers 200 with the same body
            op["responses"]["200"] = success
        for status in _declared(handler, "dengji_also", ()):
            op["responses"][str(status)] = {**success, "description": ERROR_TEXT.get(status, "")}
    else:
        op["responses"][ok] = {"description": "成功"}
    if found["redirect"]:
        op["responses"]["302"] = {"description": "跳转（Location 头）",
                                  "headers": {"Location": {"schema": {"type": "string"}}}}
    if kind is not None:
        op["security"] = [{"bearerAuth": []}]
        who = ("工作人员" + (f"（角色：{'、'.join(roles)}；admin 亦可）" if roles else "")
               if kind == "staff" else "已登录市民")
        op["description"] = (doc + "\n\n" if doc else "") + f"需要：{who}。"
    elif found["optional_citizen"]:
        op["security"] = [{}, {"bearerAuth": []}]
    for status, codes in sorted(error_codes_of(route, method).items()):
        op["responses"].setdefault(str(status), _error(status, codes))
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
        op["responses"]["200"] = {"description": "被动回复（XML）或 success",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}
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


# ───────────────────────── the document kept honest ─────────────────────────

# The document depends on the code only, not on an app's settings: built once per process.
_DOCUMENTS: dict = {}
_ADAPTERS: dict = {}


def document_for(app: Sanic) -> dict:
    key = tuple(sorted((r.path, tuple(sorted(r.methods)), r.name.split(".", 1)[-1]) for r in app.router.routes))
    if key not in _DOCUMENTS:
        _DOCUMENTS[key] = build(app)
    return _DOCUMENTS[key]


def watch_conformance(app: Sanic) -> None:
    """In tests (DENGJI_ENV=test), check every JSON API answer against the document: an error code the route's
    document does not list, or a success body its declared response model refuses, is logged and kept in
    `app.ctx.api_doc_gaps` (read by the tests). Development and production answers are not re-read (the
    benchmarks run in development)."""
    app.ctx.api_doc_gaps = set()

    @app.on_response(priority=90)
    async def check(request: Request, response: HTTPResponse) -> None:
        route = request.route
        if route is None or not is_api_route(route) or request.method in ("HEAD", "OPTIONS"):
            return
        gap = conformance_gap(request.app, route, request.method, response)
        if gap is not None and gap not in app.ctx.api_doc_gaps:
            app.ctx.api_doc_gaps.add(gap)
            log.warning("answer not in the API document: %s", gap)


def conformance_gap(app: Sanic, route, method: str, response: HTTPResponse) -> tuple | None:
    """What in an answer the document does not say, as (method, path, status, what), or None."""
    import json as jsonlib

    path = "/" + _PARAM.sub(r"{\1}", route.path)
    op = document_for(app)["paths"].get(path, {}).get(method.lower())
    if op is None:
        return (method, path, response.status, "route not documented")
    status = str(response.status)
    documented = op["responses"].get(status)
    if documented is None:
        return (method, path, response.status, "status not documented")
    if response.status < 400 or "allOf" not in documented.get("content", {}).get("application/json", {}).get(
            "schema", {"allOf": 1}):  # an answer that is not the error shape (healthz's 503)
        model = response_model_of(route.handler)
        if model is None or not (response.content_type or "").startswith("application/json"):
            return None
        adapter = _ADAPTERS.get(model)
        if adapter is None:
            adapter = _ADAPTERS[model] = TypeAdapter(model)
        try:
            adapter.validate_json(response.body)
        except ValidationError as exc:
            first = exc.errors()[0]
            return (method, path, response.status, f"body: {'.'.join(map(str, first['loc']))} {first['type']}")
        return None
    try:
        code = jsonlib.loads(response.body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return (method, path, response.status, "not the error shape")
    allowed = documented["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"][
        "properties"]["code"]["enum"]
    return None if code in allowed else (method, path, response.status, code)


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
    return json(document_for(request.app))


@bp.get("/static/<name:str>")
async def static(request: Request, name: str) -> HTTPResponse:
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        from server.core.errors import NotFound

        raise NotFound("文件不存在")
    return await file(STATIC_DIR / name, mime_type=content_type, headers={"cache-control": "public, max-age=86400"})
