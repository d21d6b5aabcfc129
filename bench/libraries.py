"""Hand-written infrastructure against the well-kept library that would replace it, CPU per
request, in one process: the request-id/access-log/metrics middleware against
asgi-correlation-id and prometheus-fastapi-instrumentator, and the JSON log formatter
against python-json-logger. The libraries are not dependencies of the project:

    uv run --with asgi-correlation-id==5.0.1 --with prometheus-fastapi-instrumentator==8.1.0 \\
        --with python-json-logger==4.2.0 python -m bench.libraries [--write]

Requests go straight into the ASGI app (no sockets, no server), so the figures are what
each piece adds to a request, not a request's whole cost."""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message

from bench.common import write_section
from weather_api.api.middleware import RequestContext
from weather_api.logs import JsonFormatter, RequestIdFilter

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
REQUESTS = 20_000


def _plain_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _drive(app: ASGIApp, n: int) -> float:
    """CPU seconds per request for ``n`` GET /health calls."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health",
        "raw_path": b"/health",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    for _ in range(500):  # warm-up
        await app(dict(scope), receive, send)
    start = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.process_time() - start) / n


def _quiet_logging(formatter: logging.Formatter | None = None) -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RequestIdFilter())
    if formatter is not None:
        handler.setFormatter(formatter)
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)


def middleware_rows() -> list[tuple[str, float]]:
    from asgi_correlation_id import CorrelationIdMiddleware
    from prometheus_fastapi_instrumentator import Instrumentator

    _quiet_logging(JsonFormatter())
    variants: dict[str, Callable[[], ASGIApp]] = {}
    variants["no middleware (floor)"] = _plain_app

    def ours() -> ASGIApp:
        return RequestContext(_plain_app(), record_metrics=True)

    def libraries() -> ASGIApp:
        app = _plain_app()
        Instrumentator().instrument(app)
        app.add_middleware(CorrelationIdMiddleware)
        # The access log line ours writes: uvicorn's access logger would write it here.
        return RequestContext(app, record_metrics=False)

    variants["ours: RequestContext (id, access log, metrics)"] = ours
    variants["asgi-correlation-id + prometheus-fastapi-instrumentator (+ our access log)"] = (
        libraries
    )
    rows = []
    for name, build in variants.items():
        runs = [asyncio.run(_drive(build(), REQUESTS)) for _ in range(3)]
        rows.append((name, statistics.median(runs)))
    return rows


def formatter_rows() -> list[tuple[str, float]]:
    from pythonjsonlogger.json import JsonFormatter as LibraryFormatter

    library = LibraryFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )
    record = logging.LogRecord(
        "weather_api.access",
        logging.INFO,
        __file__,
        1,
        "%s %s %d",
        ("GET", "/api/weather", 200),
        None,
    )
    record.route, record.status, record.duration_ms = "/api/weather", 200, 1.2
    rows = []
    for name, formatter in (
        ("ours: JsonFormatter", JsonFormatter()),
        ("python-json-logger", library),
    ):
        runs = []
        for _ in range(3):
            start = time.process_time()
            for _ in range(REQUESTS):
                formatter.format(record)
            runs.append((time.process_time() - start) / REQUESTS)
        rows.append((name, statistics.median(runs)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    lines = [
        "## Hand-written infrastructure against libraries",
        "",
        "`uv run --with asgi-correlation-id==5.0.1 --with prometheus-fastapi-instrumentator"
        "==8.1.0 --with python-json-logger==4.2.0 python -m bench.libraries --write`: CPU per "
        f"request in one process, median of 3 runs of {REQUESTS:,} requests straight into "
        "the ASGI app (no server). Decisions: docs/architecture.md.",
        "",
        "| Piece | CPU per request (µs) |",
        "|---|---|",
    ]
    for name, seconds in middleware_rows() + formatter_rows():
        lines.append(f"| {name} | {seconds * 1e6:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(DOC, "Hand-written infrastructure against libraries", text)


if __name__ == "__main__":
    main()
