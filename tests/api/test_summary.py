"""/api/weather/summary, /api/weather/normals and /api/yield?include=season over the sample,
against the figures computed in plain Python from the sample files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from tests.climate_reference import FIGURES, Params, by_station, close, months, normals, summary
from tests.sample import FIRST, LAST, STATIONS, YIELDS, read_days


@pytest.fixture(scope="module")
def stations(sample_dir: Path) -> dict[str, Any]:
    return by_station(read_days(sample_dir))


async def items(client: AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(path, params={"page_size": 1000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return list(body["items"])


def mismatches(
    expected: dict[str, Any], actual: dict[str, Any], names: tuple[str, ...]
) -> list[Any]:
    return [(n, expected[n], actual[n]) for n in names if not close(expected[n], actual[n])]


def check(
    stations: dict[str, Any],
    got: list[dict[str, Any]],
    periods: list[tuple[dt.date, dt.date]],
    p: Params | None = None,
) -> None:
    assert [(i["station_id"], i["period_start"], i["period_end"]) for i in got] == [
        (s, start.isoformat(), end.isoformat()) for s in sorted(STATIONS) for start, end in periods
    ]
    for item in got:
        start, end = (
            dt.date.fromisoformat(item["period_start"]),
            dt.date.fromisoformat(item["period_end"]),
        )
        expected = summary(stations[item["station_id"]], start, end, p or Params())
        assert not mismatches(expected, item, FIGURES), (item["station_id"], start)


async def test_monthly_summaries_are_exact(client: AsyncClient, stations: dict[str, Any]) -> None:
    got = await items(client, "/api/weather/summary")
    check(stations, got, months(FIRST, LAST))
    assert got[0]["gdd"] is not None
    assert got[0]["edd"] is not None


@pytest.mark.parametrize("max_missing", [None, 0, 3])
async def test_years_seasons_and_all(
    client: AsyncClient, stations: dict[str, Any], max_missing: int | None
) -> None:
    extra = {} if max_missing is None else {"max_missing": max_missing}
    p = Params(max_missing=max_missing)
    years = [(dt.date(y, 1, 1), dt.date(y, 12, 31)) for y in (1985, 1986)]
    check(stations, await items(client, "/api/weather/summary", period="year", **extra), years, p)
    seasons = [(dt.date(y, 4, 1), dt.date(y, 9, 30)) for y in (1985, 1986)]
    got = await items(client, "/api/weather/summary", period="season", **extra)
    check(stations, got, seasons, p)
    got = await items(client, "/api/weather/summary", period="all", **extra)
    check(stations, got, [(FIRST, LAST)], p)
    if max_missing == 0:  # every month of the sample misses a max temperature on the 17th
        assert all(i["avg_max_temp_c"] is None for i in got)


@pytest.mark.parametrize("station_id", [None, STATIONS[1]])
async def test_default_seasons_whole_and_clipped_by_the_range(
    client: AsyncClient, stations: dict[str, Any], station_id: str | None
) -> None:
    """A whole default season reads its season row; one the range clips, its months."""
    extra = {} if station_id is None else {"station_id": station_id}
    got = await items(
        client,
        "/api/weather/summary",
        period="season",
        start_date="1985-06-01",
        end_date="1986-12-31",
        **extra,
    )
    seasons = [
        (dt.date(1985, 6, 1), dt.date(1985, 9, 30)),
        (dt.date(1986, 4, 1), dt.date(1986, 9, 30)),
    ]
    listed = [station_id] if station_id else sorted(STATIONS)
    assert [(i["station_id"], i["period_start"], i["period_end"]) for i in got] == [
        (s, start.isoformat(), end.isoformat()) for s in listed for start, end in seasons
    ]
    for item in got:
        start, end = (dt.date.fromisoformat(item[k]) for k in ("period_start", "period_end"))
        expected = summary(stations[item["station_id"]], start, end)
        assert not mismatches(expected, item, FIGURES), (item["station_id"], start)


async def test_custom_parameters_compute_from_the_days(
    client: AsyncClient, stations: dict[str, Any]
) -> None:
    params = {
        "period": "season",
        "season_start": "04-15",
        "season_end": "09-20",
        "gdd_base_c": 8,
        "gdd_cap_c": 32.5,
        "edd_threshold_c": 27,
        "max_missing": 9,
        "start_date": "1985-05-10",
        "end_date": "1986-12-31",
    }
    got = await items(client, "/api/weather/summary", **params)
    seasons = [
        (dt.date(1985, 5, 10), dt.date(1985, 9, 20)),
        (dt.date(1986, 4, 15), dt.date(1986, 9, 20)),
    ]
    check(stations, got, seasons, Params(8, 32.5, 27, 9))


async def test_clipped_months_compute_from_the_days(
    client: AsyncClient, stations: dict[str, Any]
) -> None:
    got = await items(
        client, "/api/weather/summary", start_date="1985-03-10", end_date="1985-05-20"
    )
    check(stations, got, months(dt.date(1985, 3, 10), dt.date(1985, 5, 20)))
    assert got[0]["days"] == 22


async def test_anomalies_depart_from_the_normals_of_the_whole_data(
    client: AsyncClient, stations: dict[str, Any]
) -> None:
    station = STATIONS[0]
    got = await items(
        client, "/api/weather/summary", station_id=station, anomalies="true", max_missing=31
    )
    month_normals = normals(stations[station], 1985, 1986)
    pairs = (
        ("avg_max_temp_c", "avg_max_temp_anomaly_c"),
        ("avg_min_temp_c", "avg_min_temp_anomaly_c"),
        ("total_precipitation_mm", "total_precipitation_anomaly_mm"),
    )
    checked = 0
    for item in got:
        normal = month_normals[int(item["period_start"][5:7])]
        for figure, anomaly in pairs:
            if item[figure] is None or normal[figure] is None:
                assert item[anomaly] is None
            else:
                assert item[anomaly] == pytest.approx(item[figure] - normal[figure], abs=0.011)
                checked += 1
    assert checked > 48


async def test_normals_are_exact(client: AsyncClient, stations: dict[str, Any]) -> None:
    for max_missing in (5, 0, 31):
        got = await items(client, "/api/weather/normals", max_missing=max_missing)
        assert [(i["station_id"], i["month"]) for i in got] == [
            (s, m) for s in sorted(STATIONS) for m in range(1, 13)
        ]
        for item in got:
            expected = normals(stations[item["station_id"]], 1985, 1986, max_missing)
            names = tuple(k for k in expected[1] if k != "month")
            assert not mismatches(expected[item["month"]], item, names), item
    # Station 3 has no precipitation in 1986: one year of two is below 80%.
    july = next(i for i in got if i["station_id"] == STATIONS[2] and i["month"] == 7)
    assert (july["total_precipitation_mm"], july["precipitation_years"]) == (None, 1)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"season_start": "05-01", "season_end": "08-31", "gdd_base_c": 9, "max_missing": 3},
        {"state": ["NE", "OH"]},  # the default season's rows, two of the three stations
    ],
)
async def test_yield_beside_the_season(
    client: AsyncClient, stations: dict[str, Any], params: dict[str, Any]
) -> None:
    got = await items(client, "/api/yield", include="season", **params)
    start = tuple(int(x) for x in params.get("season_start", "04-01").split("-"))
    end = tuple(int(x) for x in params.get("season_end", "09-30").split("-"))
    p = Params(base=params.get("gdd_base_c", 10.0), max_missing=params.get("max_missing", 10))
    assert [i["year"] for i in got] == sorted(YIELDS)
    for item in got:
        year = item["year"]
        assert item["corn_grain_yield_kt"] == YIELDS[year]
        seasons = [
            summary(days, dt.date(year, *start), dt.date(year, *end), p)
            for station_id, days in stations.items()
            if "state" not in params or station_id in (STATIONS[1], STATIONS[2])
        ]
        for figure, count in (
            ("gdd", "gdd_stations"),
            ("edd", "edd_stations"),
            ("total_precipitation_mm", "precipitation_stations"),
            ("avg_max_temp_c", "max_temp_stations"),
            ("avg_min_temp_c", "min_temp_stations"),
        ):
            values = [s[figure] for s in seasons if s[figure] is not None]
            assert item["season"][count] == len(values)
            mean = sum(values) / len(values) if values else None  # type: ignore[arg-type]
            assert close(mean, item["season"][figure]), (year, figure)


async def test_season_yield_as_csv_is_flat(client: AsyncClient) -> None:
    response = await client.get("/api/yield", params={"include": "season", "format": "csv"})
    assert response.status_code == 200
    header, *rows = response.text.splitlines()
    assert header.split(",")[:4] == ["year", "corn_grain_yield_kt", "gdd", "gdd_stations"]
    assert len(rows) == len(YIELDS)


async def test_monthly_summary_as_csv(client: AsyncClient) -> None:
    response = await client.get("/api/weather/summary", params={"format": "csv"})
    assert response.status_code == 200
    header, *rows = response.text.splitlines()
    assert header.startswith("station_id,period_start,period_end,days,")
    assert len(rows) == len(STATIONS) * 24
    assert response.headers["etag"]


async def test_pages_follow_the_cursor(client: AsyncClient) -> None:
    first = (await client.get("/api/weather/summary", params={"page_size": 30})).json()
    assert (first["total"], first["pages"]) == (72, 3)
    second = (await client.get(first["links"]["next"])).json()
    assert second["items"][0]["period_start"] == "1985-07-01"
    by_page = (await client.get("/api/weather/summary", params={"page_size": 30, "page": 2})).json()
    assert by_page["items"] == second["items"]


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/weather/summary", {"season_start": "02-30"}, "season_start"),
        ("/api/weather/summary", {"season_start": "02-29"}, "season_start"),
        ("/api/weather/summary", {"season_end": "4-1"}, "season_end"),
        ("/api/weather/summary", {"season_start": "09-01", "season_end": "04-30"}, "season_end"),
        ("/api/weather/summary", {"gdd_base_c": 10, "gdd_cap_c": 10}, "gdd_cap_c"),
        ("/api/weather/summary", {"max_missing": -1}, "max_missing"),
        ("/api/weather/summary", {"period": "week"}, "period"),
        ("/api/weather/summary", {"period": "year", "anomalies": "true"}, "anomalies"),
        (
            "/api/weather/summary",
            {"start_date": "1986-01-01", "end_date": "1985-01-01"},
            "start_date",
        ),
        ("/api/weather/normals", {"max_missing": -1}, "max_missing"),
        ("/api/weather/normals", {"start_year": 1990, "end_year": 1985}, "start_year"),
        ("/api/yield", {"include": "season", "gdd_cap_c": 5}, "gdd_cap_c"),
        ("/api/yield", {"gdd_base_c": 5}, "gdd_base_c"),
        ("/api/yield", {"include": "season", "state": "TX"}, "state"),
    ],
)
async def test_invalid_parameters_are_named(
    client: AsyncClient, path: str, params: dict[str, Any], param: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert param in [e["param"] for e in response.json()["errors"]]
