"""/api/yield: US corn grain yield per year, optionally beside that year's weather."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from weather_api.api import examples
from weather_api.api.dependencies import QueryModel
from weather_api.api.listing import list_responses, respond
from weather_api.api.schemas import Page, YieldItem, YieldQuery
from weather_api.db.climate import SeasonYieldRepository
from weather_api.db.queries import ListRepository, Reader, YieldRepository

router = APIRouter(prefix="/api/yield", tags=["yield"])
yield_query = QueryModel(YieldQuery)
_YIELD = ("year", "corn_grain_yield_kt")


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """Put the weather means under ``weather``, as the JSON item has them."""
    weather = {k: row.pop(k) for k in list(row) if k not in _YIELD}
    return row | {"weather": weather or None}


def _nest_season(row: dict[str, Any]) -> dict[str, Any]:
    """Put the season means under ``season``, as the JSON item has them (CSV: flat)."""
    season = {k: row.pop(k) for k in list(row) if k not in _YIELD}
    return row | {"season": season}


@router.get(
    "",
    summary="US corn grain yield",
    response_model=Page[YieldItem],
    responses=list_responses(
        [examples.YIELD_PAGE, *examples.recorded("yield")], [examples.YIELD_CSV]
    ),
    openapi_extra=yield_query.openapi,
)
async def list_yield(
    request: Request,
    response: Response,
    query: Annotated[YieldQuery, Depends(yield_query)],
) -> Any:
    """US corn grain yield per year, in thousand metric tons. With `include=weather` each
    year also carries the mean over stations of that year's yearly stats. With
    `include=season`, the growing-season weather of that year: the mean over stations of
    the season's `gdd`, `edd`, `total_precipitation_mm`, `avg_max_temp_c` and
    `avg_min_temp_c` (as `/api/weather/summary?period=season` has them), each counting only
    the stations whose season misses at most `max_missing` (default 10) days of that
    figure, with the number of stations it stands on; `state` averages only those states'
    stations. The rows a yield model starts from; `format=csv` has them flat.
    `units=imperial`: °F, inches and °F·days (`gdd_f`, `edd_f`: 1.8 times the °C·days);
    the degree-day parameters stay in °C."""
    season = query.include == "season"
    repo: Callable[[Reader], ListRepository] = (
        partial(SeasonYieldRepository, units=query.units)
        if season
        else partial(YieldRepository, weather=query.include == "weather", units=query.units)
    )
    return await respond(
        request,
        response,
        query=query,
        repo=repo,
        filename="corn-yield.csv",
        item=_nest_season if season else _nest,
    )
