"""Ingestion against a real database: idempotency, corrections, bad files, sources, stats."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SHARED_DATA, settings_for
from tests.sample import STATIONS, Day, pack_archive, read_days, write_sample, yearly
from weather_api.ingest.loader import Loader, LoadSummary
from weather_api.ingest.sources import SourceLimits


async def load(engine: AsyncEngine, *sources: object) -> LoadSummary:
    settings = settings_for("postgresql://unused/db")
    loader = Loader(engine, SourceLimits.from_settings(settings, restricted=False))
    return await loader.run([str(s) for s in sources], trigger="cli")


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql))


async def stats_rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT station_id, year, round(avg_max_temp_c, 2)::float8 AS avg_max_temp_c, "
                "round(avg_min_temp_c, 2)::float8 AS avg_min_temp_c, "
                "round(total_precipitation_cm, 2)::float8 AS total_precipitation_cm, "
                "max_temp_days, min_temp_days, precipitation_days "
                "FROM yearly_stats ORDER BY station_id, year"
            )
        )
        return [dict(row) for row in result.mappings()]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "data")


async def test_load_stores_every_day_station_and_yield(engine: AsyncEngine, sample: Path) -> None:
    summary = await load(engine, sample)
    days = read_days(sample)
    assert summary.status == "succeeded"
    assert (summary.files_total, summary.files_loaded, summary.files_failed) == (4, 4, 0)
    assert summary.records_read == summary.inserted == len(days)
    assert await scalar(engine, "SELECT count(*) FROM observations") == len(days)
    async with engine.connect() as conn:
        stations = (await conn.execute(text("SELECT station_id, state FROM stations"))).all()
        yields = (await conn.execute(text("SELECT * FROM corn_yields ORDER BY year"))).all()
    assert sorted(stations) == [(STATIONS[0], "IL"), (STATIONS[1], "NE"), (STATIONS[2], "OH")]
    assert yields == [(1985, 225447), (1986, 208944)]
    run = await scalar(engine, "SELECT status FROM load_runs")
    assert run == "succeeded"


async def test_yearly_stats_match_the_files(engine: AsyncEngine, sample: Path) -> None:
    await load(engine, sample)
    days = read_days(sample)
    expected = [yearly(days, s, y) for s in STATIONS for y in (1985, 1986)]
    assert await stats_rows(engine) == expected
    # Station 3 has no precipitation in 1986: nothing to sum, so NULL, not 0.
    assert expected[-1]["total_precipitation_cm"] is None
    assert expected[-1]["precipitation_days"] == 0


async def test_units_are_converted_exactly(engine: AsyncEngine, tmp_path: Path) -> None:
    (tmp_path / "USC00110072.txt").write_text(
        "19850101\t  100\t  -15\t   15\n"
        "19850102\t  201\t-9999\t   25\n"
        "19850103\t-9999\t-9999\t-9999\n"
    )
    await load(engine, tmp_path / "USC00110072.txt")
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM yearly_stats"))).mappings().one()
    assert row["avg_max_temp_c"] == Decimal("15.05")
    assert row["avg_min_temp_c"] == Decimal("-1.5")
    assert row["total_precipitation_cm"] == Decimal("0.4")
    assert (row["max_temp_days"], row["min_temp_days"], row["precipitation_days"]) == (2, 1, 2)
    assert row["days"] == 3


async def test_rerun_adds_nothing_and_skips_unread(engine: AsyncEngine, sample: Path) -> None:
    first = await load(engine, sample)
    version = await scalar(engine, "SELECT version FROM data_version")
    second = await load(engine, sample)
    assert second.status == "succeeded"
    assert (second.files_skipped, second.files_loaded, second.records_read) == (4, 0, 0)
    assert (second.inserted, second.updated) == (0, 0)
    assert await scalar(engine, "SELECT count(*) FROM observations") == first.inserted
    assert await scalar(engine, "SELECT version FROM data_version") == version


async def test_same_rows_in_a_new_file_count_as_unchanged(
    engine: AsyncEngine, sample: Path
) -> None:
    await load(engine, sample)
    path = sample / "wx_data" / f"{STATIONS[0]}.txt"
    path.write_text(path.read_text().replace("\n", "\r\n"))  # new checksum, same rows
    summary = await load(engine, path)
    lines = len(path.read_text().splitlines())
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, lines)


async def test_corrected_file_updates_only_changed_rows(engine: AsyncEngine, sample: Path) -> None:
    await load(engine, sample)
    version = await scalar(engine, "SELECT version FROM data_version")
    path = sample / "wx_data" / f"{STATIONS[1]}.txt"
    lines = path.read_text().splitlines()
    for i in (0, 40, 400):
        date, _, tmin, prcp = lines[i].split("\t")
        lines[i] = "\t".join([date, "  321", tmin, prcp])
    lines.append("19870101\t   10\t    5\t    0")
    path.write_text("\n".join(lines) + "\n")
    summary = await load(engine, sample)
    assert (summary.files_loaded, summary.files_skipped) == (1, 3)
    assert (summary.inserted, summary.updated) == (1, 3)
    assert summary.unchanged == len(lines) - 4
    assert (
        await scalar(
            engine,
            "SELECT max_temp FROM observations WHERE date = '1985-02-10' "
            f"AND station_id = '{STATIONS[1]}'",
        )
        == 321
    )
    days = read_days(sample)
    stats = await stats_rows(engine)
    assert [r for r in stats if r["station_id"] == STATIONS[1]] == [
        yearly(days, STATIONS[1], y) for y in (1985, 1986, 1987)
    ]
    assert await scalar(engine, "SELECT version FROM data_version") == version + 1


def summaries(days: list[Day]) -> list[tuple[object, ...]]:
    """Each station's period and days with each value, counted in Python."""
    rows = []
    for station_id in sorted({d.station_id for d in days}):
        mine = [d for d in days if d.station_id == station_id]
        values = ("max_temp", "min_temp", "precipitation")
        counts = (sum(getattr(d, value) is not None for d in mine) for value in values)
        rows.append((station_id, mine[0].date, mine[-1].date, len(mine), *counts))
    return rows


