"""GeoJSON of /api/stations and /api/stations/{id}, validated against a JSON schema of
RFC 7946's Point, Feature and FeatureCollection written here from the RFC."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from jsonschema import Draft202012Validator

from tests.api.test_stations import metadata
from tests.sample import STATIONS

# RFC 7946: a position is 2 or 3 numbers, longitude first (3.1.1); a Point's coordinates
# are one position (3.1.2); a Feature has "geometry" (a Geometry or null) and
# "properties" (an object or null), and an "id" that is a string or a number (3.2); a
# FeatureCollection has "features", an array of Features (3.3). Optional "bbox" (5).
_BBOX = {"type": "array", "minItems": 4, "items": {"type": "number"}}
GEOJSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "position": {
            "type": "array",
            "minItems": 2,
            "maxItems": 3,
            "prefixItems": [
                {"type": "number", "minimum": -180, "maximum": 180},
                {"type": "number", "minimum": -90, "maximum": 90},
                {"type": "number"},
            ],
        },
        "point": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"const": "Point"},
                "coordinates": {"$ref": "#/$defs/position"},
                "bbox": _BBOX,
            },
        },
        "feature": {
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"const": "Feature"},
                "id": {"type": ["string", "number"]},
                "geometry": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/point"}]},
                "properties": {"type": ["object", "null"]},
                "bbox": _BBOX,
            },
        },
        "collection": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": {"$ref": "#/$defs/feature"}},
                "bbox": _BBOX,
            },
        },
    },
    "oneOf": [{"$ref": "#/$defs/feature"}, {"$ref": "#/$defs/collection"}],
}
VALIDATOR = Draft202012Validator(GEOJSON_SCHEMA)


def valid(body: dict[str, Any]) -> dict[str, Any]:
    errors = [e.message for e in VALIDATOR.iter_errors(body)]
    assert not errors, errors
    return body


def test_the_schema_rejects_what_rfc_7946_does() -> None:
    assert list(VALIDATOR.iter_errors({"type": "Feature", "geometry": None}))  # no properties
    swapped = {"type": "Point", "coordinates": [41.2, -190.0]}
    feature = {"type": "Feature", "geometry": swapped, "properties": {}}
    assert list(VALIDATOR.iter_errors(feature))


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"format": "geojson"}, {}), ({}, {"Accept": "application/geo+json"})],
)
async def test_the_list_is_a_feature_collection_of_the_whole_result(
    client: AsyncClient, app: FastAPI, params: dict[str, Any], headers: dict[str, str]
) -> None:
    response = await client.get(
        app.url_path_for("list_stations"), params=params | {"page_size": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body = valid(response.json())
    assert [f["id"] for f in body["features"]] == list(STATIONS)  # all, not one page
    for feature in body["features"]:
        fields = metadata(feature["id"])
        expected = [fields["longitude"], fields["latitude"], fields["elevation_m"]]
        assert feature["geometry"] == {"type": "Point", "coordinates": expected}
        assert feature["properties"]["station_id"] == feature["id"]
        assert feature["properties"]["name"] == fields["name"]


async def test_filters_and_near_apply_to_the_collection(client: AsyncClient, app: FastAPI) -> None:
    params: dict[str, str | int] = {"format": "geojson", "near": "41.88,-87.63", "radius_km": 700}
    response = await client.get(app.url_path_for("list_stations"), params=params)
    body = valid(response.json())
    page = await client.get(app.url_path_for("list_stations"), params=params | {"format": "json"})
    assert [f["properties"] for f in body["features"]] == page.json()["items"]


async def test_one_station_is_a_feature(client: AsyncClient, app: FastAPI) -> None:
    url = app.url_path_for("get_station", station_id=STATIONS[0])
    response = await client.get(url, params={"format": "geojson"})
    assert response.headers["content-type"] == "application/geo+json"
    feature = valid(response.json())
    plain = (await client.get(url)).json()
    assert (feature["type"], feature["id"], feature["properties"]) == (
        "Feature",
        STATIONS[0],
        plain,
    )
    by_accept = await client.get(url, headers={"Accept": "application/geo+json"})
    assert by_accept.json() == feature
    assert by_accept.headers["etag"] != (await client.get(url)).headers["etag"]


async def test_imperial_properties_keep_metres_in_the_coordinates(
    client: AsyncClient, app: FastAPI
) -> None:
    url = app.url_path_for("get_station", station_id=STATIONS[1])
    feature = valid(
        (await client.get(url, params={"format": "geojson", "units": "imperial"})).json()
    )
    metres = metadata(STATIONS[1])["elevation_m"]
    assert feature["geometry"]["coordinates"][2] == metres  # RFC 7946, 4: metres
    assert feature["properties"]["elevation_ft"] == round(metres / 0.3048, 1)
    assert "elevation_m" not in feature["properties"]
