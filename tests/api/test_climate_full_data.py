"""Every figure of /api/weather/summary, /api/weather/normals and /api/yield?include=season
over the full dataset, for all stations and all months, seasons and years, against the
plain-Python computation of tests.climate_reference from the raw files, to 0.01; in metric
and, converted by tests.climate_reference.imperial, with units=imperial."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url

from tests.climate_reference import (
    FIGURES,
    Params,
    close,
    imperial,
    months,
    normals,
    read_stations,
    summary,
)
from tests.conftest import SHARED_DATA, create_database, drop_database, settings_for
from weather_api.app import create_app
from weather_api.db.engine import create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits

pytestmark = [
    pytest.mark.full_data,
    pytest.mark.skipif(
        not (SHARED_DATA / "wx_data").is_dir(), reason=f"no dataset at {SHARED_DATA}"
    ),
]
FIRST, LAST = dt.date(1985, 1, 1), dt.date(2014, 12, 31)
Stations = dict[str, Any]


@pytest.fixture(scope="module")
def stations() -> Stations:
    return read_stations(SHARED_DATA)


@pytest.fixture(scope="module")
async def full_client(server_url: str, template_url: str) -> AsyncIterator[AsyncClient]:
    url = await create_database(server_url, template=make_url(template_url).database)
    settings = settings_for(url)
    engine = create_load_engine(url, settings)
    limits = SourceLimits.from_settings(settings, restricted=False)
    summary = await Loader(engine, limits).run([str(SHARED_DATA)], trigger="cli")
    assert summary.status == "succeeded", summary.errors
    await engine.dispose()
    app = create_app(settings)
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield client
    await drop_database(server_url, url)


async def csv_rows(client: AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(path, params={"format": "csv", **params})
    assert response.status_code == 200, response.text

    def value(text: str) -> Any:
        if text == "":
            return None
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text

    return [
        {k: value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(response.text))
    ]


def compare(
    stations: Stations,
    rows: list[dict[str, Any]],
    periods: list[tuple[dt.date, dt.date]],
    p: Params,
    units: str = "metric",
) -> None:
    expected_keys = [
        (s, a.isoformat(), b.isoformat()) for s in sorted(stations) for a, b in periods
    ]
    assert [(r["station_id"], r["period_start"], r["period_end"]) for r in rows] == expected_keys
    wrong = []
    for row in rows:
        start, end = (
            dt.date.fromisoformat(row["period_start"]),
            dt.date.fromisoformat(row["period_end"]),
        )
        expected = summary(stations[row["station_id"]], start, end, p)
        if units == "imperial":
            expected = imperial(expected)
        wrong += [
            (row["station_id"], row["period_start"], n, expected[n], row[n])
            for n in (imperial(dict.fromkeys(FIGURES)) if units == "imperial" else FIGURES)
            if not close(expected[n], row[n])
        ]
    assert not wrong, wrong[:10]


def test_the_data_has_its_737_swapped_days(stations: Stations) -> None:
    swapped = sum(
        1
        for days in stations.values()
        for tmax, tmin, _ in days.values()
        if tmax is not None and tmin is not None and tmin > tmax
    )
    assert swapped == 737


@pytest.mark.parametrize("max_missing", [None, 3])
async def test_every_monthly_summary(
    full_client: AsyncClient, stations: Stations, max_missing: int | None
) -> None:
    extra = {} if max_missing is None else {"max_missing": max_missing}
    rows = await csv_rows(full_client, "/api/weather/summary", **extra)
    assert len(rows) == 167 * 360
    compare(stations, rows, months(FIRST, LAST), Params(max_missing=max_missing))


@pytest.mark.parametrize("max_missing", [None, 10])
async def test_every_season_and_year(
    full_client: AsyncClient, stations: Stations, max_missing: int | None
) -> None:
    extra = {} if max_missing is None else {"max_missing": max_missing}
    p = Params(max_missing=max_missing)
    years = range(FIRST.year, LAST.year + 1)
    rows = await csv_rows(full_client, "/api/weather/summary", period="season", **extra)
    compare(stations, rows, [(dt.date(y, 4, 1), dt.date(y, 9, 30)) for y in years], p)
    rows = await csv_rows(full_client, "/api/weather/summary", period="year", **extra)
    compare(stations, rows, [(dt.date(y, 1, 1), dt.date(y, 12, 31)) for y in years], p)
    rows = await csv_rows(full_client, "/api/weather/summary", period="all", **extra)
    compare(stations, rows, [(FIRST, LAST)], p)


async def test_every_season_with_custom_parameters(
    full_client: AsyncClient, stations: Stations
) -> None:
    params = {
        "season_start": "05-15",
        "season_end": "08-31",
        "gdd_base_c": 8,
        "gdd_cap_c": 31,
        "edd_threshold_c": 30,
        "max_missing": 7,
    }
    rows = await csv_rows(full_client, "/api/weather/summary", period="season", **params)
    years = range(FIRST.year, LAST.year + 1)
    periods = [(dt.date(y, 5, 15), dt.date(y, 8, 31)) for y in years]
    compare(stations, rows, periods, Params(8, 31, 30, 7))


async def test_every_normal(full_client: AsyncClient, stations: Stations) -> None:
    rows = await csv_rows(full_client, "/api/weather/normals")
    assert len(rows) == 167 * 12
    station_normals = {s: normals(days, 1985, 2014) for s, days in stations.items()}
    wrong = []
    for row in rows:
        expected = station_normals[row["station_id"]][row["month"]]
        wrong += [(row, n) for n in expected if not close(expected[n], row[n])]
    assert not wrong, wrong[:5]


async def test_every_monthly_anomaly(full_client: AsyncClient, stations: Stations) -> None:
    rows = await csv_rows(full_client, "/api/weather/summary", anomalies="true")
    station_normals = {s: normals(days, 1985, 2014) for s, days in stations.items()}
    pairs = (
        ("avg_max_temp_c", "avg_max_temp_anomaly_c"),
        ("avg_min_temp_c", "avg_min_temp_anomaly_c"),
        ("total_precipitation_mm", "total_precipitation_anomaly_mm"),
    )
    wrong, checked = [], 0
    for row in rows:
        start = dt.date.fromisoformat(row["period_start"])
        end = dt.date.fromisoformat(row["period_end"])
        figures = summary(stations[row["station_id"]], start, end)
        normal = station_normals[row["station_id"]][start.month]
        for figure, anomaly in pairs:
            if figures[figure] is None or normal[figure] is None:
                expected = None
            else:
                expected = figures[figure] - normal[figure]
                checked += 1
            if not close(expected, row[anomaly]):
                wrong.append((row["station_id"], start, anomaly, expected, row[anomaly]))
    assert not wrong, wrong[:10]
    assert checked > 150_000


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"season_start": "06-01", "season_end": "08-15", "edd_threshold_c": 30, "state": "IA"},
    ],
)
async def test_every_season_beside_the_yield(
    full_client: AsyncClient, stations: Stations, params: dict[str, Any]
) -> None:
    rows = await csv_rows(full_client, "/api/yield", include="season", **params)
    assert [r["year"] for r in rows] == list(range(1985, 2015))
    start = tuple(int(x) for x in params.get("season_start", "04-01").split("-"))
    end = tuple(int(x) for x in params.get("season_end", "09-30").split("-"))
    p = Params(threshold=params.get("edd_threshold_c", 29.0), max_missing=10)
    # Iowa's COOP state code is 13.
    chosen = [s for s in stations if "state" not in params or s[5:7] == "13"]
    wrong = []
    for row in rows:
        year = row["year"]
        seasons = [
            summary(stations[s], dt.date(year, *start), dt.date(year, *end), p) for s in chosen
        ]
        for figure, count in (
            ("gdd", "gdd_stations"),
            ("edd", "edd_stations"),
            ("total_precipitation_mm", "precipitation_stations"),
            ("avg_max_temp_c", "max_temp_stations"),
            ("avg_min_temp_c", "min_temp_stations"),
        ):
            values = [s[figure] for s in seasons if s[figure] is not None]
            mean = sum(values) / len(values) if values else None  # type: ignore[arg-type]
            if row[count] != len(values) or not close(mean, row[figure]):
                wrong.append((year, figure, len(values), mean, row[count], row[figure]))
    assert not wrong, wrong[:10]


async def test_every_imperial_month_with_its_anomalies(
    full_client: AsyncClient, stations: Stations
) -> None:
    rows = await csv_rows(full_client, "/api/weather/summary", units="imperial", anomalies="true")
    assert len(rows) == 167 * 360
    compare(stations, rows, months(FIRST, LAST), Params(), "imperial")
    station_normals = {s: normals(days, 1985, 2014) for s, days in stations.items()}
    wrong, checked = [], 0
    for row in rows:
        start = dt.date.fromisoformat(row["period_start"])
        figures = summary(
            stations[row["station_id"]], start, dt.date.fromisoformat(row["period_end"])
        )
        normal = station_normals[row["station_id"]][start.month]
        for figure, anomaly in (
            ("avg_max_temp_c", "avg_max_temp_anomaly_c"),
            ("avg_min_temp_c", "avg_min_temp_anomaly_c"),
            ("total_precipitation_mm", "total_precipitation_anomaly_mm"),
        ):
            departure = None
            if figures[figure] is not None and normal[figure] is not None:
                departure = figures[figure] - normal[figure]
                checked += 1
            name, expected = next(iter(imperial({anomaly: departure}).items()))
            if not close(expected, row[name]):
                wrong.append((row["station_id"], start, name, expected, row[name]))
    assert not wrong, wrong[:10]
    assert checked > 150_000


@pytest.mark.parametrize("max_missing", [None, 10])
async def test_every_imperial_season_and_year(
    full_client: AsyncClient, stations: Stations, max_missing: int | None
) -> None:
    extra: dict[str, Any] = {"units": "imperial"}
    if max_missing is not None:
        extra["max_missing"] = max_missing
    p = Params(max_missing=max_missing)
    years = range(FIRST.year, LAST.year + 1)
    rows = await csv_rows(full_client, "/api/weather/summary", period="season", **extra)
    seasons = [(dt.date(y, 4, 1), dt.date(y, 9, 30)) for y in years]
    compare(stations, rows, seasons, p, "imperial")
    rows = await csv_rows(full_client, "/api/weather/summary", period="year", **extra)
    compare(stations, rows, [(dt.date(y, 1, 1), dt.date(y, 12, 31)) for y in years], p, "imperial")


async def test_every_imperial_normal(full_client: AsyncClient, stations: Stations) -> None:
    rows = await csv_rows(full_client, "/api/weather/normals", units="imperial")
    assert len(rows) == 167 * 12
    station_normals = {s: normals(days, 1985, 2014) for s, days in stations.items()}
    wrong = []
    for row in rows:
        expected = imperial(station_normals[row["station_id"]][row["month"]])
        wrong += [(row, n) for n in expected if not close(expected[n], row[n])]
    assert not wrong, wrong[:5]


async def test_every_imperial_season_beside_the_yield(
    full_client: AsyncClient, stations: Stations
) -> None:
    rows = await csv_rows(full_client, "/api/yield", include="season", units="imperial")
    assert [r["year"] for r in rows] == list(range(1985, 2015))
    p = Params(max_missing=10)
    wrong = []
    for row in rows:
        year = row["year"]
        seasons = [
            summary(days, dt.date(year, 4, 1), dt.date(year, 9, 30), p)
            for days in stations.values()
        ]
        for figure, count in (
            ("gdd", "gdd_stations"),
            ("edd", "edd_stations"),
            ("total_precipitation_mm", "precipitation_stations"),
            ("avg_max_temp_c", "max_temp_stations"),
            ("avg_min_temp_c", "min_temp_stations"),
        ):
            values = [s[figure] for s in seasons if s[figure] is not None]
            mean = sum(values) / len(values) if values else None  # type: ignore[arg-type]
            name, expected = next(iter(imperial({figure: mean}).items()))
            if row[count] != len(values) or not close(expected, row[name]):
                wrong.append((year, name, len(values), expected, row[count], row[name]))
    assert not wrong, wrong[:10]