async def summary_rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT station_id, first_date, last_date, days, max_temp_days, "
                "min_temp_days, precipitation_days FROM station_summaries ORDER BY station_id"
            )
        )
        return [tuple(row) for row in result]


async def test_station_summaries_follow_the_files_and_their_corrections(
    engine: AsyncEngine, sample: Path
) -> None:
    await load(engine, sample)
    assert await summary_rows(engine) == summaries(read_days(sample))
    path = sample / "wx_data" / f"{STATIONS[2]}.txt"
    lines = path.read_text().splitlines()
    date, _, tmin, prcp = lines[16].split("\t")  # the 17th: no max temperature
    lines[16] = "\t".join([date, "  123", tmin, prcp])
    lines.append("19870101\t   10\t    5\t-9999")
    path.write_text("\n".join(lines) + "\n")
    await load(engine, sample)
    expected = summaries(read_days(sample))
    assert await summary_rows(engine) == expected
    assert expected[2][2] == dt.date(1987, 1, 1)


async def test_a_load_repairs_the_summaries_a_previous_release_left(
    engine: AsyncEngine, sample: Path
) -> None:
    await load(engine, sample)
    async with engine.begin() as conn:
        # What loads by a release that does not keep the summaries leave behind.
        await conn.execute(
            text(f"DELETE FROM station_summaries WHERE station_id = '{STATIONS[0]}'")
        )
        await conn.execute(
            text(f"UPDATE station_summaries SET days = 1 WHERE station_id = '{STATIONS[1]}'")
        )
    version = await scalar(engine, "SELECT version FROM data_version")
    summary = await load(engine, sample)
    assert summary.files_skipped == summary.files_total
    assert await summary_rows(engine) == summaries(read_days(sample))
    assert await scalar(engine, "SELECT version FROM data_version") == version + 1
    await load(engine, sample)  # nothing left to repair: no new version
    assert await scalar(engine, "SELECT version FROM data_version") == version + 1


async def test_one_station_twice_in_a_load_is_merged_in_order(
    engine: AsyncEngine, sample: Path, tmp_path: Path
) -> None:
    # Files parsed by the time the one before them is stored share a batch, one COPY: a
    # second copy of a station must instead be merged into the first, as a correction is.
    original = sample / "wx_data" / f"{STATIONS[0]}.txt"
    lines = original.read_text().splitlines()
    date, _, tmin, prcp = lines[0].split("\t")
    lines[0] = "\t".join([date, "  321", tmin, prcp])
    corrected = tmp_path / "corrected" / original.name
    corrected.parent.mkdir()
    corrected.write_text("\n".join(lines) + "\n")
    first = sample / "wx_data" / f"{STATIONS[1]}.txt"
    summary = await load(engine, first, original, corrected)
    assert summary.status == "succeeded", summary.errors
    assert summary.files_loaded == 3
    rows = len(first.read_text().splitlines()) + len(lines)
    assert (summary.inserted, summary.updated) == (rows, 1)
    original.write_text(corrected.read_text())
    days = read_days(sample)
    stats = await stats_rows(engine)
    assert [r for r in stats if r["station_id"] == STATIONS[0]] == [
        yearly(days, STATIONS[0], y) for y in (1985, 1986)
    ]


