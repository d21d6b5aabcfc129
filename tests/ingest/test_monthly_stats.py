"""monthly_stats: committed with each load, kept right by corrections, and filled from the
observations of a database migrated from before it existed."""

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
from weather_api.db.engine import alembic_config, create_engine
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


def expected(root: Path) -> dict[tuple[str, dt.date], dict[str, Any]]:
    """Every station-month with a row in the files, from the raw days."""
    out = {}
    for station_id, days in read_stations(root).items():
        for first in sorted({d.replace(day=1) for d in days}):
            last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
            s = summary(days, first, last)
            in_month = [v for d, v in days.items() if first <= d <= last]
            sums = [sum(v[i] or 0 for v in in_month if v[i] is not None) for i in range(3)]
            out[(station_id, first)] = {
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
    return out


def assert_matches(
    stored: dict[tuple[str, dt.date], dict[str, Any]],
    wanted: dict[tuple[str, dt.date], dict[str, Any]],
) -> None:
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
    path = root / "wx_data" / f"{STATIONS[1]}.txt"
    lines = path.read_text().splitlines()
    for i in (0, 40, 400):  # a hot day, a missing minimum, no precipitation
        date, *_ = lines[i].split("\t")
        lines[i] = "\t".join([date, "  351", "-9999", "    0"])
    lines.append("19870101\t   10\t    5\t    0")  # a new month
    path.write_text("\n".join(lines) + "\n")
    await load(engine, root)
    stored = await monthly(engine)
    assert stored[(STATIONS[1], dt.date(1987, 1, 1))]["max_temp_days"] == 1
    assert_matches(stored, expected(root))


async def test_the_migration_fills_monthly_stats_from_stored_observations(
    server_url: str, tmp_path: Path
) -> None:
    url = await create_database(server_url)
    engine = create_engine(url, settings_for(url), pool_size=1)
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
