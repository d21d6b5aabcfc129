"""monthly_stats and season_stats: committed with each load, kept right by corrections, and
filled from the observations of a database migrated from before they existed."""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.climate_reference import read_stations, summary
from tests.conftest import create_database, drop_database, settings_for
from tests.sample import STATIONS, write_sample
from weather_api.db.climate import MONTHLY_REFRESH_SQL
from weather_api.db.climate import default_degree_day_params as default_params
from weather_api.db.engine import alembic_config, create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits

_COLUMNS = (
    "max_temp_days",
    "min_temp_days",
    "precipitation_days",
    "degree_days_days",
    "max_temp_sum",
    "min_temp_sum",
    "precipitation_sum",
    "gdd",
    "edd",
)


async def load(engine: AsyncEngine, root: Path) -> None:
    limits = SourceLimits.from_settings(settings_for("postgresql://unused/db"), restricted=False)
    summary = await Loader(engine, limits).run([str(root)], trigger="cli")
    assert summary.status == "succeeded", summary.errors


async def monthly(engine: AsyncEngine) -> dict[tuple[str, dt.date], dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM monthly_stats"))
        return {(r["station_id"], r["month"]): dict(r) for r in result.mappings()}


async def seasons(engine: AsyncEngine) -> dict[tuple[str, int], dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM season_stats"))
        return {(r["station_id"], r["year"]): dict(r) for r in result.mappings()}


def _row(days: dict[dt.date, Any], first: dt.date, last: dt.date) -> dict[str, Any]:
    """A stored row of the days first to last, from the raw days."""
    s = summary(days, first, last)
    in_period = [v for d, v in days.items() if first <= d <= last]
    sums = [sum(v[i] or 0 for v in in_period if v[i] is not None) for i in range(3)]
    return {
        "max_temp_days": s["max_temp_days"],
        "min_temp_days": s["min_temp_days"],
        "precipitation_days": s["precipitation_days"],
        "degree_days_days": s["degree_days_days"],
        "max_temp_sum": sums[0] if s["max_temp_days"] else None,
        "min_temp_sum": sums[1] if s["min_temp_days"] else None,
        "precipitation_sum": sums[2] if s["precipitation_days"] else None,
        "gdd": s["gdd"],
        "edd": s["edd"],
    }


def expected(root: Path) -> dict[tuple[str, dt.date], dict[str, Any]]:
    """Every station-month with a row in the files, from the raw days."""
    out = {}
    for station_id, days in read_stations(root).items():
        for first in sorted({d.replace(day=1) for d in days}):
            last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
            out[(station_id, first)] = _row(days, first, last)
    return out


def expected_seasons(root: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Every station-year with a row from April to September in the files, its default
    season from the raw days."""
    out = {}
    for station_id, days in read_stations(root).items():
        for year in sorted({d.year for d in days if 4 <= d.month <= 9}):
            out[(station_id, year)] = _row(days, dt.date(year, 4, 1), dt.date(year, 9, 30))
    return out


def assert_matches(stored: dict[Any, dict[str, Any]], wanted: dict[Any, dict[str, Any]]) -> None:
    assert stored.keys() == wanted.keys()
    for key, values in wanted.items():
        for name in _COLUMNS:
            got, want = stored[key][name], values[name]
            if want is None or got is None:
                assert got is want, (key, name)
            else:
                assert abs(float(got) - want) < 1e-6, (key, name, got, want)


async def test_loads_and_corrections_keep_monthly_stats_right(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = write_sample(tmp_path / "data")
    await load(engine, root)
    assert_matches(await monthly(engine), expected(root))
    assert_matches(await seasons(engine), expected_seasons(root))
    path = root / "wx_data" / f"{STATIONS[1]}.txt"
    lines = path.read_text().splitlines()
    for i in (0, 40, 400, 500):  # a hot day, a missing minimum, no precipitation, in season
        date, *_ = lines[i].split("\t")
        lines[i] = "\t".join([date, "  351", "-9999", "    0"])
    # A new month, and a new season
    lines += ["19870101\t   10\t    5\t    0", "19870715\t  340\t  200\t    3"]
    path.write_text("\n".join(lines) + "\n")
    await load(engine, root)
    stored = await monthly(engine)
    assert stored[(STATIONS[1], dt.date(1987, 1, 1))]["max_temp_days"] == 1
    assert_matches(stored, expected(root))
    stored_seasons = await seasons(engine)
    assert stored_seasons[(STATIONS[1], 1987)]["degree_days_days"] == 1
    assert_matches(stored_seasons, expected_seasons(root))


async def test_a_load_writes_monthly_stats_in_key_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A summary of all stations reads monthly_stats in key order: each station's months
    lie together, in order, on the table's pages. (Two writers may fill one page at once,
    so other stations' rows can come between them on it.)"""
    await load(engine, write_sample(tmp_path / "data"))
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT station_id, month, (ctid::text::point)[0] AS page "
                    "FROM monthly_stats ORDER BY ctid"
                )
            )
        ).all()
    assert {row.station_id for row in stored} == set(STATIONS)
    for station in STATIONS:
        rows = [row for row in stored if row.station_id == station]
        assert len(rows) > 12
        assert [row.month for row in rows] == sorted(row.month for row in rows)
        # Two years of months fit on a page: on two at most, across a page's end.
        assert len({row.page for row in rows}) <= 2


