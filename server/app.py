"""Sanic app factory: `sanic server.app:create_app --factory` or `dengji serve`."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import time
from functools import partial
from typing import Literal

import ujson
from pydantic import BaseModel, Field
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json, raw

from config.settings import Settings, load_settings
from server.core import db, metrics, openapi
from server.core.crypto import PiiCipher
from server.core.errors import handle_exception
from server.core.jobs import create_queue
from server.core.logging import AccessLog, DengjiRequest, configure_logging
from server.core.ops import OpsGate
from server.core.redis import Keys, create_redis
from server.wechat.client import WeChatGateway

# Each domain exposes `bp` (a Blueprint or Blueprint.group) in its views module.
BLUEPRINT_MODULES = (
    "server.identity.views",
    "server.catalog.views",
    "server.staff.views",
    "server.booking.views",
    "server.progress.views",
    "server.wechat.views",
    "bot.views",
    "notices.views",
    "server.h5.views",
    "server.console.views",
    "server.operations.views",
)

# Per-domain start-up hooks: `async def setup(app)` run once per worker after core resources.
SETUP_MODULES = ("server.booking.views", "bot.views", "server.wechat.views", "notices.views")


async def _flush_every(access_log: AccessLog, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        access_log.flush()


HEALTH_TIMEOUT = 1.0
log = logging.getLogger("dengji.app")

# Requests free almost all their garbage by reference counting; the cyclic collector's passes only pause
# them. Its full passes over a worker's long-lived objects took 30-40 ms, stalling every request in flight.
GC_THRESHOLDS = (50_000, 50, 100)


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[Literal["database", "redis"], str] = Field(description="ok，或 error: 异常类型")


def _tune_gc() -> None:
    """Keep what start-up built (modules, jieba's dictionary, the bot's index) out of the cyclic GC, and run
    the GC rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, name: str = "dengji") -> Sanic:
    """Build the app; shared resources open once per worker in before_server_start."""
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_json)
    # Chinese text as UTF-8, not \u escapes: smaller bodies and readable logs for the center's staff.
    app = Sanic(name, dumps=partial(ujson.dumps, ensure_ascii=False, escape_forward_slashes=False),
                request_class=DengjiRequest)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = 2 * 1024 * 1024
    app.config.CORS = False
    app.config.HEALTH = False
    # sanic-ext is not a dependency: the API document is ours (server/core/openapi.py). Should it be installed
    # anyway, it stays unloaded, and so do its automatic HEAD/OPTIONS routes (they parse every handler's source
    # at start-up, over a second).
    app.config.AUTO_EXTEND = False
    app.config.HTTP_AUTO_HEAD = False
    app.config.HTTP_AUTO_OPTIONS = False
    # A stop (SIGTERM) waits this long for requests in flight, then closes; resources close with timeouts.
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 3.0
    # Behind the reverse proxy of deploy/ (see config/settings.py): request.remote_addr is the client.
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.REAL_IP_HEADER = settings.real_ip_header or None
    app.config.FORWARDED_SECRET = settings.forwarded_secret.get_secret_value() or None
    app.ctx.settings = settings
    # Request lines are INFO: DENGJI_LOG_LEVEL=WARNING turns them off like any other info log.
    access_log = app.ctx.access_log = AccessLog(enabled=settings.log_level.upper() in ("DEBUG", "INFO"))

    app.error_handler.add(Exception, handle_exception)
    ops_gate = OpsGate.from_settings(settings)
    if ops_gate is not None:  # no middleware at all when the operator endpoints are open
        app.on_request(ops_gate.check, priority=1000)

    for module_name in BLUEPRINT_MODULES:
        app.blueprint(importlib.import_module(module_name).bp)
    # The API document (built from the routes and their schemas on first request) and its local pages.
    app.blueprint(openapi.bp)
    if settings.env == "test":  # every answer checked against the document (tests read the gaps)
        openapi.watch_conformance(app)
    # Path parameters arrive percent-decoded (Sanic leaves them quoted by default): `/halls/%E5%8D%97…` is "南…".
    for route in app.router.routes:
        route.unquote = True

    @app.before_server_start
    async def open_resources(app: Sanic) -> None:
        app.ctx.cipher = PiiCipher(settings.master_key)
        app.ctx.keys = Keys(settings.redis_prefix)
        app.ctx.redis = create_redis(settings)
        await db.open_db(settings)
        common = dict(api_base=settings.wechat_api_base, timeout=settings.wechat_timeout_seconds,
                      redis=app.ctx.redis, keys=app.ctx.keys)
        app.ctx.wechat = WeChatGateway(name="oa", appid=settings.wechat_appid,
                                       secret=settings.wechat_secret.get_secret_value(), **common)
        app.ctx.mp = WeChatGateway(name="mp", appid=settings.mp_appid,
                                   secret=settings.mp_secret.get_secret_value(), **common)
        app.ctx.job_ctx = {"settings": settings, "redis": app.ctx.redis, "keys": app.ctx.keys,
                           "wechat": app.ctx.wechat, "mp": app.ctx.mp, "cipher": app.ctx.cipher}
        app.ctx.jobs = await create_queue(settings, app.ctx.job_ctx)
        app.ctx.job_ctx["jobs"] = app.ctx.jobs
        for module_name in SETUP_MODULES:
            await importlib.import_module(module_name).setup(app)
        if hasattr(app.ctx.jobs, "start_periodic"):
            app.ctx.jobs.start_periodic()
        app.ctx.access_log_task = asyncio.create_task(_flush_every(access_log, 0.2))
        _tune_gc()

    @app.after_server_stop
    async def close_resources(app: Sanic) -> None:
        app.ctx.access_log_task.cancel()
        access_log.flush()
        # Each step is bounded: a stop after a fault (Redis paused, database gone) must not hang.
        for name, close in (("jobs", app.ctx.jobs.close), ("redis", app.ctx.redis.aclose)):
            try:
                await asyncio.wait_for(close(), 2)
            except Exception as exc:
                log.warning("%s not closed cleanly on stop: %s", name, type(exc).__name__)
        app.ctx.wechat.close()
        app.ctx.mp.close()
        await db.close_db()

    @app.on_response(priority=100)
    async def finish_request(request: Request, response: HTTPResponse) -> None:
        elapsed = time.perf_counter() - request.started
        route = request.route.path if request.route else "unmatched"
        metrics.observe(request.method, route, response.status, elapsed)
        response.headers["x-request-id"] = request.request_id
        # The path only: query strings may carry personal data.
        access_log.write({"msg": "request", "method": request.method, "path": request.path,
                          "status": response.status, "ms": round(elapsed * 1000, 2),
                          "request_id": request.request_id})

    @app.get("/metrics")
    @openapi.responds(content_type="text/plain")
    async def prometheus(request: Request) -> HTTPResponse:
        body, content_type = metrics.render()
        return raw(body, content_type=content_type)

    @app.get("/healthz")
    @openapi.responds(Health, also=(503,))
    async def healthz(request: Request) -> HTTPResponse:
        """Whether the database and Redis answer (503 when one does not)."""
        async def check(probe) -> str:
            try:
                await asyncio.wait_for(probe(), HEALTH_TIMEOUT)
                return "ok"
            except Exception as exc:  # a health check reports, it does not raise
                return f"error: {type(exc).__name__}"

        # Both at once, each bounded: the check answers within a second even when a server hangs.
        names = ("database", "redis")
        results = await asyncio.gather(check(db.ping), check(request.app.ctx.redis.ping))
        checks = dict(zip(names, results, strict=True))
        ok = all(v == "ok" for v in checks.values())
        return json(Health(status="ok" if ok else "degraded", checks=checks).model_dump(), status=200 if ok else 503)

    return app
