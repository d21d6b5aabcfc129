"""/api/stations: the stations, their metadata, period and completeness; search by place."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response

from weather_api.api import examples
from weather_api.api.caching import GEOJSON, conditional, wants_geojson
from weather_api.api.dependencies import QueryModel, read
from weather_api.api.errors import ApiError
from weather_api.api.examples import named
from weather_api.api.geojson import (
    COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    collection,
    feature,
    geojson_response,
)
from weather_api.api.listing import list_responses, respond
from weather_api.api.pagination import reject_repeated
from weather_api.api.schemas import (
    ImperialStationItem,
    Page,
    Problem,
    StationId,
    StationItem,
    StationQuery,
    StationsQuery,
)
from weather_api.db.queries import GEOMETRY_ELEVATION, StationRepository

router = APIRouter(prefix="/api/stations", tags=["stations"])
stations_query = QueryModel(StationsQuery)
station_query = QueryModel(StationQuery)


def _list_responses() -> dict[int | str, dict[str, Any]]:
    responses = list_responses(
        [examples.STATIONS_PAGE, examples.STATIONS_NEAR, examples.STATIONS_BBOX_IMPERIAL],
        [examples.STATIONS_CSV],
    )
    geojson = {"schema": COLLECTION_SCHEMA, "examples": named(examples.STATIONS_GEOJSON)}
    responses[200]["content"][GEOJSON] = geojson
    return responses


@router.get(
    "",
    summary="Stations",
    response_model=Page[StationItem | ImperialStationItem],
    responses=_list_responses(),
    openapi_extra=stations_query.openapi,
)
async def list_stations(
    request: Request,
    response: Response,
    query: Annotated[StationsQuery, Depends(stations_query)],
) -> Any:
    """Every station that has observations, with NOAA's metadata (name, coordinates,
    elevation, networks; `null` where unknown), its first and last day, number of days
    and, per variable, the share of days that have a value.

    `near=LAT,LON` adds each station's great-circle `distance_km` and orders by it;
    `radius_km` keeps the nearer ones, `bbox` those inside a box. `format=geojson` (or
    `Accept: application/geo+json`) gives the whole filtered result as a GeoJSON
    FeatureCollection."""
    repo = partial(StationRepository, near=query.point, units=query.units)
    if wants_geojson(request):
        async with read(request) as reader:
            cache = await conditional(request, response, reader)
            reject_repeated(request, query)
            features = await repo(reader).features(query.filters)
        return geojson_response(collection(features), cache.headers)
    return await respond(request, response, query=query, repo=repo, filename="stations.csv")


@router.get(
    "/{station_id}",
    summary="One station",
    response_model=StationItem | ImperialStationItem,
    responses={
        200: {
            "description": "The station; with format=geojson a GeoJSON Feature.",
            "content": {
                "application/json": {
                    "examples": named(examples.STATION_METRIC, examples.STATION_IMPERIAL)
                },
                GEOJSON: {"schema": FEATURE_SCHEMA, "examples": named(examples.STATION_GEOJSON)},
            },
        },
        304: {"description": "Not modified: the If-None-Match ETag is current."},
        404: {"model": Problem, "description": "No such station."},
        422: {"model": Problem, "description": "Not a station id."},
        503: {"model": Problem, "description": "Database unavailable; see Retry-After."},
    },
    openapi_extra=station_query.openapi,
)
async def get_station(
    request: Request,
    response: Response,
    station_id: Annotated[StationId, Path(description="Station id.", examples=["USC00110072"])],
    query: Annotated[StationQuery, Depends(station_query)],
) -> Any:
    """One station, as in the list."""
    async with read(request) as reader:
        cache = await conditional(request, response, reader)
        reject_repeated(request, query)
        rows = await StationRepository(reader, units=query.units).features(
            {"station_id": station_id}
        )
    if not rows:
        raise ApiError(404, f"no station {station_id}")
    if wants_geojson(request):
        return geojson_response(feature(rows[0]), cache.headers)
    # Rendered here like the list's items: a model would add `distance_km: null`.
    item = {k: v for k, v in rows[0].items() if k != GEOMETRY_ELEVATION}
    return Response(orjson.dumps(item), media_type="application/json", headers=cache.headers)
