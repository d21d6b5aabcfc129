"""The read sessions' connections: handed out in order of arrival."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.conftest import settings_for
from weather_api.db.engine import Database, create_engine

CALLERS, CONNECTIONS = 200, 2


async def test_read_sessions_get_connections_in_order_of_arrival(db_url: str) -> None:
    """Callers arrive one after another, faster than two connections serve them, as a
    server's requests do. SQLAlchemy's own queue lets a caller that arrives while others
    wait take a connection just returned, and a woken waiter that finds it gone queue
    again: dozens of callers would be overtaken, some by fifty others."""
    engine = create_engine(db_url, settings_for(db_url), pool_size=CONNECTIONS)
    database = Database(engine, engine)
    served: list[int] = []

    async def caller(number: int) -> None:
        async with database.read_session() as session:
            await session.connection()
            served.append(number)
            await session.execute(text("SELECT pg_sleep(0.001)"))

    async def warm() -> None:
        async with database.read_session() as session:
            await session.execute(text("SELECT 1"))

    try:
        await asyncio.gather(*(warm() for _ in range(CONNECTIONS)))  # both connections open
        callers = []
        for number in range(CALLERS):
            callers.append(asyncio.create_task(caller(number)))
            await asyncio.sleep(0.0002)
        await asyncio.gather(*callers)
    finally:
        await engine.dispose()
    assert served == sorted(served)
