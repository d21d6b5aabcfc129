"""Whole results as CSV, streamed by PostgreSQL's COPY with backpressure: a slow client
slows the query instead of filling memory, and a client that leaves cancels it.

Exports are bounded so that any number of exporting clients cannot starve pages and probes:
a few at once per process (``WEATHER_MAX_CONCURRENT_EXPORTS``; past it an export waits its
turn up to ``WEATHER_EXPORT_QUEUE_TIMEOUT_S``, holding no connection, then is a 503), each on a
pool of its own (``create_export_engine``), and a client that stops reading is dropped by
the server after ``WEATHER_SEND_TIMEOUT_S`` (``weather_api.server``), which cancels its COPY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, suppress
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from weather_api.api.errors import RETRY_AFTER_S, problem
from weather_api.db.queries import AnySelect

_BUFFERED_CHUNKS = 8
_CLIENT_GRACE_S = 5  # as database.create_engine gives the statement timeout


class _FirstChunkFirst(StreamingResponse):
    """Starts the response only once the body has its first chunk (COPY's header line), so
    that an export that cannot start (the database down, a lock held past the export
    timeout) raises before any status is sent and is answered 503 by the error handlers,
    instead of a 200 cut short. The body is closed however the response ends, so that a
    client that leaves frees the connection at once, not when the garbage collector
    gets to it."""

    def __init__(
        self, *args: Any, slots: asyncio.Semaphore, queue_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.slots = slots
        self.queue_timeout_s = queue_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = self.body_iterator
        assert isinstance(source, AsyncGenerator)  # csv_response's body()
        try:
            # A few parallel downloads wait their turn rather than fail; a free slot is
            # taken without waiting.
            async with asyncio.timeout(self.queue_timeout_s):
                await self.slots.acquire()
        except TimeoutError:
            await source.aclose()  # not started: it holds no connection yet
            busy = problem(
                503,
                "too many CSV exports are running; try again shortly, or page through the "
                "JSON list",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await busy(scope, receive, send)
            return
        try:
            async with aclosing(source):
                try:
                    first = await anext(source)
                except StopAsyncIteration:
                    first = b""

                async def body() -> AsyncGenerator[str | bytes | memoryview]:
                    yield first
                    async for chunk in source:
                        yield chunk

                self.body_iterator = body()
                await super().__call__(scope, receive, send)
        finally:
            self.slots.release()


def csv_response(
    engine: AsyncEngine,
    stmt: AnySelect,
    *,
    slots: asyncio.Semaphore,
    queue_timeout_s: float,
    filename: str,
    headers: dict[str, str],
    timeout_ms: int,
) -> StreamingResponse:
    """The body holds its own connection: the request's session closes before a stream
    ends."""
    # The SQL with IN lists expanded, and its positional parameters, as COPY takes them.
    expanded = stmt.compile(dialect=engine.dialect).construct_expanded_state()
    params = expanded.positional_parameters

    async def body() -> AsyncIterator[bytes]:
        async with engine.connect() as conn:
            # An export runs as long as the client reads: it gets its own time limit.
            await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # checked out above
            chunks: asyncio.Queue[bytes] = asyncio.Queue(_BUFFERED_CHUNKS)
            copy = asyncio.create_task(
                raw.copy_from_query(
                    expanded.statement,
                    *params,
                    output=chunks.put,
                    format="csv",
                    header=True,
                    # Else asyncpg's command_timeout (the statement timeout's) cuts a long
                    # export that a slow client reads; the server's timeout comes first.
                    timeout=timeout_ms / 1000 + _CLIENT_GRACE_S,
                )
            )
            getter: asyncio.Future[bytes] | None = None
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
                if getter is not None and not getter.done():  # cancelled while waiting
                    getter.cancel()
                if not copy.done():
                    copy.cancel()
                    with suppress(asyncio.CancelledError):
                        await copy

    return _FirstChunkFirst(
        body(),
        slots=slots,
        queue_timeout_s=queue_timeout_s,
        media_type="text/csv; charset=utf-8",
        headers=headers | {"Content-Disposition": f'attachment; filename="{filename}"'},
    )
