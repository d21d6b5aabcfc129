"""Stations as RFC 7946 GeoJSON: a Feature per station, a FeatureCollection for a list."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

from weather_api.api.caching import GEOJSON
from weather_api.db.queries import GEOMETRY_ELEVATION, Rows


def feature(row: dict[str, Any]) -> dict[str, Any]:
    """A Point at [longitude, latitude(, elevation in metres where known)], the station id
    as ``id`` and the item's fields as ``properties``; a station without coordinates has
    a null geometry, as RFC 7946 (3.2) allows."""
    elevation = row.pop(GEOMETRY_ELEVATION)
    geometry = None
    if row["latitude"] is not None and row["longitude"] is not None:
        coordinates = [row["longitude"], row["latitude"]]
        if elevation is not None:
            coordinates.append(elevation)
        geometry = {"type": "Point", "coordinates": coordinates}
    return {"type": "Feature", "id": row["station_id"], "geometry": geometry, "properties": row}


def collection(rows: Rows) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [feature(row) for row in rows]}


def geojson_response(body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), media_type=GEOJSON, headers=headers)


# The OpenAPI schema of the answers, enough for clients and fuzzers; RFC 7946 is the rule.
_POINT = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"const": "Point"},
        "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2},
    },
}
FEATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "id", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "id": {"type": "string"},
        "geometry": {"anyOf": [_POINT, {"type": "null"}]},
        "properties": {"type": "object"},
    },
}
COLLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": FEATURE_SCHEMA},
    },
}
