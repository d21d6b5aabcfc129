"""The read sessions' connections: handed out in order of arrival."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from tests.conftest import settings_for
from weather_api.db.engine import Database, create_engine

CALLERS, CONNECTIONS, SECONDS = 16, 2, 1.5


async def test_read_sessions_take_turns_for_a_connection(db_url: str) -> None:
    """Sixteen callers loop over two connections for a while: each gets its share. This
    guards the property; it does not reproduce the starvation the turns fixed, which shows
    only under a real server (wrk at 16 connections: p99 440 to 460 ms without the turns,
    18 ms with them; docs/benchmarks.md, "Request path")."""
    engine = create_engine(db_url, settings_for(db_url), pool_size=CONNECTIONS)
    database = Database(engine, engine)
    rounds = dict.fromkeys(range(CALLERS), 0)
    end = time.monotonic() + SECONDS

    async def caller(number: int) -> None:
        while time.monotonic() < end:
            async with database.read_session() as session:
                await session.execute(text("SELECT pg_sleep(0.002)"))
            rounds[number] += 1

    try:
        await asyncio.gather(*(caller(number) for number in rounds))
    finally:
        await engine.dispose()
    assert min(rounds.values()) >= max(rounds.values()) / 2, rounds
