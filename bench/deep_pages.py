"""The deep-page index at 100x the station-years, without 100x the observations.

The index behind a page at any offset is built, per data version and filter, from
``yearly_stats`` alone. This loads the dataset, measures a page at the last offset (16
concurrent requests on a cold index, then warm), adds yearly stats for 16,533 more
stations (16,700 in all, 30 years each, as ``bench/scale.py --hundred`` has) and measures
again. The app is called in-process through httpx (response cache off); CPU is this
process's, so the database's is not counted.

    uv run python -m bench.deep_pages [--data DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import text

from bench.common import in_process_app
from bench.load import DATA, LOADER
from weather_api.db.engine import create_engine, migrate, temporary_embedded
from weather_api.settings import Settings

EXTRA_STATIONS = 16_533
CONCURRENT, WARM = 16, 200


async def station_years(url: str, *, add: bool) -> int:
    """The rows the yearly stats count, after adding, if ``add``, copies of one station's
    under new ids."""
    engine = create_engine(url, Settings(database_url=SecretStr(url)))
    columns = (
        "year, avg_max_temp_c, avg_min_temp_c, total_precipitation_cm, max_temp_days, "
        "min_temp_days, precipitation_days, days"
    )
    try:
        async with engine.begin() as conn:
            if add:
                await conn.execute(
                    text(
                        f"INSERT INTO yearly_stats (station_id, {columns}) "
                        f"SELECT 'USC9' || lpad(CAST(n AS text), 7, '0'), {columns} "
                        "FROM generate_series(1, :extra) AS n, yearly_stats "
                        "WHERE station_id = 'USC00110072'"
                    ),
                    {"extra": EXTRA_STATIONS},
                )
                await conn.execute(text("ANALYZE yearly_stats"))
            return int(await conn.scalar(text("SELECT sum(days) FROM yearly_stats")) or 0)
    finally:
        await engine.dispose()


async def measure(url: str, rows: int, label: str) -> None:
    app = in_process_app(url)
    deep = f"/api/weather?page={rows // 100}&page_size=100"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.process_time()
        answers = await asyncio.gather(*(client.get(deep) for _ in range(CONCURRENT)))
        cold_ms = (time.process_time() - start) * 1000
        if {a.status_code for a in answers} != {200} or answers[0].json()["total"] != rows:
            raise SystemExit(f"{deep}: {answers[0].status_code} {answers[0].text[:200]}")
        start = time.process_time()
        for _ in range(WARM):
            (await client.get(deep)).raise_for_status()
        warm_ms = (time.process_time() - start) * 1000 / WARM
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| {label} | {rows:,} | {cold_ms:.0f} ms | {warm_ms:.2f} ms | "
        f"{before:.0f} → {after:.0f} MB |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deep_pages", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    with temporary_embedded("bench-deep-") as url:
        migrate(url)
        env = os.environ | {"WEATHER_DATABASE_URL": url}
        subprocess.run([str(LOADER), "load", "--json", str(args.data)], env=env, check=True)
        print(
            "| Station-years | Rows they count | 16 concurrent cold requests, CPU | "
            "Warm, CPU/request | Peak RSS |\n|---|---:|---:|---:|---|"
        )
        asyncio.run(measure(url, asyncio.run(station_years(url, add=False)), "1x"))
        asyncio.run(measure(url, asyncio.run(station_years(url, add=True)), "100x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
