"""`dengji db seed` step of the operations domain: the networked banks (config/data/banks.yaml)."""

from __future__ import annotations

from server.operations import banks


async def seed(settings) -> str:
    return await banks.seed(settings.seed_dir)
