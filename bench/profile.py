"""Where a request's CPU goes: the app in this process (httpx's ASGI transport, no server,
no network), each URL requested N times under cProfile with a CPU-time clock, so time spent
waiting for PostgreSQL or for other processes on a shared machine is not counted.

    uv run python -m bench.profile --database-url URL [--requests N] [URL-PATH ...]

The database must hold the data (``weather-api load``). The response cache is off: the
point is the path of a request the app answers itself. Prints, per path, CPU per request
and the share of it in each part of the path, then cProfile's top entries."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence

from httpx import ASGITransport, AsyncClient

from bench.common import in_process_app

PATHS = (
    "/api/weather?page_size=1",
    "/api/weather?station_id=USC00110072&start_date=2000-01-01&end_date=2000-12-31&page_size=366",
)
# The parts of the request path, by the functions whose cumulative time measures them.
PARTS = {
    "the app, middleware included": ("middleware.py", "__call__"),
    "pool checkout (and ping)": ("base.py", "_checkout"),
    "data version (ETag)": ("caching.py", "conditional"),
    "query parameters and dependencies": ("utils.py", "solve_dependencies"),
    "rows: page and count (SQLAlchemy, asyncpg)": ("queries.py", "page"),
    "page envelope (links, totals)": ("pagination.py", "page_envelope"),
    "orjson": ("~", "dumps"),
    "access log": ("__init__.py", "info"),
}


def _cumulative(stats: pstats.Stats, file_suffix: str, name: str) -> float:
    total = 0.0
    for (file, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        if (func == name or f"{name}>" in func) and file.endswith(file_suffix):
            total += row[3]
    return total


async def profile(url: str, paths: Sequence[str], requests: int) -> None:
    app = in_process_app(url)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client,
    ):
        for path in paths:
            for _ in range(20):  # warm-up: compiled statements, pool, caches
                (await client.get(path)).raise_for_status()
            profiler = cProfile.Profile(time.process_time)
            start = time.process_time()
            profiler.enable()
            for _ in range(requests):
                await client.get(path)
            profiler.disable()
            cpu_ms = (time.process_time() - start) * 1000 / requests
            stats = pstats.Stats(profiler)
            whole = stats.total_tt  # type: ignore[attr-defined]
            print(f"\n{path}: {cpu_ms:.2f} ms CPU per request, the client's included; shares:")
            for part, (suffix, name) in PARTS.items():
                share = _cumulative(stats, suffix, name) / whole
                print(f"  {part:<55} {share:6.1%}")
            out = io.StringIO()
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(15)
            print(out.getvalue().split("\n", 6)[-1][:3000])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("paths", nargs="*", default=PATHS)
    args = parser.parse_args(argv)
    asyncio.run(profile(args.database_url, args.paths, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
