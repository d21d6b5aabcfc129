"""units=imperial on every endpoint with a measurement, in JSON and CSV, against exact
conversions computed here from the files' integers; and the OpenAPI document shows both
shapes."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.test_stations import metadata
from tests.sample import STATIONS, Day, read_days


def rounded(value: Fraction | None, places: int) -> float | None:
    """Half away from zero, as PostgreSQL rounds numerics."""
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def fahrenheit(tenths_c: Fraction | int | None, places: int) -> float | None:
    return None if tenths_c is None else rounded(Fraction(tenths_c) * Fraction("0.18") + 32, places)


def inches(tenths_mm: Fraction | int | None) -> float | None:
    return None if tenths_mm is None else rounded(Fraction(tenths_mm) / 254, 2)


def imperial_day(day: Day) -> dict[str, Any]:
    return {
        "station_id": day.station_id,
        "date": day.date.isoformat(),
        "max_temp_f": fahrenheit(day.max_temp, 1),
        "min_temp_f": fahrenheit(day.min_temp, 1),
        "precipitation_in": inches(day.precipitation),
    }


def year_means(days: list[Day], station_id: str, year: int) -> dict[str, Fraction | None]:
    """Exact means (tenths of °C) and total (tenths of mm) of one station-year."""
    rows = [d for d in days if d.station_id == station_id and d.date.year == year]

    def avg(values: list[int]) -> Fraction | None:
        return Fraction(sum(values), len(values)) if values else None

    prcp = [d.precipitation for d in rows if d.precipitation is not None]
    return {
        "max": avg([d.max_temp for d in rows if d.max_temp is not None]),
        "min": avg([d.min_temp for d in rows if d.min_temp is not None]),
        "prcp": Fraction(sum(prcp)) if prcp else None,
    }


@pytest.fixture(scope="module")
def days(sample_dir: Path) -> list[Day]:
    return read_days(sample_dir)


async def get(client: AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response


async def test_daily_weather_in_fahrenheit_and_inches(
    client: AsyncClient, app: FastAPI, days: list[Day]
) -> None:
    url = app.url_path_for("list_weather")
    body = (await get(client, url, units="imperial", page_size=1000)).json()
    assert body["items"] == [imperial_day(d) for d in days[:1000]]
    exported = (await get(client, url, units="imperial", format="csv")).text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert list(rows[0]) == ["station_id", "date", "max_temp_f", "min_temp_f", "precipitation_in"]
    expected = [imperial_day(d) for d in days]
    assert [
        {k: (float(v) if v and k.endswith(("_f", "_in")) else v or None) for k, v in r.items()}
        for r in rows
    ] == expected


async def test_metric_stays_the_default(client: AsyncClient, app: FastAPI) -> None:
    url = app.url_path_for("list_weather")
    default = (await get(client, url, page_size=5)).json()["items"]
    assert default == (await get(client, url, page_size=5, units="metric")).json()["items"]
    assert set(default[0]) == {"station_id", "date", "max_temp_c", "min_temp_c", "precipitation_mm"}


async def test_yearly_stats_in_fahrenheit_and_inches(
    client: AsyncClient, app: FastAPI, days: list[Day]
) -> None:
    url = app.url_path_for("list_weather_stats")
    items = (await get(client, url, units="imperial")).json()["items"]
    assert len(items) == 6
    for item in items:
        means = year_means(days, item["station_id"], item["year"])
        assert item["avg_max_temp_f"] == fahrenheit(means["max"], 2)
        assert item["avg_min_temp_f"] == fahrenheit(means["min"], 2)
        assert item["total_precipitation_in"] == inches(means["prcp"])
        assert "avg_max_temp_c" not in item
    exported = (await get(client, url, units="imperial", format="csv")).text
    header = exported.splitlines()[0].split(",")
    assert header[2:5] == ["avg_max_temp_f", "avg_min_temp_f", "total_precipitation_in"]


async def test_yield_weather_means_in_fahrenheit_and_inches(
    client: AsyncClient, app: FastAPI, days: list[Day]
) -> None:
    url = app.url_path_for("list_yield")
    (item,) = (await get(client, url, units="imperial", include="weather", year=1986)).json()[
        "items"
    ]
    stats = [year_means(days, s, 1986) for s in STATIONS]

    def over_stations(key: str) -> Fraction:
        return mean(value for s in stats if (value := s[key]) is not None)

    assert item["weather"] == {
        "stations": 3,
        "avg_max_temp_f": fahrenheit(over_stations("max"), 2),
        "avg_min_temp_f": fahrenheit(over_stations("min"), 2),
        "avg_total_precipitation_in": inches(over_stations("prcp")),
    }


async def test_station_elevation_in_feet_in_json_and_csv(client: AsyncClient, app: FastAPI) -> None:
    url = app.url_path_for("list_stations")
    items = (await get(client, url, units="imperial")).json()["items"]
    for item in items:
        metres = Fraction(str(metadata(item["station_id"])["elevation_m"]))
        assert item["elevation_ft"] == rounded(metres / Fraction("0.3048"), 1)
        assert "elevation_m" not in item
    exported = (await get(client, url, units="imperial", format="csv")).text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [float(r["elevation_ft"]) for r in rows] == [i["elevation_ft"] for i in items]


async def test_openapi_shows_both_shapes_and_real_examples(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for metric, imperial in [
        ("WeatherItem", "ImperialWeatherItem"),
        ("StatsItem", "ImperialStatsItem"),
        ("StationItem", "ImperialStationItem"),
        ("YieldWeather", "ImperialYieldWeather"),
    ]:
        assert metric in schemas
        assert imperial in schemas
    assert "max_temp_f" in schemas["ImperialWeatherItem"]["properties"]
    assert "elevation_ft" in schemas["ImperialStationItem"]["properties"]
    page = schemas["Page_Union_WeatherItem__ImperialWeatherItem__"]["properties"]["items"]
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in page["items"]["anyOf"]}
    assert refs == {"WeatherItem", "ImperialWeatherItem"}
    stations = spec["paths"]["/api/stations"]["get"]["responses"]["200"]["content"]
    summaries = [e["summary"] for c in stations.values() for e in c.get("examples", {}).values()]
    assert "/api/stations?near=41.88,-87.63&page_size=3" in summaries
    assert any("format=geojson" in s for s in summaries)
    assert any("units=imperial" in s for s in summaries)
