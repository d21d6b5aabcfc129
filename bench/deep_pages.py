"""The deep-page index and the stations list at 100x the stations, without 100x the
observations.

The index behind a page at any offset is built, per data version and filter, from
``yearly_stats`` alone, and the stations list reads ``stations`` and
``station_summaries``. This loads the dataset, measures a page at the last offset and the
first page of stations (16 concurrent requests on cold caches, then warm), adds copies of
one station's rows in those three tables for 16,533 more stations (16,700 in all, 30
years each, as ``bench/scale.py --hundred`` has) and measures again. The app is called
in-process through httpx (response cache off); CPU is this process's, so the database's
is not counted.

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
SOURCE = "USC00110072"
STATIONS = "/api/stations?page_size=100"
CONCURRENT, WARM = 16, 200


async def sizes(url: str, *, add: bool) -> tuple[int, int]:
    """The stations listed and the rows the yearly stats count, after adding, if ``add``,
    copies of one station's yearly stats, metadata and summary under new ids."""
    engine = create_engine(url, Settings(database_url=SecretStr(url)), pool_size=1)
    try:
        async with engine.begin() as conn:
            for table in ("stations", "station_summaries", "yearly_stats") if add else ():
                columns = await conn.scalar(
                    text(
                        "SELECT string_agg(quote_ident(column_name), ', ') "
                        "FROM information_schema.columns "
                        "WHERE table_name = :table AND column_name <> 'station_id'"
                    ),
                    {"table": table},
                )
                await conn.execute(
                    text(
                        f"INSERT INTO {table} (station_id, {columns}) "
                        f"SELECT 'USC9' || lpad(CAST(n AS text), 7, '0'), {columns} "
                        f"FROM generate_series(1, :extra) AS n, {table} "
                        "WHERE station_id = :source"
                    ),
                    {"extra": EXTRA_STATIONS, "source": SOURCE},
                )
                await conn.execute(text(f"ANALYZE {table}"))
            stations = await conn.scalar(text("SELECT count(*) FROM station_summaries"))
            rows = await conn.scalar(text("SELECT sum(days) FROM yearly_stats"))
            return int(stations or 0), int(rows or 0)
    finally:
        await engine.dispose()


async def measure(url: str, stations: int, rows: int, label: str) -> None:
    """A page at the last offset, then the first page of stations: 16 concurrent requests
    on cold caches, then warm ones, in one app."""
    app = in_process_app(url)
    pages = {
        f"Page at the last offset, {rows:,} rows": (
            f"/api/weather?page={rows // 100}&page_size=100",
            rows,
        ),
        f"Stations list (100), {stations:,} stations": (STATIONS, stations),
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        for request, (path, total) in pages.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            start = time.process_time()
            answers = await asyncio.gather(*(client.get(path) for _ in range(CONCURRENT)))
            cold_ms = (time.process_time() - start) * 1000
            if {a.status_code for a in answers} != {200} or answers[0].json()["total"] != total:
                raise SystemExit(f"{path}: {answers[0].status_code} {answers[0].text[:200]}")
            start = time.process_time()
            for _ in range(WARM):
                (await client.get(path)).raise_for_status()
            warm_ms = (time.process_time() - start) * 1000 / WARM
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"| {label} | {request} | {cold_ms:.0f} ms | {warm_ms:.2f} ms | "
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
            "| Stations | Request | 16 concurrent cold requests, CPU | Warm, CPU/request "
            "| Peak RSS |\n|---|---|---:|---:|---|"
        )
        asyncio.run(measure(url, *asyncio.run(sizes(url, add=False)), "1x"))
        asyncio.run(measure(url, *asyncio.run(sizes(url, add=True)), "100x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
