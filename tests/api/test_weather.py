"""GET /api/weather: filters, paging (offset, deep, cursor), CSV and validation."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import settings_for
from tests.sample import STATIONS, Day, read_days
from weather_api.db.engine import Database, create_read_pool
from weather_api.db.paging import PageRequest
from weather_api.db.queries import WeatherRepository


def item(day: Day) -> dict[str, Any]:
    def unit(tenths: int | None) -> float | None:
        return None if tenths is None else tenths / 10

    return {
        "station_id": day.station_id,
        "date": day.date.isoformat(),
        "max_temp_c": unit(day.max_temp),
        "min_temp_c": unit(day.min_temp),
        "precipitation_mm": unit(day.precipitation),
    }


@pytest.fixture(scope="module")
def expected(sample_dir: Path) -> list[dict[str, Any]]:
    return [item(d) for d in read_days(sample_dir)]


async def get(client: AsyncClient, app: FastAPI, **params: Any) -> dict[str, Any]:
    response = await client.get(app.url_path_for("list_weather"), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_first_page_is_sorted_and_converted(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    body = await get(client, app)
    assert body["items"] == expected[:100]
    assert (body["page"], body["page_size"], body["total"], body["pages"]) == (1, 100, 2190, 22)
    assert body["links"]["prev"] is None
    assert body["links"]["last"].endswith("page=22")


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"station_id": STATIONS[1]}, lambda i: i["station_id"] == STATIONS[1]),
        (
            {"station_id": [STATIONS[0], STATIONS[2]]},
            lambda i: i["station_id"] in (STATIONS[0], STATIONS[2]),
        ),
        ({"date": "1986-02-17"}, lambda i: i["date"] == "1986-02-17"),
        ({"start_date": "1985-12-20"}, lambda i: i["date"] >= "1985-12-20"),
        ({"end_date": "1985-01-10"}, lambda i: i["date"] <= "1985-01-10"),
        (
            {"start_date": "1985-03-01", "end_date": "1986-03-31", "station_id": STATIONS[2]},
            lambda i: "1985-03-01" <= i["date"] <= "1986-03-31" and i["station_id"] == STATIONS[2],
        ),
        ({"start_date": "2001-01-01"}, lambda i: False),
    ],
)
async def test_filters(
    client: AsyncClient,
    app: FastAPI,
    expected: list[dict[str, Any]],
    params: dict[str, Any],
    keep: Any,
) -> None:
    wanted = [i for i in expected if keep(i)]
    body = await get(client, app, page_size=1000, **params)
    assert body["total"] == len(wanted)
    assert body["items"] == wanted[:1000]


@pytest.mark.parametrize(
    ("page", "size", "params"),
    [
        (22, 100, {}),  # the last page: 90 rows
        (23, 100, {}),  # past the end: empty, total still told
        (8, 97, {}),  # crosses from one station-year into the next
        (5, 50, {"start_date": "1985-07-15", "end_date": "1986-02-10"}),  # cut years
        (2, 7, {"date": "1985-06-01"}),
        (3, 333, {"station_id": [STATIONS[2], STATIONS[0]]}),
    ],
)
async def test_offset_pages_match_slices(
    client: AsyncClient,
    app: FastAPI,
    expected: list[dict[str, Any]],
    page: int,
    size: int,
    params: dict[str, Any],
) -> None:
    body = await get(client, app, page=page, page_size=size, **params)
    everything = (await get(client, app, page_size=1000, **params))["total"]
    start, end = params.get("start_date", ""), params.get("end_date", "9999")
    day = params.get("date")
    stations = params.get("station_id") or STATIONS
    wanted = [
        i
        for i in expected
        if i["station_id"] in stations and (i["date"] == day if day else start <= i["date"] <= end)
    ]
    assert body["total"] == everything == len(wanted)
    assert body["items"] == wanted[(page - 1) * size : page * size]
    assert body["links"]["next"] is None or page * size < len(wanted)


async def test_cursor_walk_covers_every_row_once(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    response = await client.get(app.url_path_for("list_weather"), params={"page_size": 128})
    seen: list[dict[str, Any]] = []
    for number in range(1, 30):
        body = response.json()
        assert body["page"] == number
        seen += body["items"]
        assert f'<{body["links"]["self"]}>; rel="self"' in response.headers["link"]
        if body["links"]["next"] is None:
            break
        assert "cursor=" in body["links"]["next"]
        assert 'rel="next"' in response.headers["link"]
        response = await client.get(body["links"]["next"])
        assert response.status_code == 200
    assert seen == expected
    assert body["page"] == body["pages"] == 18


async def test_csv_streams_the_whole_filtered_result(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    url = app.url_path_for("list_weather")
    response = await client.get(url, params={"station_id": STATIONS[0], "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="weather.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    wanted = [i for i in expected if i["station_id"] == STATIONS[0]]
    assert len(rows) == len(wanted) == 730  # every row, not one page
    for row, want in zip(rows, wanted, strict=True):
        assert (row["station_id"], row["date"]) == (want["station_id"], want["date"])
        for key in ("max_temp_c", "min_temp_c", "precipitation_mm"):
            assert (float(row[key]) if row[key] else None) == want[key]  # empty when missing
    by_accept = await client.get(url, headers={"Accept": "text/csv"}, params={"date": "1985-01-02"})
    assert by_accept.text.splitlines()[0] == ",".join(expected[0])
    assert len(by_accept.text.splitlines()) == 4


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"date": "1985-02-30"}, ["date"]),
        ({"start_date": "yesterday"}, ["start_date"]),
        ({"station_id": "usc00110072"}, ["station_id"]),
        ({"station_id": "USC001100'; DROP TABLE observations;--"}, ["station_id"]),
        ({"start_date": "1990-01-02", "end_date": "1990-01-01"}, ["start_date"]),
        ({"date": "1990-01-01", "start_date": "1989-01-01"}, ["date", "start_date"]),
        ({"page_size": 0}, ["page_size"]),
        ({"page_size": 1001}, ["page_size"]),
        ({"page": 0}, ["page"]),
        ({"stationid": STATIONS[0]}, ["stationid"]),
        ({"format": "xml"}, ["format"]),
        ({"cursor": "not-a-cursor"}, ["cursor"]),
        ({"cursor": "WzIsWyJVU0MwMDExMDA3MiIsIjE5ODUtMTMtMDEiXV0"}, ["cursor"]),
        ({"page": 2, "cursor": "WzIsWyJVU0MwMDExMDA3MiIsIjE5ODUtMDEtMDEiXV0"}, ["page"]),
    ],
)
async def test_bad_parameters_are_named(
    client: AsyncClient, app: FastAPI, params: dict[str, Any], bad: list[str]
) -> None:
    response = await client.get(app.url_path_for("list_weather"), params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert body["title"]
    assert [e["param"] for e in body["errors"]] == bad
    assert all(e["message"] for e in body["errors"])
    for name in bad:
        assert name.split(".")[0] in body["detail"]


async def test_concurrent_deep_pages_build_the_buckets_once(
    api_engine: AsyncEngine,
    api_db_url: str,
    expected: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every connection asking for a page of a new data version at once waits for one build
    of its buckets, and gets the same page and total as an uncached repository."""
    builds = 0
    build = WeatherRepository._buckets

    async def counted(self: WeatherRepository, *args: Any) -> Any:
        nonlocal builds
        builds += 1
        return await build(self, *args)

    monkeypatch.setattr(WeatherRepository, "_buckets", counted)
    version = ("a new version", object())
    paging = PageRequest(22, 100, None)

    reads = create_read_pool(api_engine, settings_for(api_db_url))
    database = Database(api_engine, api_engine, reads)

    async def page(data_version: object) -> tuple[list[dict[str, Any]], int]:
        async with database.reader() as reader:
            return await WeatherRepository(reader).page({}, paging, data_version)

    try:
        pages = await asyncio.gather(*(page(version) for _ in range(8)))
        assert builds == 1
        uncached = await page(None)
    finally:
        await reads.close()
    assert builds == 2
    rows = [{**row, "date": row["date"].isoformat()} for row in uncached[0]]
    assert uncached == pages[0]
    assert pages.count(pages[0]) == 8
    assert (rows, uncached[1]) == (expected[2100:], 2190)
