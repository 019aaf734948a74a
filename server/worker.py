"""The arq worker: runs the registered jobs against real Redis (`dengji worker`)."""

from __future__ import annotations

from arq import cron, func
from arq.connections import RedisSettings

from config.settings import Settings
from server.core import db
from server.core.crypto import PiiCipher
from server.core.jobs import PERIODIC, REGISTRY, ArqQueue, load_job_modules
from server.core.redis import Keys, create_redis
from server.wechat.client import WeChatGateway


def worker_settings(settings: Settings) -> type:
    """Build arq WorkerSettings for every registered job and periodic job."""
    load_job_modules()

    async def startup(ctx: dict) -> None:
        arq_pool = ctx["redis"]  # arq's own pool; our jobs get our client under the same name
        await db.open_db(settings)
        keys = Keys(settings.redis_prefix)
        redis = create_redis(settings)
        common = dict(api_base=settings.wechat_api_base, timeout=settings.wechat_timeout_seconds,
                      redis=redis, keys=keys)
        ctx.update(settings=settings, redis=redis, keys=keys, cipher=PiiCipher(settings.master_key),
                   wechat=WeChatGateway(name="oa", appid=settings.wechat_appid,
                                        secret=settings.wechat_secret.get_secret_value(), **common),
                   mp=WeChatGateway(name="mp", appid=settings.mp_appid,
                                    secret=settings.mp_secret.get_secret_value(), **common))
        ctx["jobs"] = ArqQueue(arq_pool, settings.redis_prefix + "arq:queue")

    async def shutdown(ctx: dict) -> None:
        ctx["wechat"].close()
        ctx["mp"].close()
        await ctx["redis"].aclose()
        await db.close_db()

    def minutes(every_seconds: int) -> set[int]:
        step = max(1, every_seconds // 60)
        return set(range(0, 60, step))

    return type("WorkerSettings", (), {
        "functions": [func(spec.fn, name=spec.name, max_tries=spec.max_tries) for spec in REGISTRY.values()],
        "cron_jobs": [cron(spec.fn, name=spec.name, minute=minutes(spec.every_seconds), run_at_startup=False)
                      for spec in PERIODIC.values()],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.redis_prefix + "arq:queue",
        "max_jobs": 50,
        "job_timeout": 300,
    })
