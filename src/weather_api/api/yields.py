"""/api/yield: US corn grain yield per year, optionally beside that year's weather."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from weather_api.api.caching import CacheDep
from weather_api.api.dependencies import ReadSessionDep
from weather_api.api.listing import list_responses, respond
from weather_api.api.schemas import Page, YieldItem, YieldQuery
from weather_api.db.queries import YieldRepository

router = APIRouter(prefix="/api/yield", tags=["yield"])
_YIELD = ("year", "corn_grain_yield_kt")


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """Put the weather means under ``weather``, as the JSON item has them."""
    weather = {k: row.pop(k) for k in list(row) if k not in _YIELD}
    return row | {"weather": weather or None}


@router.get(
    "",
    summary="US corn grain yield",
    response_model=Page[YieldItem],
    responses=list_responses("year,corn_grain_yield_kt\n1985,225447\n"),
)
async def list_yield(
    request: Request,
    response: Response,
    query: Annotated[YieldQuery, Query()],
    session: ReadSessionDep,
    cache: CacheDep,
) -> Any:
    """US corn grain yield per year, in thousand metric tons. With `include=weather` each
    year also carries the mean over stations of that year's yearly stats."""
    repo = YieldRepository(session, weather=query.include == "weather", units=query.units)
    return await respond(
        request,
        response,
        query=query,
        cache=cache,
        session=session,
        repo=repo,
        filename="corn-yield.csv",
        item=_nest,
    )
