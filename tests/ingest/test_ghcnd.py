"""NOAA's station list, ghcnd-stations.txt: validation line by line, the packaged copy, and
loading it (upsert, checksum skip, counts, a whole NOAA-sized list)."""

from __future__ import annotations

import hashlib
import re
import time
import tracemalloc
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.ingest.test_loader import load, scalar
from tests.sample import STATIONS, write_sample
from weather_api.ingest.parsing import DataFileError, Prepared, prepare
from weather_api.ingest.sources import PACKAGED_STATION_LIST, classify, default_sources

SHARED_GHCND = Path(__file__).resolve().parents[3] / "shared" / "ghcnd"


def noaa_line(
    station: str,
    lat: float,
    lon: float,
    elevation: float,
    state: str,
    name: str,
    gsn: str,
    network: str,
    wmo: str,
) -> str:
    """A line as the GHCN-Daily readme lays it out (Fortran A11,F9.4,F10.4,F7.1,...)."""
    return (
        f"{station:11} {lat:8.4f} {lon:9.4f} {elevation:6.1f} {state:2} {name:30} "
        f"{gsn:3} {network:3} {wmo:5}"
    )


# Two lines as NOAA writes them: 85 columns, blank optional fields.
ALEDO = noaa_line("USC00110072", 41.2069, -90.7419, 223.7, "IL", "ALEDO", "", "HCN", "")
ABROAD = noaa_line(
    "ACW00011604", 17.1167, -61.7833, 10.1, "", "ST JOHNS COOLIDGE FLD", "GSN", "", "78862"
)


def write(tmp_path: Path, *lines: str, name: str = "ghcnd-stations.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def parse(path: Path) -> Prepared:
    result = prepare(path, path.name, "ghcnd", None)
    assert isinstance(result, Prepared)
    return result


def rows(prepared: Prepared) -> list[list[str]]:
    return [line.split("\t") for line in prepared.payload.decode().splitlines()]


def test_lines_become_rows_with_nulls_for_blank_fields(tmp_path: Path) -> None:
    prepared = parse(write(tmp_path, ALEDO, ABROAD))
    assert (prepared.kind, prepared.key, prepared.records) == ("ghcnd", "ghcnd-stations", 2)
    aledo, abroad = rows(prepared)
    assert aledo == [
        "USC00110072",
        "IL",
        "ALEDO",
        "41.2069",
        "-90.7419",
        "223.7",
        "f",
        "HCN",
        r"\N",
    ]
    assert abroad[:4] == ["ACW00011604", r"\N", "ST JOHNS COOLIDGE FLD", "17.1167"]
    assert abroad[4:] == ["-61.7833", "10.1", "t", r"\N", "78862"]


def test_missing_elevation_trimmed_blanks_and_crlf_are_accepted(tmp_path: Path) -> None:
    missing = ALEDO[:31] + "-999.9" + ALEDO[37:]
    path = tmp_path / "ghcnd-stations.txt"
    path.write_bytes(f"{missing}\r\n{ABROAD.rstrip()}".encode())
    assert [row[5] for row in rows(parse(path))] == [r"\N", "10.1"]


def test_a_backslash_in_a_name_is_escaped_for_copy(tmp_path: Path) -> None:
    line = ALEDO[:41] + "A\\B".ljust(30) + ALEDO[71:]
    assert rows(parse(write(tmp_path, line)))[0][2] == "A\\\\B"


def _at(line: str, column: int, value: str) -> str:
    """``line`` with ``value`` written from 1-based ``column`` on."""
    return line[: column - 1] + value + line[column - 1 + len(value) :]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (ALEDO + " x", "line has 87 characters, expected at most 85"),
        (_at(ALEDO, 1, "usc00110072"), "id 'usc00110072' (columns 1-11) is not valid"),
        (_at(ALEDO, 13, " 91.0000"), "latitude '91.0000' (columns 13-20) is not valid: "),
        (_at(ALEDO, 13, "  41,206"), "latitude '41,206'"),
        (_at(ALEDO, 22, " 180.0001"), "longitude '180.0001' (columns 22-30) is not valid"),
        (_at(ALEDO, 32, "  high"), "elevation 'high' (columns 32-37)"),
        (_at(ALEDO, 39, "Il"), "state 'Il' (columns 39-40) is not valid: expected a 2-letter"),
        (_at(ALEDO, 42, " " * 30), "name '' (columns 42-71) is not valid: expected printable"),
        (_at(ALEDO, 42, "AL\tDO"), "name 'AL\\tDO' (columns 42-71)"),
        (_at(ALEDO, 73, "GSX"), "GSN flag 'GSX' (columns 73-75)"),
        (_at(ALEDO, 77, "XYZ"), "HCN/CRN flag 'XYZ' (columns 77-79) is not valid: expected HCN"),
        (_at(ALEDO, 81, "7886"), "WMO id '7886' (columns 81-85) is not valid: expected 5 digits"),
        (_at(ALEDO, 12, "X"), "column 12 must be blank"),
        (ALEDO[:34], "elevation '22' (columns 32-37)"),
    ],
)
def test_a_bad_line_names_file_line_and_column(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path, ABROAD, bad, ALEDO.replace("110072", "110073"))
    with pytest.raises(DataFileError) as caught:
        prepare(path, "noaa/ghcnd-stations.txt", "ghcnd", None)
    assert (caught.value.file, caught.value.line) == ("noaa/ghcnd-stations.txt", 2)
    assert message in caught.value.message


