"""Management figures benchmark: a year of figures for 6 halls over 1 million cases and 1 million bookings on
PostgreSQL (GET /api/staff/figures reads through `server.operations.figures.get`).

    .venv/bin/python -m bench.bench_figures [--rows 1000000] [--pg postgres://postgres@127.0.0.1:5432/postgres]
        [--runs 10] [--keep]

Builds a throwaway database with the migrations, fills it server-side with generate_series (a few seconds),
rolls the year up once (timed: the periodic job does this a day at a time in production), then times:
  - year by month, center-wide and per hall, everything rolled (the console's yearly view);
  - the same with "today" inside the range (the last LIVE_DAYS days are rolled again on each request);
  - baseline in the same run: the same counts computed straight from the raw tables by one GROUP BY each
    (what the roll-up replaces), so the ratio tells what the roll-up buys.
Times are medians of --runs calls in one process (service function, no HTTP; the route adds its usual
few milliseconds of parsing and serialisation).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
import uuid
from datetime import date, timedelta

PG = "postgres://postgres@127.0.0.1:5432/postgres"
DATA_KEY = base64.urlsafe_b64encode(b"f" * 32).decode()
HALLS = ("center", "east", "west", "south", "north", "newdistrict")
START = date(2025, 1, 1)


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


FILL = """
INSERT INTO booking (created_at, updated_at, code, id_hash, name_enc, id_number_enc, mobile_enc, hall_code,
                     business_type, date, start, "end", slot_at, slot_end_at, channel, status, counter_id, subscribe)
SELECT now(), now(), 'B' || g, md5(g::text), 'x', 'x', 'x', (ARRAY{halls})[1 + g % 6], 'secondhand_transfer', d,
       '09:00', '09:30', d + time '09:00', d + time '09:30', 'online',
       (ARRAY['checked_in','checked_in','checked_in','checked_in','checked_in','checked_in','checked_in',
              'no_show','cancelled','center_cancelled'])[1 + (g / 7) % 10], 0, false
  FROM generate_series(1, $1::int) AS g, LATERAL (SELECT $2::date + (g % 365) AS d) AS x;
INSERT INTO cases (created_at, updated_at, receipt_no, business_type, hall, stage, stage_at, stage_seq,
                   missing_materials, accepted_at, channel)
SELECT now(), now(), 'R' || g, (ARRAY{types})[1 + g % 13], (ARRAY{halls})[1 + (g / 13) % 6], 'accepted', t, 0, '[]',
       t, (ARRAY['online_self','online_agent','online_agent','hall','unknown'])[1 + (g / 3) % 5]
  FROM generate_series(1, $1::int) AS g,
       LATERAL (SELECT $2::date + (g % 365) * interval '1 day' + interval '9 hours' AS t) AS x;
INSERT INTO walk_in (hall_code, date, business_type, channel_code, queue_no, staff_id, created_at)
SELECT (ARRAY{halls})[1 + g % 6], $2::date + (g % 365), 'seizure', 'seizure', 1, 1, now()
  FROM generate_series(1, $1::int / 20) AS g;
INSERT INTO queue_ticket (hall_code, date, number, business_type, status, calls, issued_at, called_at, done_at)
SELECT (ARRAY{halls})[1 + g % 6], $2::date + (g % 365), g, 'secondhand_transfer', 'done', 1, t,
       t + (g % 40) * interval '1 minute', t + (g % 40 + 10) * interval '1 minute'
  FROM generate_series(1, $1::int) AS g,
       LATERAL (SELECT $2::date + (g % 365) * interval '1 day' + interval '9 hours' AS t) AS x;
"""

RAW = """
SELECT hall_code, date_trunc('month', date) AS m, count(*) FILTER (WHERE status NOT IN
       ('cancelled','declined','center_cancelled')), count(*) FILTER (WHERE status = 'checked_in'),
       count(*) FILTER (WHERE status = 'no_show')
  FROM booking WHERE date BETWEEN $1 AND $2 GROUP BY 1, 2;
"""
RAW_CASES = """
SELECT hall, business_type, date_trunc('month', accepted_at) AS m, count(*),
       count(*) FILTER (WHERE channel IN ('online_self','online_agent'))
  FROM cases WHERE accepted_at >= $1 AND accepted_at < $2 GROUP BY 1, 2, 3;
"""


async def _median(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def main(args) -> None:
    import asyncpg
    from tortoise import Tortoise, connections

    from config.settings import Settings
    from server.catalog import seed as catalog_seed
    from server.catalog import service as catalog_service
    from server.core import db
    from server.operations import figures

    name = f"dengji_bench_fig_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(_dsn(args.pg))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = args.pg.rpartition("/")[0] + "/" + name
    settings = Settings(env="test", database_url=url, data_key=DATA_KEY)
    try:
        await db.migrate(settings)
        await Tortoise.init(config=settings.tortoise_config())
        await catalog_seed.seed(settings)
        catalog = await catalog_service.load()
        types = [b for b in catalog.business_types][:13]
        sql = FILL.format(halls="[" + ",".join(f"'{h}'" for h in HALLS) + "]",
                          types="[" + ",".join(f"'{t}'" for t in types) + "]")
        conn = await asyncpg.connect(_dsn(url))
        t = time.perf_counter()
        for statement in filter(str.strip, sql.split(";")):
            await conn.execute(statement, args.rows, START)
        await conn.execute("ANALYZE")
        print(f"filled {args.rows:,} bookings, {args.rows:,} cases, {args.rows // 20:,} walk-ins, "
              f"{args.rows:,} queue tickets "
              f"in {time.perf_counter() - t:.1f} s")
        end = START + timedelta(days=364)
        after = end + timedelta(days=30)
        t = time.perf_counter()
        await figures.ensure_rolled(catalog, START, end, after)
        print(f"first roll-up of the year (365 days, once): {time.perf_counter() - t:.1f} s")

        async def year(today, hall=None):
            return await figures.get(catalog=catalog, start=START, end=end, hall=hall, by="month", today=today)

        table = await year(after)
        rolled = await _median(lambda: year(after), args.runs)
        per_hall = await _median(lambda: year(after, "east"), args.runs)
        by_day = await _median(lambda: figures.get(catalog=catalog, start=START, end=end, hall=None, by="day",
                                                   today=after), args.runs)
        live = await _median(lambda: year(end), args.runs)
        lo, hi = START, end + timedelta(days=1)

        async def raw():
            await conn.fetch(RAW, START, end)
            await conn.fetch(RAW_CASES, lo, hi)

        baseline = await _median(raw, max(3, args.runs // 3))
        await conn.close()
        print(f"year by month, center-wide + 6 halls, all rolled:   {rolled:7.1f} ms (median of {args.runs})")
        print(f"year by month, one hall:                           {per_hall:7.1f} ms")
        print(f"year by day, center-wide + 6 halls:                {by_day:7.1f} ms")
        print(f"year to date (last {figures.LIVE_DAYS} days rolled again):          {live:7.1f} ms")
        print(f"baseline, raw GROUP BY over bookings and cases:    {baseline:7.1f} ms")
        print(f"ratio rolled / raw: {rolled / baseline:.3f}; year to date / raw: {live / baseline:.3f}")
        print(f"check: bookings {table['total']['bookings']:,}, business volume "
              f"{table['total']['business_volume']:,}, online rate {table['total']['online_rate']}")
        await connections.close_all()
    finally:
        if not args.keep:
            admin = await asyncpg.connect(_dsn(args.pg))
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default=PG)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    asyncio.run(main(parser.parse_args()))
