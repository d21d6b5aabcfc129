"""The full dataset with NOAA's list of its stations: metadata, nearest stations and every
unit conversion, each against an independent reading of the files."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url

from tests.conftest import SHARED_DATA, create_database, drop_database, settings_for
from weather_api.app import create_app
from weather_api.db.engine import create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits

GHCND = SHARED_DATA.parent / "ghcnd" / "ghcnd-stations.txt"
pytestmark = [
    pytest.mark.full_data,
    pytest.mark.skipif(
        not (SHARED_DATA / "wx_data").is_dir() or not GHCND.is_file(),
        reason=f"no dataset at {SHARED_DATA} or no {GHCND}",
    ),
]


def noaa_stations() -> dict[str, dict[str, Any]]:
    """ghcnd-stations.txt read by the columns of NOAA's readme."""
    stations = {}
    for line in GHCND.read_text().splitlines():
        stations[line[0:11]] = {
            "name": line[41:71].strip(),
            "latitude": float(line[12:20]),
            "longitude": float(line[21:30]),
            "elevation_m": float(line[31:37]),
        }
    return stations


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dp, dl = map(math.radians, (lat1, lat2, lat2 - lat1, lon2 - lon1))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def rounded(value: Fraction, places: int) -> float:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def fahrenheit(tenths: Fraction | int, places: int) -> float:
    return rounded(Fraction(tenths) * Fraction(18, 100) + 32, places)


def inches(tenths_mm: Fraction | int) -> float:
    return rounded(Fraction(tenths_mm) / 254, 2)


def file_days() -> Iterator[tuple[str, str, list[int | None]]]:
    """(station, YYYYMMDD, [max, min, prcp] in tenths) from the files, in key order."""
    for path in sorted((SHARED_DATA / "wx_data").glob("*.txt")):
        for line in path.read_text().splitlines():
            date, *values = (v.strip() for v in line.split("\t"))
            yield path.stem, date, [None if v == "-9999" else int(v) for v in values]


@pytest.fixture(scope="module")
async def client(server_url: str, template_url: str) -> AsyncIterator[AsyncClient]:
    url = await create_database(server_url, template=make_url(template_url).database)
    settings = settings_for(url)
    engine = create_load_engine(url, settings)
    limits = SourceLimits.from_settings(settings, restricted=False)
    summary = await Loader(engine, limits).run([str(SHARED_DATA), str(GHCND)], trigger="cli")
    await engine.dispose()
    assert summary.status == "succeeded", summary.errors
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client
    await drop_database(server_url, url)


async def test_station_metadata_matches_noaa(client: AsyncClient) -> None:
    expected = noaa_stations()["USC00110072"]
    station = (await client.get("/api/stations/USC00110072")).json()
    assert {k: station[k] for k in expected} == expected
    assert expected["name"] == "ALEDO"
    listed = (await client.get("/api/stations", params={"page_size": 1000})).json()["items"]
    assert len(listed) == 167
    assert all(item["latitude"] is not None for item in listed)


async def test_nearest_stations_match_an_independent_haversine(client: AsyncClient) -> None:
    lat, lon = 41.88, -87.63
    stations = noaa_stations()
    exact = {s: haversine_km(lat, lon, f["latitude"], f["longitude"]) for s, f in stations.items()}
    nearest = sorted(exact, key=lambda s: (round(exact[s], 1), s))[:10]
    body = (
        await client.get("/api/stations", params={"near": f"{lat},{lon}", "page_size": 10})
    ).json()
    assert [i["station_id"] for i in body["items"]] == nearest
    for item in body["items"]:
        assert item["distance_km"] == pytest.approx(exact[item["station_id"]], abs=0.051)
    within = (
        await client.get("/api/stations", params={"near": f"{lat},{lon}", "radius_km": 150})
    ).json()
    assert within["total"] == sum(round(d, 1) <= 150 for d in exact.values())


def station_figures() -> dict[str, dict[str, Any]]:
    """Each station's period, days and shares of days with each value, from the files."""
    days: dict[str, list[tuple[str, list[int | None]]]] = defaultdict(list)
    for station, date, values in file_days():
        days[station].append((date, values))
    figures = {}
    for station, mine in days.items():
        (first, _), (last, _) = mine[0], mine[-1]
        figures[station] = {
            "first_date": f"{first[:4]}-{first[4:6]}-{first[6:]}",
            "last_date": f"{last[:4]}-{last[4:6]}-{last[6:]}",
            "days": len(mine),
        }
        for i, share in enumerate(("max_temp_share", "min_temp_share", "precipitation_share")):
            count = sum(values[i] is not None for _, values in mine)
            figures[station][share] = rounded(Fraction(count, len(mine)), 4)
    return figures


