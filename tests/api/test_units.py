"""units=imperial on every endpoint with a measurement, in JSON and CSV, against exact
conversions computed here from the files' integers; and the OpenAPI document shows both
shapes."""

from __future__ import annotations

import csv
import datetime as dt
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
from tests.climate_reference import edd, gdd
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
        ("SummaryItem", "ImperialSummaryItem"),
        ("NormalsItem", "ImperialNormalsItem"),
        ("SeasonWeather", "ImperialSeasonWeather"),
    ]:
        assert metric in schemas
        assert imperial in schemas
    assert "max_temp_f" in schemas["ImperialWeatherItem"]["properties"]
    assert "elevation_ft" in schemas["ImperialStationItem"]["properties"]
    assert {"gdd_f", "edd_f"} <= set(schemas["ImperialSummaryItem"]["properties"])
    page = schemas["Page_Union_WeatherItem__ImperialWeatherItem__"]["properties"]["items"]
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in page["items"]["anyOf"]}
    assert refs == {"WeatherItem", "ImperialWeatherItem"}
    stations = spec["paths"]["/api/stations"]["get"]["responses"]["200"]["content"]
    summaries = [e["summary"] for c in stations.values() for e in c.get("examples", {}).values()]
    assert "/api/stations?near=41.88,-87.63&page_size=3" in summaries
    assert any("format=geojson" in s for s in summaries)
    assert any("units=imperial" in s for s in summaries)


SUMMARY_HEAD = ["station_id", "period_start", "period_end", "days", "max_temp_days"]
IMPERIAL_SUMMARY = [
    *SUMMARY_HEAD,
    "min_temp_days",
    "precipitation_days",
    "avg_max_temp_f",
    "avg_min_temp_f",
    "total_precipitation_in",
    "gdd_f",
    "edd_f",
    "degree_days_days",
]


async def test_season_summaries_in_fahrenheit_inches_and_fahrenheit_degree_days(
    client: AsyncClient, app: FastAPI, days: list[Day]
) -> None:
    url = app.url_path_for("list_weather_summary")
    metric = (await get(client, url, period="season")).json()["items"]
    items = (await get(client, url, period="season", units="imperial")).json()["items"]
    assert len(items) == len(metric) == 6
    for m, item in zip(metric, items, strict=True):
        assert list(item) == IMPERIAL_SUMMARY
        assert [item[k] for k in SUMMARY_HEAD] == [m[k] for k in SUMMARY_HEAD]
        start, end = (dt.date.fromisoformat(item[k]) for k in ("period_start", "period_end"))
        season = [d for d in days if d.station_id == item["station_id"] and start <= d.date <= end]
        maxes = [d.max_temp for d in season if d.max_temp is not None]
        mins = [d.min_temp for d in season if d.min_temp is not None]
        prcps = [d.precipitation for d in season if d.precipitation is not None]
        assert item["avg_max_temp_f"] == fahrenheit(Fraction(sum(maxes), len(maxes)), 2)
        assert item["avg_min_temp_f"] == fahrenheit(Fraction(sum(mins), len(mins)), 2)
        assert item["total_precipitation_in"] == (inches(sum(prcps)) if prcps else None)
        # Degree days computed in °F from the days, with base, cap and threshold in °F.
        pairs = [
            (max(d.max_temp, d.min_temp) * 0.18 + 32, min(d.max_temp, d.min_temp) * 0.18 + 32)
            for d in season
            if d.max_temp is not None and d.min_temp is not None
        ]
        assert item["gdd_f"] == pytest.approx(
            sum(gdd(hi, lo, 50, 86) for hi, lo in pairs), abs=0.006
        )
        assert item["edd_f"] == pytest.approx(sum(edd(hi, lo, 84.2) for hi, lo in pairs), abs=0.006)
        # °F·days are 1.8 times the °C·days; a mean gains the 32 °F offset (to within the
        # metric figure's rounding, times 1.8).
        assert item["gdd_f"] == pytest.approx(m["gdd"] * 1.8, abs=0.015)
        assert item["avg_max_temp_f"] == pytest.approx(m["avg_max_temp_c"] * 1.8 + 32, abs=0.015)
    exported = (await get(client, url, period="season", units="imperial", format="csv")).text
    assert exported.splitlines()[0].split(",") == IMPERIAL_SUMMARY


