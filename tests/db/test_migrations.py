"""Migrations over databases an earlier revision left, data in them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import create_database, drop_database, settings_for
from weather_api.db.engine import alembic_config, create_engine
from weather_api.db.stats import refresh_stats


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection=connection), revision)


@pytest.fixture
async def unmigrated(server_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of this test's own, no revision applied yet."""
    url = await create_database(server_url)
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(server_url, url)


@pytest.mark.parametrize(
    ("statuses", "complete"),
    [
        (["interrupted", "succeeded"], True),
        (["failed"], True),  # ran to its end, rejecting some files
        (["interrupted"], False),  # a first load cut short: the next start resumes it
        ([], False),
    ],
)
async def test_0002_marks_complete_a_database_some_load_finished(
    unmigrated: AsyncEngine, statuses: list[str], complete: bool
) -> None:
    async with unmigrated.begin() as conn:
        await conn.run_sync(_upgrade, "0001")
        for status in statuses:
            await conn.execute(
                text("INSERT INTO load_runs (source, trigger, status) VALUES ('x', 'cli', :s)"),
                {"s": status},
            )
    async with unmigrated.begin() as conn:
        await conn.run_sync(_upgrade, "0002")
        assert await conn.scalar(text("SELECT complete FROM data_version")) is complete


async def test_0007_summarises_the_stations_a_database_already_holds(
    unmigrated: AsyncEngine,
) -> None:
    async with unmigrated.begin() as conn:
        await conn.run_sync(_upgrade, "0005")
        await conn.execute(
            text(
                "INSERT INTO observations VALUES ('USC00110072', '1985-01-01', 10, 5, NULL), "
                "('USC00110072', '1986-03-02', NULL, 1, 0)"
            )
        )
        await refresh_stats(conn)
    async with unmigrated.begin() as conn:
        await conn.run_sync(_upgrade, "0007")
        summaries = (await conn.execute(text("SELECT * FROM station_summaries"))).all()
        served = await conn.scalars(text("SELECT revision FROM schema_compatibility"))
        assert set(served) == {"0004", "0005", "0006", "0007"}  # expand-only
    assert summaries == [("USC00110072", dt.date(1985, 1, 1), dt.date(1986, 3, 2), 2, 1, 2, 1)]


async def test_0008_stores_the_shares_of_the_summaries_already_there(
    unmigrated: AsyncEngine,
) -> None:
    shares = "SELECT station_id, max_temp_share, min_temp_share, precipitation_share"
    async with unmigrated.begin() as conn:
        await conn.run_sync(_upgrade, "0007")
        await conn.execute(
            text(
                "INSERT INTO station_summaries VALUES "
                "('USC00110072', '1985-01-01', '1985-01-03', 3, 1, 2, 0), "
                "('USC00257715', '1985-01-01', '1985-01-01', 0, 0, 0, 0)"
            )
        )
    async with unmigrated.begin() as conn:
        await conn.run_sync(_upgrade, "0008")
        stored = (await conn.execute(text(f"{shares} FROM station_summaries"))).all()
        served = await conn.scalars(text("SELECT revision FROM schema_compatibility"))
        assert set(served) == {"0004", "0005", "0006", "0007", "0008"}  # expand-only
        # Any writer of the counts, an older image's loads included, keeps them current.
        await conn.execute(
            text("UPDATE station_summaries SET days = 4, max_temp_days = 4, min_temp_days = 3")
        )
        updated = (await conn.execute(text(f"{shares} FROM station_summaries"))).all()
    assert sorted(stored) == [
        ("USC00110072", 0.3333, 0.6667, 0.0),
        ("USC00257715", None, None, None),  # no day to stand on
    ]
    assert sorted(updated) == [
        ("USC00110072", 1.0, 0.75, 0.0),
        ("USC00257715", 1.0, 0.75, 0.0),
    ]
