"""Whole results as CSV, streamed by PostgreSQL's COPY with backpressure: a slow client
slows the query instead of filling memory, and a client that leaves cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress

from fastapi.responses import StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from weather_api.repository import AnySelect

_BUFFERED_CHUNKS = 8


def csv_response(
    engine: AsyncEngine,
    stmt: AnySelect,
    *,
    filename: str,
    headers: dict[str, str],
    timeout_ms: int,
) -> StreamingResponse:
    """The body holds its own connection: the request's session closes before a stream
    ends."""
    compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]

    async def body() -> AsyncIterator[bytes]:
        async with engine.connect() as conn:
            # An export runs as long as the client reads: it gets its own time limit.
            await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # checked out above
            chunks: asyncio.Queue[bytes] = asyncio.Queue(_BUFFERED_CHUNKS)
            copy = asyncio.create_task(
                raw.copy_from_query(
                    str(compiled), *params, output=chunks.put, format="csv", header=True
                )
            )
            try:
                while not (copy.done() and chunks.empty()):
                    getter = asyncio.ensure_future(chunks.get())
                    await asyncio.wait({getter, copy}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield bytes(getter.result())  # asyncpg hands out bytearrays
                    else:
                        getter.cancel()
                copy.result()
            finally:
                if not copy.done():
                    copy.cancel()
                    with suppress(asyncio.CancelledError):
                        await copy

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers=headers | {"Content-Disposition": f'attachment; filename="{filename}"'},
    )