async def test_anomalies_in_fahrenheit_are_differences(client: AsyncClient, app: FastAPI) -> None:
    url = app.url_path_for("list_weather_summary")
    params = {"station_id": STATIONS[0], "anomalies": "true", "max_missing": 31}
    metric = (await get(client, url, **params)).json()["items"]
    items = (await get(client, url, units="imperial", **params)).json()["items"]
    checked = 0
    for m, item in zip(metric, items, strict=True):
        for c, f in (
            ("avg_max_temp_anomaly_c", "avg_max_temp_anomaly_f"),
            ("avg_min_temp_anomaly_c", "avg_min_temp_anomaly_f"),
        ):
            assert (item[f] is None) == (m[c] is None)
            if m[c] is not None:
                assert item[f] == pytest.approx(m[c] * 1.8, abs=0.015)  # no + 32
                checked += 1
        rain = m["total_precipitation_anomaly_mm"]
        if rain is not None:
            assert item["total_precipitation_anomaly_in"] == pytest.approx(rain / 25.4, abs=0.006)
    assert checked > 24
    exported = (await get(client, url, units="imperial", format="csv", **params)).text
    assert exported.splitlines()[0].split(",")[-3:] == [
        "avg_max_temp_anomaly_f",
        "avg_min_temp_anomaly_f",
        "total_precipitation_anomaly_in",
    ]


async def test_normals_in_fahrenheit_and_inches(client: AsyncClient, app: FastAPI) -> None:
    url = app.url_path_for("list_weather_normals")
    metric = (await get(client, url, max_missing=31)).json()["items"]
    items = (await get(client, url, max_missing=31, units="imperial")).json()["items"]
    assert len(items) == len(metric) == 36
    for m, item in zip(metric, items, strict=True):
        assert item["max_temp_years"] == m["max_temp_years"]
        assert item["avg_max_temp_f"] == pytest.approx(m["avg_max_temp_c"] * 1.8 + 32, abs=0.015)
        assert item["avg_min_temp_f"] == pytest.approx(m["avg_min_temp_c"] * 1.8 + 32, abs=0.015)
        if m["total_precipitation_mm"] is None:
            assert item["total_precipitation_in"] is None
        else:
            inches_ = m["total_precipitation_mm"] / 25.4
            assert item["total_precipitation_in"] == pytest.approx(inches_, abs=0.006)
    exported = (await get(client, url, units="imperial", format="csv")).text
    assert exported.splitlines()[0].split(",") == [
        "station_id",
        "month",
        "avg_max_temp_f",
        "avg_min_temp_f",
        "total_precipitation_in",
        "max_temp_years",
        "min_temp_years",
        "precipitation_years",
    ]


async def test_season_beside_the_yield_in_fahrenheit_and_inches(
    client: AsyncClient, app: FastAPI
) -> None:
    url = app.url_path_for("list_yield")
    metric = (await get(client, url, include="season")).json()["items"]
    items = (await get(client, url, include="season", units="imperial")).json()["items"]
    assert len(items) == len(metric) == 2
    for m, item in zip(metric, items, strict=True):
        c, f = m["season"], item["season"]
        assert list(f) == [
            "gdd_f",
            "gdd_stations",
            "edd_f",
            "edd_stations",
            "total_precipitation_in",
            "precipitation_stations",
            "avg_max_temp_f",
            "max_temp_stations",
            "avg_min_temp_f",
            "min_temp_stations",
        ]
        assert f["gdd_stations"] == c["gdd_stations"]
        assert f["gdd_f"] == pytest.approx(c["gdd"] * 1.8, abs=0.015)
        assert f["edd_f"] == pytest.approx(c["edd"] * 1.8, abs=0.015)
        assert f["avg_max_temp_f"] == pytest.approx(c["avg_max_temp_c"] * 1.8 + 32, abs=0.015)
        rain = f["total_precipitation_in"]
        assert rain == pytest.approx(c["total_precipitation_mm"] / 25.4, abs=0.006)
    exported = (await get(client, url, include="season", units="imperial", format="csv")).text
    assert exported.splitlines()[0].split(",")[:4] == [
        "year",
        "corn_grain_yield_kt",
        "gdd_f",
        "gdd_stations",
    ]
