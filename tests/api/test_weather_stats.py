"""GET /api/weather/stats: yearly statistics against figures computed from the files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.sample import STATIONS, read_days, yearly


@pytest.fixture(scope="module")
def expected(sample_dir: Path) -> list[dict[str, Any]]:
    days = read_days(sample_dir)
    return [yearly(days, s, y) for s in STATIONS for y in (1985, 1986)]


async def get(client: AsyncClient, app: FastAPI, **params: Any) -> Any:
    response = await client.get(app.url_path_for("list_weather_stats"), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_station_year_matches_the_files(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    body = await get(client, app)
    assert body["items"] == expected
    assert body["total"] == 6
    no_rain = body["items"][-1]
    assert (no_rain["total_precipitation_cm"], no_rain["precipitation_days"]) == (None, 0)


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"year": 1986}, lambda i: i["year"] == 1986),
        ({"date": "1985-07-04"}, lambda i: i["year"] == 1985),
        ({"start_year": 1986, "end_year": 1990}, lambda i: i["year"] >= 1986),
        (
            {"end_year": 1985, "station_id": STATIONS[1]},
            lambda i: (i["year"], i["station_id"]) == (1985, STATIONS[1]),
        ),
        ({"year": 2000}, lambda i: False),
    ],
)
async def test_filters(
    client: AsyncClient,
    app: FastAPI,
    expected: list[dict[str, Any]],
    params: dict[str, Any],
    keep: Any,
) -> None:
    body = await get(client, app, **params)
    assert body["items"] == [i for i in expected if keep(i)]


async def test_pages_and_cursor(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    second = await get(client, app, page=2, page_size=4)
    assert (second["items"], second["pages"], second["links"]["next"]) == (expected[4:], 2, None)
    first = await get(client, app, page_size=4)
    response = await client.get(first["links"]["next"])
    assert response.json()["items"] == expected[4:]


async def test_csv_has_every_station_year(
    client: AsyncClient, app: FastAPI, expected: list[dict[str, Any]]
) -> None:
    response = await client.get(app.url_path_for("list_weather_stats"), params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["station_id"], int(r["year"])) for r in rows] == [
        (e["station_id"], e["year"]) for e in expected
    ]
    assert rows[-1]["total_precipitation_cm"] == ""
    assert float(rows[0]["avg_max_temp_c"]) == expected[0]["avg_max_temp_c"]


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"year": 1990, "start_year": 1980}, ["year", "start_year"]),
        ({"year": 1990, "date": "1990-01-01"}, ["year", "date"]),
        ({"start_year": 1995, "end_year": 1990}, ["start_year"]),
        ({"year": "nineteen"}, ["year"]),
        ({"year": 99999}, ["year"]),
        ({"station": STATIONS[0]}, ["station"]),
    ],
)
async def test_bad_parameters_are_named(
    client: AsyncClient, app: FastAPI, params: dict[str, Any], bad: list[str]
) -> None:
    response = await client.get(app.url_path_for("list_weather_stats"), params=params)
    assert response.status_code == 422
    assert [e["param"] for e in response.json()["errors"]] == bad
