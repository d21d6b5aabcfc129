"""/api/weather/summary: period summaries with degree days and missing-day rules;
/api/weather/normals: monthly normals."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from weather_api.api import examples
from weather_api.api.dependencies import QueryModel
from weather_api.api.listing import list_responses, respond
from weather_api.api.schemas import (
    _DEFINITIONS,
    ImperialNormalsItem,
    ImperialSummaryItem,
    NormalsItem,
    NormalsQuery,
    Page,
    SummaryItem,
    SummaryQuery,
)
from weather_api.db.climate import NormalsRepository, SummaryRepository

router = APIRouter(prefix="/api/weather", tags=["climate"])
_IMPERIAL = """
`units=imperial`: means in °F (`avg_max_temp_f`, `avg_min_temp_f`), totals in inches
(`total_precipitation_in`), degree days in °F·days (`gdd_f`, `edd_f`: 1.8 times the °C·days,
as computed with the base, cap and threshold converted, 50 and 86 °F by default) and
anomalies in °F and inches (`avg_max_temp_anomaly_f`, `avg_min_temp_anomaly_f`,
`total_precipitation_anomaly_in`; a temperature difference is 1.8 times its °C, no + 32).
The degree-day parameters (`gdd_base_c`, `gdd_cap_c`, `edd_threshold_c`) stay in °C
whatever `units` is.
"""
summary_query = QueryModel(SummaryQuery)
normals_query = QueryModel(NormalsQuery)


@router.get(
    "/summary",
    summary="Monthly, yearly, seasonal or whole-range summaries per station",
    description=(
        "Per station and period: mean max and min temperature (°C), precipitation total "
        "(mm), growing and extreme degree days (°C·days), each with the days it stands on, "
        "sorted by station and period. Periods: `month` (default), `year`, `season` "
        "(`season_start` to `season_end` of each year, default 04-01 to 09-30) or `all`; "
        "every station and every period of the range is listed, even with no data. With "
        "`anomalies=true` (monthly only) each figure gains its departure from the normal "
        "of its station and month over the whole data.\n" + _IMPERIAL + _DEFINITIONS
    ),
    response_model=Page[SummaryItem | ImperialSummaryItem],
    responses=list_responses(
        examples.recorded("summary"), [examples.SUMMARY_CSV, examples.SUMMARY_CSV_IMPERIAL]
    ),
    openapi_extra=summary_query.openapi,
)
async def list_weather_summary(
    request: Request,
    response: Response,
    query: Annotated[SummaryQuery, Depends(summary_query)],
) -> Any:
    return await respond(
        request,
        response,
        query=query,
        repo=partial(SummaryRepository, units=query.units),
        filename="weather-summary.csv",
    )


@router.get(
    "/normals",
    summary="Monthly normals per station",
    description=(
        "Per station and calendar month (1 to 12): the mean over the years `start_year` to "
        "`end_year` (default the whole data: 1985 to 2014, thirty years) of the month's mean "
        "maximum and minimum temperature (°C) and of its precipitation total (mm), counting "
        "only the years whose month misses at most `max_missing` (default 5) days of that "
        "variable, with the number of years each figure stands on; `null` when fewer than "
        "80% of the years of the range count (the WMO guideline for normals). "
        "`units=imperial`: °F and inches (`avg_max_temp_f`, `avg_min_temp_f`, "
        "`total_precipitation_in`).\n" + _DEFINITIONS
    ),
    response_model=Page[NormalsItem | ImperialNormalsItem],
    responses=list_responses(examples.recorded("normals"), [examples.NORMALS_CSV]),
    openapi_extra=normals_query.openapi,
)
async def list_weather_normals(
    request: Request,
    response: Response,
    query: Annotated[NormalsQuery, Depends(normals_query)],
) -> Any:
    return await respond(
        request,
        response,
        query=query,
        repo=partial(NormalsRepository, units=query.units),
        filename="weather-normals.csv",
    )