async def test_a_writer_that_knows_only_monthly_stats_keeps_season_stats_right(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Code at 0005 (after a rollback) loads by refreshing monthly_stats alone: season_stats
    follows whatever writes the monthly rows."""
    root = write_sample(tmp_path / "data")
    await load(engine, root)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE observations SET max_temp = 351, min_temp = 222 "
                "WHERE station_id = :s AND date BETWEEN '1986-06-10' AND '1986-06-20'"
            ),
            {"s": STATIONS[0]},
        )
        await conn.execute(text(MONTHLY_REFRESH_SQL.format(stations="")), default_params())
    days = read_stations(root)[STATIONS[0]]
    for day in range(10, 21):
        days[dt.date(1986, 6, day)] = (351, 222, days[dt.date(1986, 6, day)][2])
    season = _row(days, dt.date(1986, 4, 1), dt.date(1986, 9, 30))
    assert_matches(
        {1986: (await seasons(engine))[(STATIONS[0], 1986)]},
        {1986: season},
    )
    assert season != expected_seasons(root)[(STATIONS[0], 1986)]


async def test_the_migration_fills_monthly_stats_from_stored_observations(
    server_url: str, tmp_path: Path
) -> None:
    url = await create_database(server_url)
    engine = create_load_engine(url, settings_for(url))
    try:

        def upgrade(to: str) -> Any:
            return lambda sync: command.upgrade(alembic_config(connection=sync), to)

        async with engine.begin() as conn:
            await conn.run_sync(upgrade("0001"))
            await conn.execute(
                text(
                    "INSERT INTO observations VALUES ('USC00110072', '1985-07-01', 340, 200, 5), "
                    "('USC00110072', '1985-07-02', 250, NULL, NULL)"
                )
            )
        async with engine.begin() as conn:
            await conn.run_sync(upgrade("head"))
        rows = await monthly(engine)
        row = rows[("USC00110072", dt.date(1985, 7, 1))]
        assert (row["max_temp_days"], row["min_temp_days"], row["degree_days_days"]) == (2, 1, 1)
        assert (row["max_temp_sum"], float(row["gdd"])) == (
            590,
            15.0,
        )  # (min(34, 30) + 20) / 2 - 10
        assert row["edd"] > 0
    finally:
        await engine.dispose()
        await drop_database(server_url, url)


async def test_the_migration_fills_season_stats_from_stored_monthly_stats(
    server_url: str, tmp_path: Path
) -> None:
    """A database loaded at 0005, then migrated: the backfill matches the raw days. Today's
    loader needs the head's tables, so the database is loaded there and taken back to 0005,
    which drops season_stats and keeps the monthly stats 0005's code would have stored."""
    root = write_sample(tmp_path / "data")
    url = await create_database(server_url)
    engine = create_load_engine(url, settings_for(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.upgrade(alembic_config(connection=sync), "head")
            )
        await load(engine, root)
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.downgrade(alembic_config(connection=sync), "0005")
            )
            assert await conn.scalar(text("SELECT to_regclass('season_stats')")) is None
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.upgrade(alembic_config(connection=sync), "head")
            )
        assert_matches(await seasons(engine), expected_seasons(root))
    finally:
        await engine.dispose()
        await drop_database(server_url, url)
