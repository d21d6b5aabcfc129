"""What every list endpoint does once it has its filters: a JSON page or a CSV export."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.api.caching import Validators, wants_csv
from weather_api.api.dependencies import get_database
from weather_api.api.exports import csv_response
from weather_api.api.pagination import page_envelope, page_request, reject_repeated
from weather_api.api.schemas import PageQuery, Problem
from weather_api.db.paging import PageRequest
from weather_api.db.queries import AnySelect, Rows, last_key
from weather_api.settings import Settings

PageFn = Callable[[PageRequest], Awaitable[tuple[Rows, int]]]


async def respond(
    request: Request,
    response: Response,
    *,
    query: PageQuery,
    cache: Validators,
    session: AsyncSession,
    key: tuple[Sequence[str], Sequence[Callable[[Any], Any]]],
    page: PageFn,
    export: Callable[[], AnySelect],
    filename: str,
) -> Any:
    """``key`` names the ordering columns and how to read them back from a cursor.

    The page is rendered here, with orjson, rather than validated against the route's
    response model and dumped by FastAPI: its rows come from typed SQL columns, and
    building a model instance per item cost more than the query of a page. The model still
    documents the response in the OpenAPI document."""
    reject_repeated(request, query)
    if wants_csv(request):
        settings: Settings = request.app.state.settings
        # The export streams on a connection of its own pool for as long as the client
        # reads: give the request's back first.
        await session.close()
        database = get_database(request)
        return csv_response(
            database.export_engine or database.read_engine,
            export(),
            slots=request.app.state.export_slots,
            filename=filename,
            headers=cache.headers,
            timeout_ms=settings.export_timeout_ms,
        )
    names, types = key
    paging = page_request(query, types)
    rows, total = await page(paging)
    body = page_envelope(request, response, paging, rows, total, last_key(rows, names))
    rendered = Response(orjson.dumps(body, default=_json_default), media_type="application/json")
    # Headers set on the injected response (ETag, Link): FastAPI copies them only onto a
    # response it renders itself.
    rendered.headers.raw.extend(response.headers.raw)
    return rendered


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


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
