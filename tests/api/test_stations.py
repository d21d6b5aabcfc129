"""GET /api/stations and /api/stations/{station_id}."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.sample import FIRST, LAST, STATIONS, read_days
from weather_api.db.paging import PageRequest
from weather_api.db.queries import Reader, StationRepository
from weather_api.ingest.sources import PACKAGED_STATION_LIST


def metadata(station_id: str) -> dict[str, Any]:
    """A station's fields from the packaged ghcnd-stations.txt, read by its columns."""
    for line in PACKAGED_STATION_LIST.read_text().splitlines():
        if line.startswith(station_id):
            return {
                "name": line[41:71].strip(),
                "latitude": float(line[12:20]),
                "longitude": float(line[21:30]),
                "elevation_m": float(line[31:37]),
                "gsn": line[72:75] == "GSN",
                "hcn_crn": line[76:79].strip() or None,
                "wmo_id": line[80:85].strip() or None,
            }
    raise AssertionError(f"{station_id} is not in {PACKAGED_STATION_LIST}")


@pytest.fixture(scope="module")
def expected(sample_dir: Path) -> list[dict[str, Any]]:
    days = read_days(sample_dir)
    states = {STATIONS[0]: "IL", STATIONS[1]: "NE", STATIONS[2]: "OH"}
    items = []
    for station_id in STATIONS:
        mine = [d for d in days if d.station_id == station_id]

        def share(attr: str, mine: list[Any] = mine) -> float:
            return round(sum(getattr(d, attr) is not None for d in mine) / len(mine), 4)

        items.append(
            {
                "station_id": station_id,
                **metadata(station_id),
                "state": states[station_id],
                "first_date": FIRST.isoformat(),
                "last_date": LAST.isoformat(),
                "days": len(mine),
                "max_temp_share": share("max_temp"),
                "min_temp_share": share("min_temp"),
                "precipitation_share": share("precipitation"),
            }
        )
    return items


async def test_list(client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]) -> None:
    response = await client.get(app.url_path_for("list_stations"))
    assert response.status_code == 200
    assert response.json()["items"] == expected
    by_state = await client.get(app.url_path_for("list_stations"), params={"state": ["OH", "IL"]})
    assert [i["station_id"] for i in by_state.json()["items"]] == [STATIONS[0], STATIONS[2]]


async def test_unknown_state_lists_the_allowed_ones(client: AsyncClient, app: FastAPI) -> None:
    response = await client.get(app.url_path_for("list_stations"), params={"state": "TX"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["param"] == "state"
    for state in ("IA", "IL", "IN", "NE", "OH"):
        assert state in error["message"]


async def test_one_station(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    url = app.url_path_for("get_station", station_id=STATIONS[1])
    response = await client.get(url)
    assert response.status_code == 200
    assert response.json() == expected[1]
    assert response.headers["etag"]


async def test_unknown_and_malformed_ids(client: AsyncClient, app: FastAPI) -> None:
    missing = await client.get(app.url_path_for("get_station", station_id="USC00999999"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "USC00999999" in missing.json()["detail"]
    malformed = await client.get(app.url_path_for("get_station", station_id="nope"))
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["param"] == "station_id"


async def test_a_total_is_counted_once_per_data_version(
    session: AsyncSession, reader: Reader
) -> None:
    """A list's total is kept per data version: a page read with the kept total has the
    rows of one counted in its query; a station added without a new version (which no
    load does) leaves it, and a new version counts again."""
    repo = StationRepository(reader)
    first, second = PageRequest(1, 2, None), PageRequest(2, 2, None)
    version = ("a version of this test", object())
    rows, total = await repo.page({}, first, version)
    assert total == len(STATIONS)
    assert await repo.page({}, second, version) == await repo.page({}, second)
    await session.execute(text("INSERT INTO stations (station_id) VALUES ('USC00999999')"))
    await session.execute(
        text(
            "INSERT INTO station_summaries (station_id, first_date, last_date, days, "
            "max_temp_days, min_temp_days, precipitation_days) "
            "VALUES ('USC00999999', '2000-01-01', '2000-01-01', 1, 1, 1, 1)"
        )
    )
    assert await repo.page({}, first, version) == (rows, total)
    assert (await repo.page({}, first))[1] == total + 1
    assert (await repo.page({}, first, ("a new version", object())))[1] == total + 1