def test_a_station_listed_twice_is_refused_at_its_second_line(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r":3: duplicate station USC00110072"):
        parse(write(tmp_path, ALEDO, ABROAD, ALEDO))


def test_the_file_is_recognised_by_its_exact_name() -> None:
    assert classify(PurePosixPath("noaa/ghcnd-stations.txt")) == "ghcnd"
    assert classify(PurePosixPath("wx_data/ghcnd-stations.txt")) == "ghcnd"
    assert classify(PurePosixPath("ghcnd-inventory.txt")) is None


def test_the_package_ships_the_datasets_station_list_with_its_provenance() -> None:
    readme = (PACKAGED_STATION_LIST.parent / "README.md").read_text()
    (stated,) = re.findall(r"SHA-256:\s*`([0-9a-f]{64})`", readme)
    assert hashlib.sha256(PACKAGED_STATION_LIST.read_bytes()).hexdigest() == stated
    assert parse(PACKAGED_STATION_LIST).records == 167
    assert default_sources("somewhere") == ["somewhere", str(PACKAGED_STATION_LIST)]
    if SHARED_GHCND.is_dir():
        shared = (SHARED_GHCND / "ghcnd-stations.txt").read_bytes()
        assert PACKAGED_STATION_LIST.read_bytes() == shared


def synthetic(count: int) -> str:
    """``count`` distinct stations in NOAA's layout, spread over the globe."""
    lines = []
    for i in range(count):
        lat, lon = (i * 7919 % 179_999) / 1000 - 89.999, (i * 104_729 % 359_999) / 1000 - 179.999
        line = noaa_line(
            f"ZZ{i:09d}",
            lat,
            lon,
            i % 3000,
            "TX" if i % 2 else "",
            f"SYNTHETIC {i}",
            "GSN" if i % 5 == 0 else "",
            "CRN" if i % 7 == 0 else "",
            f"{i % 100_000:05d}" if i % 3 == 0 else "",
        )
        lines.append(f"{line}\n")
    return "".join(lines)


def test_a_noaa_sized_list_parses_in_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "ghcnd-stations.txt"
    path.write_text(synthetic(130_000))
    assert 10_000_000 < path.stat().st_size < 12_000_000  # NOAA's is about 11 MB
    started = time.perf_counter()
    tracemalloc.start()
    try:
        prepared = parse(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert prepared.records == 130_000
    assert time.perf_counter() - started < 30
    assert peak < 400 * 1024**2, f"peak {peak / 1024**2:.0f} MiB"


async def station_rows(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM stations ORDER BY station_id"))
        return {row["station_id"]: dict(row) for row in result.mappings()}


async def test_load_stores_metadata_counts_it_and_skips_it_unchanged(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sample = write_sample(tmp_path / "data")
    write(sample, ALEDO, ABROAD)
    first = await load(engine, sample)
    assert first.status == "succeeded", first.errors
    assert (first.files_total, first.files_loaded) == (5, 5)
    days = await scalar(engine, "SELECT count(*) FROM observations")
    assert first.records_read == days + 2
    stored = await station_rows(engine)
    assert stored[STATIONS[0]] | {"elevation": float(stored[STATIONS[0]]["elevation"])} == {
        "station_id": STATIONS[0],
        "state": "IL",
        "name": "ALEDO",
        "latitude": 41.2069,
        "longitude": -90.7419,
        "elevation": 223.7,
        "gsn": False,
        "hcn_crn": "HCN",
        "wmo_id": None,
    }
    assert stored["ACW00011604"]["wmo_id"] == "78862"
    assert stored[STATIONS[1]]["name"] is None  # not in this list
    again = await load(engine, sample)
    assert (again.files_skipped, again.files_loaded, again.records_read) == (5, 0, 0)


async def test_a_corrected_list_updates_and_a_bad_one_stores_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(tmp_path, ALEDO)
    await load(engine, path)
    version = await scalar(engine, "SELECT version FROM data_version")
    write(tmp_path, ALEDO.replace("ALEDO ", "ALEDO2"), ABROAD)
    corrected = await load(engine, path)
    assert (corrected.inserted, corrected.updated, corrected.unchanged) == (1, 1, 0)
    assert (await station_rows(engine))[STATIONS[0]]["name"] == "ALEDO2"
    assert await scalar(engine, "SELECT version FROM data_version") == version + 1
    write(tmp_path, ALEDO.replace("ALEDO", "OTHER"), _at(ABROAD, 13, " 99.0000"))
    rejected = await load(engine, path)
    assert rejected.status == "failed"
    assert rejected.errors == [
        {
            "file": "ghcnd-stations.txt",
            "line": 2,
            "message": "latitude '99.0000' (columns 13-20) is not valid: expected decimal "
            "degrees from -90 to 90",
        }
    ]
    assert (await station_rows(engine))[STATIONS[0]]["name"] == "ALEDO2"


async def test_a_noaa_sized_list_loads_in_bounded_time(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "ghcnd-stations.txt"
    path.write_text(synthetic(130_000))
    started = time.perf_counter()
    summary = await load(engine, path)
    assert summary.status == "succeeded", summary.errors
    assert time.perf_counter() - started < 60
    assert summary.inserted == 130_000
    assert await scalar(engine, "SELECT count(*) FROM stations WHERE latitude IS NOT NULL") == (
        130_000
    )
