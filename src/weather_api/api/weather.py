"""/api/weather: daily observations; /api/weather/stats: yearly statistics."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from weather_api.api import examples
from weather_api.api.dependencies import QueryModel
from weather_api.api.listing import list_responses, respond
from weather_api.api.schemas import (
    ImperialStatsItem,
    ImperialWeatherItem,
    Page,
    StatsItem,
    StatsQuery,
    WeatherItem,
    WeatherQuery,
)
from weather_api.db.queries import StatsRepository, WeatherRepository

router = APIRouter(prefix="/api/weather", tags=["weather"])
weather_query = QueryModel(WeatherQuery)
stats_query = QueryModel(StatsQuery)


@router.get(
    "",
    summary="Daily observations",
    response_model=Page[WeatherItem | ImperialWeatherItem],
    responses=list_responses(
        [examples.WEATHER_PAGE, examples.WEATHER_IMPERIAL], [examples.WEATHER_CSV]
    ),
    openapi_extra=weather_query.openapi,
)
async def list_weather(
    request: Request,
    response: Response,
    query: Annotated[WeatherQuery, Depends(weather_query)],
) -> Any:
    """Daily max/min temperature (°C) and precipitation (mm) per station, sorted by station
    then date; `null` where the station reported no value. `units=imperial`: °F and
    inches."""
    return await respond(
        request,
        response,
        query=query,
        repo=partial(WeatherRepository, units=query.units),
        filename="weather.csv",
    )


@router.get(
    "/stats",
    summary="Yearly statistics per station",
    response_model=Page[StatsItem | ImperialStatsItem],
    responses=list_responses([examples.STATS_PAGE, examples.STATS_IMPERIAL], [examples.STATS_CSV]),
    openapi_extra=stats_query.openapi,
)
async def list_weather_stats(
    request: Request,
    response: Response,
    query: Annotated[StatsQuery, Depends(stats_query)],
) -> Any:
    """Per station and year: mean max and min temperature (°C; °F with `units=imperial`),
    total precipitation (cm; inches),
    and how many days each figure stands on. Missing days are ignored; a figure with no
    day to stand on is `null`."""
    return await respond(
        request,
        response,
        query=query,
        repo=partial(StatsRepository, units=query.units),
        filename="weather-stats.csv",
    )