async def pages(client: AsyncClient, **params: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page through the cursor links: the items, and the total each page gave."""
    items: list[dict[str, Any]] = []
    totals: list[int] = []
    url: str | None = "/api/stations"
    for _ in range(100):  # bounded: 25 pages of 7
        if url is None:
            break
        response = await client.get(url, params=params if not items else None)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        totals.append(response.json()["total"])
        url = response.json()["links"]["next"]
    return items, totals


@pytest.mark.parametrize("near", [None, "41.88,-87.63"])
async def test_paging_gives_every_observed_station_once(
    client: AsyncClient, near: str | None
) -> None:
    figures = station_figures()
    params = {"page_size": 7} | ({"near": near} if near else {})
    by_cursor, totals = await pages(client, **params)
    by_offset = []
    for page in range(1, 26):
        body = (await client.get("/api/stations", params=params | {"page": page})).json()
        assert (body["total"], body["pages"]) == (167, 24)
        by_offset += body["items"]
    assert by_offset == by_cursor
    assert set(totals) == {167}
    assert sorted(item["station_id"] for item in by_cursor) == sorted(figures)
    order = [(item.get("distance_km", 0), item["station_id"]) for item in by_cursor]
    assert order == sorted(order)
    for item in by_cursor:
        assert {k: item[k] for k in figures[item["station_id"]]} == figures[item["station_id"]]


async def test_every_daily_value_converts_exactly(client: AsyncClient) -> None:
    response = await client.get("/api/weather", params={"units": "imperial", "format": "csv"})
    assert response.status_code == 200
    served = csv.reader(io.StringIO(response.text))
    assert next(served) == ["station_id", "date", "max_temp_f", "min_temp_f", "precipitation_in"]
    count = 0
    for (station, date, (tmax, tmin, prcp)), row in zip(file_days(), served, strict=True):
        expected = [
            station,
            f"{date[:4]}-{date[4:6]}-{date[6:]}",
            "" if tmax is None else fahrenheit(tmax, 1),
            "" if tmin is None else fahrenheit(tmin, 1),
            "" if prcp is None else inches(prcp),
        ]
        got = [row[0], row[1], *(float(v) if v else "" for v in row[2:])]
        assert got == expected, (station, date)
        count += 1
    assert count == 1_729_957


async def test_every_yearly_and_yield_mean_converts_exactly(client: AsyncClient) -> None:
    sums: dict[tuple[str, int], list[list[int]]] = defaultdict(lambda: [[], [], []])
    for station, date, values in file_days():
        for bucket, value in zip(sums[station, int(date[:4])], values, strict=True):
            if value is not None:
                bucket.append(value)
    response = await client.get("/api/weather/stats", params={"units": "imperial", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(sums) == 4_820
    means: dict[int, list[list[Fraction]]] = defaultdict(lambda: [[], [], []])
    for row in rows:
        tmax, tmin, prcp = sums[row["station_id"], int(row["year"])]
        exact = [
            Fraction(sum(tmax), len(tmax)) if tmax else None,
            Fraction(sum(tmin), len(tmin)) if tmin else None,
            Fraction(sum(prcp)) if prcp else None,
        ]
        expected = [
            "" if exact[0] is None else fahrenheit(exact[0], 2),
            "" if exact[1] is None else fahrenheit(exact[1], 2),
            "" if exact[2] is None else inches(exact[2]),
        ]
        got = [float(row[k]) if row[k] else "" for k in ("avg_max_temp_f", "avg_min_temp_f")]
        got.append(float(row["total_precipitation_in"]) if row["total_precipitation_in"] else "")
        assert got == expected, row
        for year_values, mean in zip(means[int(row["year"])], exact, strict=True):
            if mean is not None:
                year_values.append(mean)
    years = (
        await client.get(
            "/api/yield", params={"units": "imperial", "include": "weather", "page_size": 100}
        )
    ).json()["items"]
    assert years
    for item in years:
        hi, lo, rain = (Fraction(sum(b), len(b)) for b in means[item["year"]])
        assert item["weather"]["avg_max_temp_f"] == fahrenheit(hi, 2)
        assert item["weather"]["avg_min_temp_f"] == fahrenheit(lo, 2)
        assert item["weather"]["avg_total_precipitation_in"] == inches(rain)


async def test_every_elevation_converts_exactly(client: AsyncClient) -> None:
    stations = noaa_stations()
    items = (
        await client.get("/api/stations", params={"units": "imperial", "page_size": 1000})
    ).json()["items"]
    assert len(items) == 167
    for item in items:
        metres = Fraction(str(stations[item["station_id"]]["elevation_m"]))
        assert item["elevation_ft"] == rounded(metres / Fraction("0.3048"), 1)
