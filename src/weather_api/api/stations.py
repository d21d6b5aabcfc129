"""/api/stations: the stations, their state, period and completeness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from weather_api.api import examples
from weather_api.api.caching import CacheDep
from weather_api.api.dependencies import ReadSessionDep
from weather_api.api.errors import ApiError
from weather_api.api.listing import list_responses, respond
from weather_api.api.schemas import Page, Problem, StationId, StationItem, StationsQuery
from weather_api.db.queries import StationRepository

router = APIRouter(prefix="/api/stations", tags=["stations"])


@router.get(
    "",
    summary="Stations",
    response_model=Page[StationItem],
    responses=list_responses([examples.STATIONS_PAGE], [examples.STATIONS_CSV]),
)
async def list_stations(
    request: Request,
    response: Response,
    query: Annotated[StationsQuery, Query()],
    session: ReadSessionDep,
    cache: CacheDep,
) -> Any:
    """Every station with its state, first and last day, number of days and, per variable,
    the share of days that have a value."""
    return await respond(
        request,
        response,
        query=query,
        cache=cache,
        session=session,
        repo=StationRepository(session),
        filename="stations.csv",
    )


@router.get(
    "/{station_id}",
    summary="One station",
    response_model=StationItem,
    responses={
        200: {"description": "The station."},
        304: {"description": "Not modified: the If-None-Match ETag is current."},
        404: {"model": Problem, "description": "No such station."},
        422: {"model": Problem, "description": "Not a station id."},
        503: {"model": Problem, "description": "Database unavailable; see Retry-After."},
    },
)
async def get_station(
    station_id: Annotated[StationId, Path(description="Station id.", examples=["USC00110072"])],
    session: ReadSessionDep,
    cache: CacheDep,
) -> Any:
    """One station, as in the list."""
    station = await StationRepository(session).get(station_id)
    if station is None:
        raise ApiError(404, f"no station {station_id}")
    return station
