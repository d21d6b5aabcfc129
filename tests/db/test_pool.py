"""The routes' read pool: connections handed out in order of arrival, bounded, pinged after
idling, replaced when broken, and a wait that ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import settings_for
from weather_api.app import create_app
from weather_api.db import pool as pool_module
from weather_api.db.engine import create_engine, create_read_pool
from weather_api.db.pool import ReadPool, ReadPoolTimeoutError

CALLERS, CONNECTIONS = 200, 2


@pytest.fixture
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url, settings_for(db_url), pool_size=1)
    yield engine
    await engine.dispose()


def new_pool(engine: AsyncEngine, db_url: str, size: int, timeout_s: float = 5) -> ReadPool:
    settings = settings_for(db_url, pool_size=size, statement_timeout_ms=int(timeout_s * 1000))
    return create_read_pool(engine, settings)


@asynccontextmanager
async def read_pool(
    engine: AsyncEngine, db_url: str, size: int, timeout_s: float = 5
) -> AsyncIterator[ReadPool]:
    pool = new_pool(engine, db_url, size, timeout_s)
    try:
        yield pool
    finally:
        await pool.close()


async def backends(engine: AsyncEngine) -> set[int]:
    """The process ids of this database's other sessions of the app."""
    conn = await engine.connect()
    try:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        rows = await raw.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'weather-api' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {row["pid"] for row in rows}


async def test_connections_are_handed_out_in_order_of_arrival(
    db_engine: AsyncEngine, db_url: str
) -> None:
    """Callers arrive one after another, faster than two connections serve them, as a
    server's requests do: none overtakes another, and no more than two are open."""
    served: list[int] = []
    async with read_pool(db_engine, db_url, CONNECTIONS) as pool:

        async def caller(number: int) -> None:
            connection = await pool.acquire()
            try:
                served.append(number)
                await connection.execute("SELECT pg_sleep(0.001)")
            finally:
                pool.release(connection)

        warm = [await pool.acquire() for _ in range(CONNECTIONS)]  # both open: none to connect
        for connection in warm:
            pool.release(connection)
        callers = []
        for number in range(CALLERS):
            callers.append(asyncio.create_task(caller(number)))
            await asyncio.sleep(0.0002)
        await asyncio.gather(*callers)
        assert served == list(range(CALLERS))
        assert len(await backends(db_engine)) == CONNECTIONS
        assert pool.in_use == 0
    assert await backends(db_engine) == set()


async def test_a_connection_broken_while_idle_is_replaced(
    db_engine: AsyncEngine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Terminated by the server while idle: the checkout pings it, drops it and opens
    another, so the caller gets a connection that works."""
    monkeypatch.setattr(pool_module, "PING_AFTER_IDLE_S", 0.0)
    async with read_pool(db_engine, db_url, 1) as pool:
        first = await pool.acquire()
        pid = await first.fetchval("SELECT pg_backend_pid()")
        pool.release(first)
        async with db_engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            assert await raw.fetchval("SELECT pg_terminate_backend($1)", pid)
        second = await pool.acquire()
        assert await second.fetchval("SELECT pg_backend_pid()") != pid
        pool.release(second)


async def test_a_connection_that_comes_back_closed_is_not_reused(
    db_engine: AsyncEngine, db_url: str
) -> None:
    async with read_pool(db_engine, db_url, 1) as pool:
        first = await pool.acquire()
        await first.close()
        pool.release(first)
        second = await pool.acquire()
        assert second is not first
        assert await second.fetchval("SELECT 1") == 1
        pool.release(second)


async def test_a_caller_waits_no_longer_than_the_timeout(
    db_engine: AsyncEngine, db_url: str
) -> None:
    """The only connection is held: the next caller gives up after the timeout, and the
    one after it gets the connection once it is back."""
    async with read_pool(db_engine, db_url, 1, timeout_s=0.2) as pool:
        held = await pool.acquire()
        started = asyncio.get_running_loop().time()
        with pytest.raises(ReadPoolTimeoutError, match=r"no read connection free within 0\.2 s"):
            await pool.acquire()
        assert 0.2 <= asyncio.get_running_loop().time() - started < 2
        waiting = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        pool.release(held)
        again = await asyncio.wait_for(waiting, 1)
        assert again is held
        pool.release(again)
        assert pool.in_use == 0


async def test_a_cancelled_wait_gives_its_turn_back(db_engine: AsyncEngine, db_url: str) -> None:
    async with read_pool(db_engine, db_url, 1) as pool:
        held = await pool.acquire()
        waiting = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        pool.release(held)
        pool.release(await asyncio.wait_for(pool.acquire(), 1))


async def test_a_connection_in_use_when_the_pool_closes_is_closed_on_return(
    db_engine: AsyncEngine, db_url: str
) -> None:
    pool = new_pool(db_engine, db_url, 2)
    idle, held = await pool.acquire(), await pool.acquire()
    pool.release(idle)
    await pool.close()
    assert idle.is_closed()
    assert not held.is_closed()
    pool.release(held)
    assert held.is_closed()
    with pytest.raises(ReadPoolTimeoutError, match="closed"):
        await pool.acquire()


async def test_a_request_past_the_wait_is_answered_503(db_url: str) -> None:
    """Every read connection held longer than the statement timeout: a page gets the
    documented 503 with Retry-After, not a 500."""
    app = create_app(settings_for(db_url, pool_size=1, statement_timeout_ms=200))
    async with app.router.lifespan_context(app):
        reads: ReadPool = app.state.database.reads
        held = await reads.acquire()
        try:
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
                response = await client.get("/api/weather", params={"page_size": 1})
        finally:
            reads.release(held)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "database is unavailable" in response.json()["detail"]


async def test_connections_use_the_configured_settings(db_engine: AsyncEngine, db_url: str) -> None:
    """The read pool's connections get the engine's: application name, no JIT, the
    statement timeout."""
    async with read_pool(db_engine, db_url, 1, timeout_s=1.5) as pool:
        connection = await pool.acquire()
        settings = await connection.fetchrow(
            "SELECT current_setting('application_name') AS name,"
            " current_setting('jit') AS jit,"
            " current_setting('statement_timeout') AS timeout"
        )
        with pytest.raises(asyncpg.QueryCanceledError):
            await connection.execute("SELECT pg_sleep(3)")
        pool.release(connection)
    assert dict(settings) == {"name": "weather-api", "jit": "off", "timeout": "1500ms"}
