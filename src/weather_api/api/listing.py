"""What every list endpoint does once it has its filters: a JSON page or a CSV export."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, Response

from weather_api.api.caching import conditional, wants_csv
from weather_api.api.dependencies import get_database, read
from weather_api.api.examples import Example, named
from weather_api.api.exports import csv_response
from weather_api.api.pagination import page_envelope, page_request, reject_repeated
from weather_api.api.schemas import PageQuery, Problem
from weather_api.db.queries import ListRepository, Reader, last_key
from weather_api.settings import Settings


async def respond(
    request: Request,
    response: Response,
    *,
    query: PageQuery,
    repo: Callable[[Reader], ListRepository],
    filename: str,
    item: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Any:
    """A page of the rows of ``repo`` (made on the request's reader) filtered by ``query``,
    as JSON, or all of them as CSV.

    The page is rendered here, with orjson, rather than validated against the route's
    response model and dumped by FastAPI: its rows come from typed SQL columns, and
    building a model instance per item cost more than the query of a page. The model still
    documents the response in the OpenAPI document. ``item`` reshapes a JSON item."""
    async with read(request) as reader:
        cache = await conditional(request, response, reader)
        reject_repeated(request, query)
        source = repo(reader)
        if wants_csv(request):
            settings: Settings = request.app.state.settings
            # The export streams on a connection of its own pool for as long as the client
            # reads; the request's goes back as this block ends, before the first byte.
            database = get_database(request)
            return csv_response(
                database.export_engine or database.read_engine,
                source.select_items(query.filters),
                slots=request.app.state.export_slots,
                queue_timeout_s=settings.export_queue_timeout_s,
                filename=filename,
                headers=cache.headers,
                timeout_ms=settings.export_timeout_ms,
            )
        paging = page_request(query, source.KEY_TYPES)
        rows, total = await source.page(query.filters, paging, cache.data_version)
    # Rendered with the connection given back.
    last = last_key(rows, source.KEY)
    if item is not None:
        rows = [item(row) for row in rows]
    body = page_envelope(request, response, paging, rows, total, last)
    rendered = Response(orjson.dumps(body, default=_json_default), media_type="application/json")
    # Headers set on the injected response (ETag, Link): FastAPI copies them only onto a
    # response it renders itself.
    rendered.headers.raw.extend(response.headers.raw)
    return rendered


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def list_responses(
    json_examples: Sequence[Example], csv_examples: Sequence[Example]
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses shared by the list endpoints; the examples are real answers, each
    named by its request (see ``examples``)."""
    return {
        200: {
            "description": "A page of items, or with format=csv the whole result as CSV.",
            "content": {
                "application/json": {"examples": named(*json_examples)},
                "text/csv": {"schema": {"type": "string"}, "examples": named(*csv_examples)},
            },
        },
        304: {"description": "Not modified: the If-None-Match ETag is current."},
        422: {"model": Problem, "description": "Invalid parameters, each named in `errors`."},
        503: {"model": Problem, "description": "Database unavailable; see Retry-After."},
    }
