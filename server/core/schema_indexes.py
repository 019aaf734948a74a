"""Give a migrated database every index and unique constraint its models declare.

Tortoise's migration engine (1.1) loses indexes: on SQLite a column change remakes the table
(`_remake_table`: CREATE new__t, copy, DROP t, RENAME) with only per-column UNIQUE, so every index and
unique_together of that table is gone; and on every backend `add_field` never creates the index of a
`db_index=True` field. So after `db.migrate` we compare the database with the models and create what is
missing, named as Tortoise names them; existing databases that lost them get them back the same way.
"""

from __future__ import annotations

import logging

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.schema_generator import BaseSchemaGenerator
from tortoise.indexes import Index
from tortoise.models import Model

log = logging.getLogger("dengji.db")

Key = tuple[tuple[str, ...], bool]  # (columns, unique)

PG_INDEXES = """
SELECT t.relname AS tbl, ix.indisunique AS uniq, array_agg(a.attname ORDER BY k.ord) AS cols
FROM pg_index ix
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE n.nspname = current_schema() AND NOT ix.indisprimary AND ix.indpred IS NULL
GROUP BY t.relname, ix.indexrelid, ix.indisunique
"""


class DuplicateRowsError(RuntimeError):
    """A unique constraint the models declare cannot be restored: rows already break it."""


def declared_indexes(model: type[Model], gen: BaseSchemaGenerator) -> list[tuple[str, tuple[str, ...], bool]]:
    """(name, columns, unique) of every index `generate_schemas` builds for `model`, primary key aside."""
    meta = model._meta
    name_of = gen._get_index_name  # Tortoise's naming (generate_schemas and the migrations alike)
    column = {name: meta.fields_map[name].source_field or name for name in meta.fields_map}
    out = []
    for name, col in meta.fields_db_projection.items():
        field = meta.fields_map[name]
        if field.pk:
            continue
        if field.unique:
            out.append((name_of("uid", model, [col]), (col,), True))
        if field.index:
            out.append((name_of("idx", model, [col]), (col,), False))
    for together in meta.unique_together or ():
        cols = [column.get(f, f) for f in together]
        out.append((name_of("uid", model, cols), tuple(cols), True))
    for index in meta.indexes or ():
        if isinstance(index, Index):
            index.resolve_expressions(model)
            cols = list(index.field_names)
            out.append((index.name or name_of("idx", model, cols), tuple(cols), False))
        else:
            cols = [column.get(f, f) for f in index]
            out.append((name_of("idx", model, cols), tuple(cols), False))
    return out


async def existing_indexes(conn: BaseDBAsyncClient, postgres: bool) -> dict[str, set[Key]]:
    """{table: {(columns, unique)}} of the database's full (not partial) indexes, primary keys aside."""
    out: dict[str, set[Key]] = {}
    if postgres:
        for r in await conn.execute_query_dict(PG_INDEXES):
            out.setdefault(r["tbl"], set()).add((tuple(r["cols"]), r["uniq"]))
        for r in await conn.execute_query_dict("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"):
            out.setdefault(r["tablename"], set())
        return out
    for t in await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'table'"):
        have = out.setdefault(t["name"], set())
        for idx in await conn.execute_query_dict(f'PRAGMA index_list("{t["name"]}")'):
            if idx["origin"] == "pk" or idx["partial"]:
                continue
            cols = await conn.execute_query_dict(f'PRAGMA index_info("{idx["name"]}")')
            have.add((tuple(c["name"] for c in cols), bool(idx["unique"])))
    return out


async def _check_no_duplicates(conn: BaseDBAsyncClient, model: type[Model], cols: tuple[str, ...]) -> None:
    table, pk = model._meta.db_table, model._meta.db_pk_column
    quoted = ", ".join(f'"{c}"' for c in cols)
    not_null = " AND ".join(f'"{c}" IS NOT NULL' for c in cols)  # UNIQUE lets NULLs repeat
    groups = await conn.execute_query_dict(
        f'SELECT MIN("{pk}") AS first, COUNT(*) AS n FROM "{table}" WHERE {not_null} '  # nosec B608: names from models
        f"GROUP BY {quoted} HAVING COUNT(*) > 1 LIMIT 5")
    if groups:
        sample = "；".join(f"{pk}={g['first']} 等 {g['n']} 行" for g in groups)
        raise DuplicateRowsError(
            f"无法恢复表 {table} 的唯一约束 ({', '.join(cols)})：已有重复的行（{sample}）。"
            f"请先合并或删除重复行，再运行 `dengji db init`。")


async def restore_indexes(conn: BaseDBAsyncClient, postgres: bool, announce: bool = True) -> list[str]:
    """Create every declared index the database lacks; return their names (empty when none lacked).

    `announce=False` for a database the migrations just created: its lost indexes are routine, not news.
    """
    existing = await existing_indexes(conn, postgres)
    gen = conn.schema_generator(conn)
    missing = []
    for app in Tortoise.apps.values():
        for model in app.values():
            have = existing.get(model._meta.db_table)
            if have is None:
                continue
            for name, cols, unique in declared_indexes(model, gen):
                if (cols, unique) not in have:
                    have.add((cols, unique))
                    missing.append((model, name, cols, unique))
    for model, _name, cols, unique in missing:  # refuse before creating anything
        if unique:
            await _check_no_duplicates(conn, model, cols)
    for model, name, cols, unique in missing:
        table = model._meta.db_table
        quoted = ", ".join(f'"{c}"' for c in cols)
        await conn.execute_script(
            f'CREATE {"UNIQUE " if unique else ""}INDEX IF NOT EXISTS "{name}" ON "{table}" ({quoted})')
        (log.warning if announce else log.debug)(
            "restored %sindex %s on %s (%s)", "unique " if unique else "", name, table, ", ".join(cols))
    return [name for _m, name, _c, _u in missing]
