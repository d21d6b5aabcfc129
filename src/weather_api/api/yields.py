"""/api/yield: US corn grain yield per year, optionally beside that year's weather."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from weather_api.api.caching import CacheDep
from weather_api.api.dependencies import ReadSessionDep
from weather_api.api.listing import list_responses, respond
from weather_api.api.schemas import Page, YieldItem, YieldQuery
from weather_api.db.paging import PageRequest
from weather_api.db.queries import Rows, YieldRepository

router = APIRouter(prefix="/api/yield", tags=["yield"])
_WEATHER = ("stations", "avg_max_temp_c", "avg_min_temp_c", "avg_total_precipitation_cm")


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """Put the weather means under ``weather``, as the JSON item has them."""
    weather = {k: row.pop(k) for k in _WEATHER if k in row}
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
    first, last = query.bounds
    weather = query.include == "weather"
    repo = YieldRepository(session)

    async def page(paging: PageRequest) -> tuple[Rows, int]:
        rows, total = await repo.page(first, last, paging, weather=weather)
        return [_nest(r) for r in rows], total

    return await respond(
        request,
        response,
        query=query,
        cache=cache,
        session=session,
        key=(("year",), repo.KEY_TYPES),
        page=page,
        export=lambda: repo.select_items(first, last, weather=weather),
        filename="corn-yield.csv",
    )
