"""What a read costs the app's process by the way it reaches PostgreSQL.

- One small query (a one-row page of a station's observations) through an ORM session of
  the read engine, a Core connection of its pool, asyncpg on that pool's connection,
  asyncpg's own pool, and the routes' read pool (``db.pool.ReadPool``);
- whole requests in-process over raw ASGI: the ``/health`` floor, and the one-row first
  page of ``/api/weather`` with its connection taken from the read pool (as served), from
  the read engine's SQLAlchemy pool (a FIFO turn, ``raw_connection``, the return in a
  greenlet: the route before the read pool), and from asyncpg's own pool, with its reset on
  release (its default) and without.

A checkout's cost depends on where it runs: deep in a request it cost several times what it
costs alone. CPU time of this process per call, so the database's CPU is not counted; each
figure is the median of the rounds, which interleave the paths.

    uv run python -m bench.read_paths --database-url URL [--calls N] [--rounds N]

The database must hold the data (``weather-api load``; ``bench.api --keep`` leaves one)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import bindparam, select
from sqlalchemy.util import greenlet_spawn

from bench.common import in_process_app
from bench.instructions import call, per_call
from weather_api.db.engine import Database
from weather_api.db.models import Observation

STATION = "USC00110072"
ONE_ROW = "/api/weather?page_size=1"
WARM_UP = 100
Checkout = Callable[[], Awaitable[tuple[Any, Callable[[], Awaitable[None]]]]]


def sqlalchemy_checkout(database: Database) -> Checkout:
    """The route's checkout before the read pool: a FIFO turn, then the read engine's pool."""
    turns = asyncio.Semaphore(database.read_engine.pool.size())  # type: ignore[attr-defined]

    async def checkout() -> tuple[Any, Callable[[], Awaitable[None]]]:
        await turns.acquire()
        pooled = await database.read_engine.raw_connection()

        async def release() -> None:
            await greenlet_spawn(pooled.close)
            turns.release()

        return pooled.driver_connection, release

    return checkout


def asyncpg_checkout(pool: asyncpg.Pool) -> Checkout:
    async def checkout() -> tuple[Any, Callable[[], Awaitable[None]]]:
        connection = await pool.acquire()

        async def release() -> None:
            await pool.release(connection)

        return connection, release

    return checkout


async def _no_reset(connection: asyncpg.Connection) -> None:
    pass


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
        own_pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        unreset_pool = await asyncpg.create_pool(url, min_size=1, max_size=1, reset=_no_reset)

        async def session() -> None:
            async with database.read_session() as s:
                (await (await s.connection()).execute(stmt, params)).all()

        async def core() -> None:
            async with reads.connect() as conn:
                (await conn.execute(stmt, params)).all()

        async def driver() -> None:
            async with reads.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                await raw.fetch(sql, *args)

        async def asyncpg_pool() -> None:
            async with own_pool.acquire() as conn:
                await conn.fetch(sql, *args)

        async def read_pool() -> None:
            connection = await database.reads.acquire()
            try:
                await connection.fetch(sql, *args)
            finally:
                database.reads.release(connection)

        served = database._checkout
        by_checkout: dict[str, Checkout] = {
            "the read pool (as served)": served,
            "SQLAlchemy's pool (before)": sqlalchemy_checkout(database),
            "asyncpg's pool": asyncpg_checkout(own_pool),
            "asyncpg's pool, no reset": asyncpg_checkout(unreset_pool),
        }

        def page_on(checkout: Checkout) -> Callable[[], Awaitable[object]]:
            """The one-row page, the app's readers taking their connection by ``checkout``."""

            async def page() -> object:
                database._checkout = checkout  # type: ignore[method-assign, assignment]
                try:
                    return await call(app, ONE_ROW)
                finally:
                    database._checkout = served  # type: ignore[method-assign]

            return page

        paths: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("Query: an ORM `AsyncSession` of the read engine", session),
            ("Query: a Core `AsyncConnection` of its pool", core),
            ("Query: asyncpg on that pool's connection", driver),
            ("Query: asyncpg's own pool", asyncpg_pool),
            ("Query: the routes' read pool (`db.pool.ReadPool`)", read_pool),
            ("Request: `/health` (the floor)", lambda: call(app, "/health")),
            *(
                (f"Request: `{ONE_ROW}`, its read on {name}", page_on(checkout))
                for name, checkout in by_checkout.items()
            ),
        ]
        samples: dict[str, list[float]] = {name: [] for name, _ in paths}
        try:
            for _ in range(rounds):  # rounds interleave the paths: drift hits all of them
                for name, run in paths:
                    samples[name].append(await per_call(run, calls, None, WARM_UP))
        finally:
            await own_pool.close()
            await unreset_pool.close()
        return [(name, statistics.median(values)) for name, values in samples.items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_paths", description=__doc__)
    parser.add_argument("--database-url", required=True, help="a database holding the data")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per path and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.database_url, args.calls, args.rounds))
    print("| Path | CPU per call (this process) |\n|---|---:|")
    for name, ms in results:
        print(f"| {name} | {ms:.3f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
