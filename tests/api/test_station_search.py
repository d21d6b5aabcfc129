"""GET /api/stations by place: near (distance and order), radius_km, bbox, with state, paged,
and the 422s of bad values. The sample's stations carry the packaged NOAA metadata."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.test_stations import metadata
from tests.sample import STATIONS

CHICAGO = (41.88, -87.63)
RADIUS_KM = 6371.0088


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * RADIUS_KM * math.asin(math.sqrt(h))


def where(station_id: str) -> tuple[float, float]:
    fields = metadata(station_id)
    return fields["latitude"], fields["longitude"]


async def search(client: AsyncClient, app: FastAPI, **params: Any) -> dict[str, Any]:
    response = await client.get(app.url_path_for("list_stations"), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["station_id"] for item in body["items"]]


async def test_only_stations_with_observations_are_listed(
    client: AsyncClient, app: FastAPI
) -> None:
    # The packaged list names 167 stations; the sample has observations of three.
    body = await search(client, app)
    assert (ids(body), body["total"]) == (list(STATIONS), 3)
    assert all("distance_km" not in item for item in body["items"])


async def test_near_orders_by_great_circle_distance(client: AsyncClient, app: FastAPI) -> None:
    body = await search(client, app, near="41.88,-87.63")
    expected = sorted(STATIONS, key=lambda s: (round(haversine_km(CHICAGO, where(s)), 1), s))
    assert ids(body) == expected
    for item in body["items"]:
        exact = haversine_km(CHICAGO, where(item["station_id"]))
        assert item["distance_km"] == pytest.approx(exact, abs=0.051)
        assert item["distance_km"] == round(item["distance_km"], 1)
        assert (item["latitude"], item["longitude"]) == where(item["station_id"])


async def test_radius_keeps_the_nearer_ones(client: AsyncClient, app: FastAPI) -> None:
    distances = {s: round(haversine_km(CHICAGO, where(s)), 1) for s in STATIONS}
    nearest = min(distances.values())
    body = await search(client, app, near="41.88,-87.63", radius_km=nearest)
    assert ids(body) == [s for s, d in distances.items() if d <= nearest]
    assert body["total"] == 1
    none = await search(client, app, near="41.88,-87.63", radius_km=nearest - 0.1)
    assert (none["items"], none["total"]) == ([], 0)


async def test_bbox_includes_its_edges(client: AsyncClient, app: FastAPI) -> None:
    lat, lon = where(STATIONS[0])
    # A box whose north-west corner is exactly Aledo, reaching east past Warren.
    body = await search(client, app, bbox=f"{lon},40,-80,{lat}")
    assert ids(body) == [STATIONS[0], STATIONS[2]]
    west = await search(client, app, bbox="-98,40,-90,42")
    assert ids(west) == [STATIONS[0], STATIONS[1]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"near": "41.88,-87.63", "state": "NE"}, [STATIONS[1]]),
        ({"bbox": "-98,40,-80,42", "state": ["IL", "OH"]}, [STATIONS[0], STATIONS[2]]),
        ({"near": "41.2,-80.8", "bbox": "-98,40,-90,42"}, [STATIONS[0], STATIONS[1]]),
        (
            {"near": "41.88,-87.63", "radius_km": 700, "bbox": "-98,40,-80,42", "state": "OH"},
            [STATIONS[2]],
        ),
    ],
)
async def test_filters_combine(
    client: AsyncClient, app: FastAPI, params: dict[str, Any], expected: list[str]
) -> None:
    assert ids(await search(client, app, **params)) == expected


async def test_near_pages_by_offset_and_by_cursor(client: AsyncClient, app: FastAPI) -> None:
    whole = ids(await search(client, app, near="41.88,-87.63"))
    second = await search(client, app, near="41.88,-87.63", page_size=1, page=2)
    assert (ids(second), second["total"], second["pages"]) == (whole[1:2], 3, 3)
    seen: list[str] = []
    url: str | None = app.url_path_for("list_stations") + "?near=41.88,-87.63&page_size=1"
    for _ in range(5):  # bounded: three pages
        if url is None:
            break
        response = await client.get(url)
        assert response.status_code == 200, response.text
        seen += ids(response.json())
        url = response.json()["links"]["next"]
    assert seen == whole


async def test_near_as_csv_carries_the_distance(client: AsyncClient, app: FastAPI) -> None:
    response = await client.get(
        app.url_path_for("list_stations"),
        params={"near": "41.88,-87.63", "radius_km": 700, "format": "csv"},
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    json_items = (await search(client, app, near="41.88,-87.63", radius_km=700))["items"]
    assert [(r["station_id"], float(r["distance_km"])) for r in rows] == [
        (i["station_id"], i["distance_km"]) for i in json_items
    ]
    assert rows[0]["name"] == metadata(rows[0]["station_id"])["name"]


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"near": "91,0"}, "near", "latitude 91 is outside [-90, 90]"),
        ({"near": "-90.5,0"}, "near", "latitude -90.5 is outside"),
        ({"near": "0,181"}, "near", "longitude 181 is outside [-180, 180]"),
        ({"near": "41.88"}, "near", "expected LAT,LON"),
        ({"near": "41.88,-87.63,1"}, "near", "expected LAT,LON"),
        ({"near": "north,west"}, "near", "expected LAT,LON"),
        ({"bbox": "-80,40,-90,42"}, "bbox", "minimum longitude is greater than the maximum"),
        ({"bbox": "-90,42,-80,40"}, "bbox", "minimum latitude is greater than the maximum"),
        ({"bbox": "-90,40,-80"}, "bbox", "expected MIN_LON,MIN_LAT,MAX_LON,MAX_LAT"),
        ({"bbox": "-190,40,-80,42"}, "bbox", "longitude -190 is outside"),
        ({"bbox": "-90,-95,-80,42"}, "bbox", "latitude -95 is outside"),
        ({"near": "41,-87", "radius_km": 0}, "radius_km", "greater than 0"),
        ({"near": "41,-87", "radius_km": -5}, "radius_km", "greater than 0"),
        ({"near": "41,-87", "radius_km": "nan"}, "radius_km", "finite"),
        ({"radius_km": 10}, "radius_km", "needs near"),
        ({"units": "kelvin"}, "units", "metric"),
    ],
)
async def test_bad_values_are_problems_naming_the_parameter(
    client: AsyncClient, app: FastAPI, params: dict[str, Any], param: str, message: str
) -> None:
    response = await client.get(app.url_path_for("list_stations"), params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["param"] for e in errors] == [param]
    assert message in errors[0]["message"]
