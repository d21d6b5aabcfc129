"""What every list endpoint does once it has its filters: a JSON page or a CSV export."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request, Response

from weather_api.caching import Validators, wants_csv
from weather_api.dependencies import get_database
from weather_api.exports import csv_response
from weather_api.pagination import PageRequest, page_envelope
from weather_api.repository import AnySelect, Rows, last_key
from weather_api.schemas import PageQuery, Problem
from weather_api.settings import Settings

PageFn = Callable[[PageRequest], Awaitable[tuple[Rows, int]]]


async def respond(
    request: Request,
    response: Response,
    *,
    query: PageQuery,
    cache: Validators,
    settings: Settings,
    key: tuple[Sequence[str], Sequence[Callable[[Any], Any]]],
    page: PageFn,
    export: Callable[[], AnySelect],
    filename: str,
) -> Any:
    """``key`` names the ordering columns and how to read them back from a cursor."""
    if wants_csv(request):
        return csv_response(
            get_database(request).read_engine,
            export(),
            filename=filename,
            headers=cache.headers,
            timeout_ms=settings.export_timeout_ms,
        )
    names, types = key
    paging = PageRequest.from_query(query, types)
    rows, total = await page(paging)
    return page_envelope(request, response, paging, rows, total, last_key(rows, names))


def list_responses(csv_example: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses shared by the list endpoints."""
    return {
        200: {
            "description": "A page of items, or with format=csv the whole result as CSV.",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": csv_example}},
        },
        304: {"description": "Not modified: the If-None-Match ETag is current."},
        422: {"model": Problem, "description": "Invalid parameters, each named in `errors`."},
        503: {"model": Problem, "description": "Database unavailable; see Retry-After."},
    }