async def test_bad_file_is_rejected_whole_and_others_load(
    engine: AsyncEngine, sample: Path
) -> None:
    await load(engine, sample)
    before = await stats_rows(engine)
    path = sample / "wx_data" / f"{STATIONS[0]}.txt"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("19850101", "19850102")  # a changed row the bad file carries
    lines[9] = "19850110\t 12\toops\t 0"
    path.write_text("\n".join(lines) + "\n")
    (sample / "wx_data" / "README.txt").write_text("not data\n")
    other = sample / "wx_data" / "USC00130200.txt"
    other.write_text("19900101\t 10\t 0\t 0\n")

    summary = await load(engine, sample)

    assert summary.status == "failed"
    assert summary.files_failed == 2
    assert summary.files_loaded == 1  # the new station
    by_file = {e["file"]: e for e in summary.errors}
    assert by_file[f"wx_data/{STATIONS[0]}.txt"]["line"] == 10
    assert "min temperature 'oops'" in by_file[f"wx_data/{STATIONS[0]}.txt"]["message"]
    assert "not a station id" in by_file["wx_data/README.txt"]["message"]
    after = await stats_rows(engine)
    assert [r for r in after if r["station_id"] != "USC00130200"] == before
    assert (
        await scalar(engine, "SELECT count(*) FROM observations WHERE station_id = 'USC00130200'")
        == 1
    )


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
async def test_archives_load_like_directories(
    engine: AsyncEngine, sample: Path, tmp_path: Path, suffix: str
) -> None:
    archive = pack_archive(sample, tmp_path / f"data{suffix}")
    summary = await load(engine, archive)
    assert (summary.status, summary.files_loaded) == ("succeeded", 4)
    assert summary.inserted == len(read_days(sample))


async def test_url_source_is_streamed_and_loaded(
    engine: AsyncEngine, sample: Path, http_server: tuple[str, Path]
) -> None:
    base, root = http_server
    pack_archive(sample, root / "data.tar.gz")
    summary = await load(engine, f"{base}/data.tar.gz")
    assert (summary.status, summary.files_loaded) == ("succeeded", 4)
    # Credentials and a query (a token) reach the server, but are stored nowhere.
    secret = base.replace("http://", "http://reader:s3cret@")
    missing = await load(engine, f"{secret}/nothing.tar.gz?token=t0ken")
    assert missing.status == "failed"
    assert "HTTP 404" in (missing.message or "")
    async with engine.connect() as conn:
        runs = (await conn.execute(text("SELECT source, message FROM load_runs ORDER BY id"))).all()
    assert not {"s3cret", "t0ken"} & set(re.findall(r"\w+", str(runs)))
    assert runs[-1].source == base.replace("http://", "http://***@") + "/nothing.tar.gz?***"


async def test_missing_path_fails_the_run_with_a_message(engine: AsyncEngine) -> None:
    summary = await load(engine, "/nonexistent/wx")
    assert summary.status == "failed"
    assert "no such file or directory" in (summary.message or "")
    assert await scalar(engine, "SELECT status FROM load_runs") == "failed"


async def test_cli_load_json_summary_and_exit_code(db_url: str, sample: Path) -> None:
    shutil.copy(sample / "wx_data" / f"{STATIONS[0]}.txt", sample / "USC00339312.txt")
    (sample / "USC00339312.txt").write_text("19850101\t1\t2\n")
    env = os.environ | {"WEATHER_DATABASE_URL": db_url, "WEATHER_LOG_FORMAT": "text"}
    cmd = [sys.executable, "-m", "weather_api", "load", "--json", str(sample)]
    done = await asyncio.to_thread(
        subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    assert summary["files_loaded"] == 4
    assert summary["files_failed"] == 1
    assert summary["errors"] == [
        {
            "file": "USC00339312.txt",
            "line": 1,
            "message": "expected 4 tab-separated fields, found 3: '19850101\\t1\\t2'",
        }
    ]
    for key in ("started_at", "finished_at", "records_read", "inserted", "updated", "unchanged"):
        assert key in summary
    assert "load 1 started at" in done.stderr
    assert "load 1 failed at" in done.stderr


@pytest.mark.full_data
@pytest.mark.skipif(not (SHARED_DATA / "wx_data").is_dir(), reason=f"no dataset at {SHARED_DATA}")
async def test_full_dataset(engine: AsyncEngine) -> None:
    summary = await load(engine, SHARED_DATA)
    assert summary.status == "succeeded", summary.errors
    assert summary.inserted == 1_729_957
    assert await scalar(engine, "SELECT count(*) FROM observations") == 1_729_957
    assert await scalar(engine, "SELECT count(*) FROM stations") == 167
    assert await scalar(engine, "SELECT count(*) FROM yearly_stats") == 4_820
    nulls = (
        "SELECT count(*) FROM yearly_stats WHERE avg_max_temp_c IS NULL "
        "OR avg_min_temp_c IS NULL OR total_precipitation_cm IS NULL"
    )
    assert await scalar(engine, nulls) == 28
    station = "USC00110072"
    days = [d for d in read_days(SHARED_DATA) if d.station_id == station]
    rows = [r for r in await stats_rows(engine) if r["station_id"] == station]
    assert rows[5] == yearly(days, station, 1990)
