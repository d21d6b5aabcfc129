"""What a read costs the app's process by the way it reaches PostgreSQL: one small query
(a one-row page of a station's observations) through the read session a request uses,
through a Core connection of the same pool, through asyncpg on that pool's connection, and
through asyncpg's own pool; beside them, whole requests in-process over raw ASGI, the
`/health` floor and the one-row first page. CPU time of this process per call, so the
database's CPU is not counted; each figure is the median of the rounds.

    uv run python -m bench.read_paths --database-url URL [--calls N] [--rounds N]

The database must hold the data (``weather-api load``; ``bench.api --keep`` leaves one)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from sqlalchemy import bindparam, select

from bench.common import in_process_app
from bench.instructions import call, per_call
from weather_api.db.engine import Database
from weather_api.db.models import Observation

STATION = "USC00110072"
WARM_UP = 100


async def measure(url: str, calls: int, rounds: int) -> list[tuple[str, float]]:
    app = in_process_app(url)
    async with app.router.lifespan_context(app):
        database: Database = app.state.database
        ob = Observation
        stmt = (
            select(ob.station_id, ob.date, ob.max_temp, ob.min_temp, ob.precipitation)
            .where(ob.station_id == bindparam("station_id"))
            .order_by(ob.station_id, ob.date)
            .limit(1)
        )
        params = {"station_id": STATION}
        compiled = stmt.compile(dialect=database.read_engine.dialect)
        sql = str(compiled)  # $1, $2: the station and the limit
        args = [(params | compiled.params)[name] for name in compiled.positiontup or ()]
        reads = database.read_engine.execution_options(isolation_level="AUTOCOMMIT")
        turns = asyncio.Semaphore(10)
        own_pool = await asyncpg.create_pool(url, min_size=1, max_size=1)

        async def session() -> None:
            async with database.read_session() as s:
                (await (await s.connection()).execute(stmt, params)).all()

        async def core() -> None:
            async with turns, reads.connect() as conn:
                (await conn.execute(stmt, params)).all()

        async def driver() -> None:
            async with turns, reads.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                await raw.fetch(sql, *args)

        async def asyncpg_pool() -> None:
            async with own_pool.acquire() as conn:
                await conn.fetch(sql, *args)

        paths: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("Query: the read session a request uses (ORM `AsyncSession`)", session),
            ("Query: a Core `AsyncConnection` of the same pool", core),
            ("Query: asyncpg on that pool's connection", driver),
            ("Query: asyncpg's own pool", asyncpg_pool),
            ("Request: `/health` (the floor)", lambda: call(app, "/health")),
            ("Request: `/api/weather?page_size=1`", lambda: call(app, "/api/weather?page_size=1")),
        ]
        samples: dict[str, list[float]] = {name: [] for name, _ in paths}
        try:
            for _ in range(rounds):  # rounds interleave the paths: drift hits all of them
                for name, run in paths:
                    samples[name].append(await per_call(run, calls, None, WARM_UP))
        finally:
            await own_pool.close()
        return [(name, statistics.median(values)) for name, values in samples.items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_paths", description=__doc__)
    parser.add_argument("--database-url", required=True, help="a database holding the data")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.database_url, args.calls, args.rounds))
    print("| Path | CPU per call (this process) |\n|---|---:|")
    for name, ms in results:
        print(f"| {name} | {ms:.3f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
