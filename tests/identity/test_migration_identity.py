"""Migration 0002_identity from the 0001 schema with citizens in it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate

from config.settings import Settings
from server.core.crypto import PiiCipher
from tests.conftest import requires_postgres, scratch_settings
from tests.factories import make_id_number


async def _run(settings: Settings) -> None:
    cipher = PiiCipher(settings.master_key)
    id_a, id_b = make_id_number(seq=11), make_id_number(seq=12)
    await migrate(config=settings.tortoise_config(), target="models.0001_initial")
    await Tortoise.init(config=settings.tortoise_config())
    conn = connections.get("default")
    ph = (lambda i: f"${i}") if settings.is_postgres else (lambda i: "?")
    insert = ("INSERT INTO citizen (created_at, updated_at, openid, unionid, name_enc, id_number_enc, id_hash, "
              f"id_last6_hash, mobile_enc, mobile_hash, bound_at) VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
              f"{', '.join(ph(i) for i in range(1, 10))})")
    rows = [
        # A self-declared binding (maybe of someone else's ID number), an unbound login, and two rows that
        # once shared a unionid.
        ("o-bound", "u-1", cipher.encrypt("张三"), cipher.encrypt(id_a), cipher.digest(id_a, purpose="id"),
         "h6", cipher.encrypt("13800001111"), "hm", "2026-01-01T00:00:00+00:00"),
        ("o-plain", "u-2", None, None, None, None, None, None, None),
        ("o-twin", "u-2", None, None, None, None, None, None, None),
        ("o-other", None, cipher.encrypt("李四"), cipher.encrypt(id_b), cipher.digest(id_b, purpose="id"),
         "h6", cipher.encrypt("13800002222"), "hm", "2026-01-02T00:00:00+00:00"),
    ]
    for row in rows:
        values = list(row)
        if settings.is_postgres and values[8]:
            from datetime import datetime

            values[8] = datetime.fromisoformat(values[8])
        await conn.execute_query(insert, values)
    await Tortoise.close_connections()

    await migrate(config=settings.tortoise_config())
    await Tortoise.init(config=settings.tortoise_config())
    # Raw SQL only: model queries would keep this backend's SQL cached for the rest of the test run.
    try:
        conn = connections.get("default")

        async def rows_of(where: str) -> list[dict]:
            return await conn.execute_query_dict(f"SELECT * FROM citizen WHERE {where} ORDER BY id")

        bound = (await rows_of("openid = 'o-bound'"))[0]
        # The claim is kept (shown masked) but unlocks nothing keyed by the ID number until verified.
        assert bound["id_hash"] is None and bound["verified_by"] is None and bound["oa_openid"] is None
        assert bound["claimed_id_hash"] == cipher.digest(id_a, purpose="id")
        assert cipher.decrypt(bound["id_number_enc"]) == id_a
        assert await rows_of("id_hash IS NOT NULL") == []
        assert len(await rows_of("claimed_id_hash IS NOT NULL")) == 2
        # One person, one row: of two rows sharing a unionid the older keeps it, and it is unique now.
        assert (await rows_of("openid = 'o-plain'"))[0]["unionid"] == "u-2"
        assert (await rows_of("openid = 'o-twin'"))[0]["unionid"] is None
        assert len(await rows_of("1 = 1")) == 4
        # A public-account-only person has no mini-program openid; a second row for the unionid is refused.
        add = ("INSERT INTO citizen (created_at, updated_at, oa_openid, unionid) VALUES "
               f"(CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {ph(1)}, {ph(2)})")
        await conn.execute_query(add, ["oa-1", "u-3"])
        from tortoise.exceptions import IntegrityError

        with pytest.raises(IntegrityError):
            await conn.execute_query(add, ["oa-2", "u-3"])
    finally:
        await Tortoise.close_connections()


async def test_identity_migration_keeps_claims_unverified_on_sqlite(tmp_path):
    async with scratch_settings(tmp_path, postgres=False) as settings:
        await _run(settings)


@requires_postgres
async def test_identity_migration_keeps_claims_unverified_on_postgres(tmp_path):
    async with scratch_settings(tmp_path, postgres=True) as settings:
        await _run(settings)
