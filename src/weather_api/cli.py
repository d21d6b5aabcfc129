"""The ``weather-api`` command: serve, migrate, load, stats."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the loader's worker processes re-import this module
    from weather_api.loader import LoadSummary
    from weather_api.settings import Settings


def _primary_url(settings: Settings) -> str:
    from weather_api.database import database_url
    from weather_api.settings import get_settings

    url = database_url(settings)
    # The app and child processes (uvicorn workers) reuse it instead of starting their own.
    os.environ["WEATHER_DATABASE_URL"] = url
    get_settings.cache_clear()
    return url


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from weather_api.database import migrate

    migrate(_primary_url(settings))
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through SystemExit
    # instead lets atexit stop the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    uvicorn.run(
        "weather_api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers or settings.workers,
        log_config=None,
        proxy_headers=True,
    )
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from weather_api.database import migrate

    migrate(_primary_url(settings))
    return 0


async def _load(sources: list[str], settings: Settings, show_progress: bool) -> LoadSummary:
    from weather_api.database import create_engine
    from weather_api.loader import Loader
    from weather_api.sources import SourceLimits

    engine = create_engine(_primary_url(settings), settings, pool_size=2)
    limits = SourceLimits(settings.max_download_bytes, settings.max_extracted_bytes)
    try:
        if not show_progress:
            return await Loader(engine, limits).run(sources, trigger="cli")
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("loading", total=None)

            def advance(summary: LoadSummary) -> None:
                bar.update(task, total=summary.files_total, completed=summary.files_done)

            return await Loader(engine, limits).run(sources, trigger="cli", progress=advance)
    finally:
        await engine.dispose()


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    from weather_api.database import migrate
    from weather_api.loader import LoadInProgressError

    migrate(_primary_url(settings))
    sources = args.sources or [settings.data_source]
    try:
        summary = asyncio.run(_load(sources, settings, sys.stderr.isatty() and not args.json))
    except LoadInProgressError as exc:
        print(f"weather-api load: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(summary.as_dict()))
    elif summary.status != "succeeded":
        failed = "\n".join(
            f"  {e['file']}:{e['line'] or '-'}: {e['message']}" for e in summary.errors
        )
        print(f"load failed: {summary.message or ''}\n{failed}".rstrip(), file=sys.stderr)
    return 0 if summary.status == "succeeded" else 1


async def _stats(settings: Settings) -> int:
    from weather_api.database import create_engine
    from weather_api.stats import refresh_yearly_stats

    engine = create_engine(_primary_url(settings), settings, pool_size=1)
    try:
        async with engine.begin() as conn:
            return await refresh_yearly_stats(conn)
    finally:
        await engine.dispose()


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from weather_api.database import migrate

    migrate(_primary_url(settings))
    rows = asyncio.run(_stats(settings))
    print(f"recomputed {rows} station-years")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weather-api",
        description="Weather observations, yearly statistics and corn yield over a REST API. "
        "Configured by WEATHER_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default WEATHER_WORKERS)")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="upgrade the schema to head").set_defaults(
        handler=cmd_migrate
    )

    load = commands.add_parser("load", help="load station and yield files")
    load.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="directory, file, .zip/.tar.gz archive or http(s) URL (default WEATHER_DATA_SOURCE)",
    )
    load.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    load.set_defaults(handler=cmd_load)

    commands.add_parser("stats", help="recompute every station's yearly stats").set_defaults(
        handler=cmd_stats
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from weather_api.logs import configure_logging
    from weather_api.settings import get_settings

    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"weather-api: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    return int(args.handler(args, settings))
