"""Per request: an id for the logs and the response, one access log line, request metrics.

Pure ASGI rather than BaseHTTPMiddleware, so a streamed CSV export passes through chunk by
chunk instead of being buffered, and a request costs a few microseconds here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weather_api.api import metrics
from weather_api.logs import request_id

access_log = logging.getLogger("weather_api.access")
_HEADER = b"x-request-id"
# Ids from clients end up in log lines and a response header: no spaces, quotes or controls.
_VALID_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# Any other method a client sends is counted as "OTHER": labels must stay few.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER:
            candidate = value.decode("latin-1")
            return candidate if _VALID_ID.fullmatch(candidate) else None
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/stations/{station_id}``), never the raw
    path, which would make a metric label per station."""
    route = scope.get("route")
    if route is None and (endpoint := scope.get("endpoint")) is not None:
        # FastAPI records only its own routes; find plain ones (/openapi.json, the docs'
        # static files) by the endpoint the router chose.
        route = next(
            (
                r
                for r in scope["app"].routes
                if endpoint in (getattr(r, "endpoint", None), getattr(r, "app", None))
            ),
            None,
        )
    return getattr(route, "path", None) or metrics.UNMATCHED


def _single_vary(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers with one Vary naming each field once: the cache dependency names
    Accept-Encoding for every response, and the gzip middleware adds it again to those it
    compresses."""
    others, fields = [], []
    for name, value in headers:
        if name.lower() == b"vary":
            fields += [field.strip() for field in value.split(b",") if field.strip()]
        else:
            others.append((name, value))
    if fields:
        others.append((b"vary", b", ".join(dict.fromkeys(fields))))
    return others


class Head:
    """HEAD wherever GET is: the request goes to the app as a GET, and the response leaves
    with its status and headers, gzip's included, and no body. A streamed body (a CSV
    export) is stopped after its first chunk, as if the client had left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        done = asyncio.Event()

        async def headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not done.is_set():
                done.set()
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def receive_until_done() -> Message:
            # Tells a streaming response that the client has gone once the headers are out.
            incoming = asyncio.ensure_future(receive())
            finished = asyncio.ensure_future(done.wait())
            await asyncio.wait({incoming, finished}, return_when=asyncio.FIRST_COMPLETED)
            if incoming.done():
                finished.cancel()
                return incoming.result()
            incoming.cancel()
            return {"type": "http.disconnect"}

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive_until_done, headers_only)
        finally:
            # The route the router chose, for the access log and metrics outside.
            scope.update({k: as_get[k] for k in ("route", "endpoint") if k in as_get})


class RequestContext:
    def __init__(self, app: ASGIApp, *, record_metrics: bool) -> None:
        self.app = app
        self.record_metrics = record_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = _incoming_id(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        header = (_HEADER, rid.encode())
        status = 500  # unless a response starts: the app raised

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = _single_vary(message.get("headers", ()))
                message = {**message, "headers": [*headers, header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            method, route = scope["method"], route_template(scope)
            if self.record_metrics:
                metrics.observe(method if method in _METHODS else "OTHER", route, status, seconds)
            duration_ms = round(seconds * 1000, 1)
            access_log.info(
                "%s %s %d %.1f ms",
                method,
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
        # Not reset when the app raised: the error handler outside this middleware logs the
        # exception and should tag it too. uvicorn gives each request its own context anyway.
        request_id.reset(token)
