"""WEATHER_DATABASE_READ_URL: GET endpoints read through it; writes through it are refused
by PostgreSQL when it is read-only, as a replica is.

The read URL is a read-only role on the sample database, the primary an empty database of
the normal user: whatever the API returns must have come through the read URL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import insert, make_url, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import settings_for
from weather_api.app import create_app
from weather_api.db.engine import SESSION_POOL_SIZE
from weather_api.db.models import CornYield

READ_ONLY_TRANSACTION = "25006"
INSUFFICIENT_PRIVILEGE = "42501"


def sqlstate(error: DBAPIError) -> str | None:
    code: str | None = getattr(error.orig, "sqlstate", None)
    return code


async def execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement, timeout=10)
    finally:
        await conn.close(timeout=10)


@pytest.fixture
async def reader_url(server_url: str, api_db_url: str) -> AsyncIterator[str]:
    """A login role that may only SELECT in the sample database, and whose transactions are
    all read-only; dropped at the end."""
    role = f"wx_reader_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    await execute(
        server_url,
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
    )
    try:
        await execute(
            api_db_url,
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        )
        url = make_url(api_db_url).set(username=role, password=password)
        yield url.render_as_string(hide_password=False)
    finally:
        await execute(api_db_url, f"DROP OWNED BY {role}")  # its grants
        await execute(server_url, f"DROP ROLE {role}")


@pytest.fixture
async def replica_app(db_url: str, reader_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(settings_for(db_url, database_read_url=SecretStr(reader_url)))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def replica_client(replica_app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=replica_app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_get_endpoints_read_through_the_read_url(replica_client: AsyncClient) -> None:
    ready = await replica_client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["stations"] == 3
    stations = await replica_client.get("/api/stations")
    assert stations.json()["total"] == 3
    day = await replica_client.get("/api/weather", params={"date": "1985-01-01"})
    assert day.json()["total"] == 3
    assert (await replica_client.get("/api/weather/stats")).json()["total"] == 6
    yields = await replica_client.get("/api/yield", params={"include": "weather"})
    assert [item["year"] for item in yields.json()["items"]] == [1985, 1986]
    # CSV exports stream COPY on a connection of their own, from the same engine.
    csv = await replica_client.get(
        "/api/weather", params={"station_id": "USC00110072", "format": "csv"}
    )
    assert len(csv.text.splitlines()) == 1 + 730
    # ETags come from the read side's data version too: a current one gets a 304.
    etag = stations.headers["etag"]
    again = await replica_client.get("/api/stations", headers={"If-None-Match": etag})
    assert again.status_code == 304


async def test_metrics_show_both_pools(replica_app: FastAPI, replica_client: AsyncClient) -> None:
    exposition = (await replica_client.get("/metrics")).text
    sizes = {
        sample.labels["pool"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "weather_db_pool_size"
    }
    settings = replica_app.state.settings
    size, exports = settings.pool_size, settings.max_concurrent_exports
    sessions = SESSION_POOL_SIZE
    assert sizes == {"primary": sessions, "replica": sessions, "read": size, "export": exports}


async def test_writes_through_the_read_engine_are_refused(replica_app: FastAPI) -> None:
    database = replica_app.state.database
    assert database.read_engine is not database.engine
    row = insert(CornYield).values(year=2000, corn_grain_yield_kt=1)

    async with database.read_engine.connect() as conn:
        with pytest.raises(DBAPIError) as refused:
            await conn.execute(row)
    assert sqlstate(refused.value) == READ_ONLY_TRANSACTION

    # Asking for a read-write transaction does not help: the role may only read.
    async with database.read_engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION READ WRITE"))
        with pytest.raises(DBAPIError) as denied:
            await conn.execute(row)
    assert sqlstate(denied.value) == INSUFFICIENT_PRIVILEGE

    # Loads write to the primary, which takes the same row.
    async with database.engine.begin() as conn:
        await conn.execute(row)
