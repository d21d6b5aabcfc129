"""The ``weather-api`` command: serve, migrate, load, stats, smoke."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # imported where used: the loader's worker processes re-import this module
    from concurrent.futures import ProcessPoolExecutor

    from weather_api.ingest.loader import LoadSummary
    from weather_api.settings import Settings


def _primary_url(settings: Settings) -> str:
    from weather_api.db.engine import database_url
    from weather_api.settings import get_settings

    url = database_url(settings)
    # The app and child processes (uvicorn workers) reuse it instead of starting their own.
    os.environ["WEATHER_DATABASE_URL"] = url
    get_settings.cache_clear()
    return url


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from weather_api.db.engine import migrate
    from weather_api.server import BoundedHttpProtocol

    migrate(_primary_url(settings))
    workers = args.workers or settings.workers
    if settings.metrics_enabled and workers > 1:
        _share_metrics_between_workers()
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through SystemExit
    # instead lets atexit stop the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    _raise_open_file_limit(settings.max_connections)
    uvicorn.run(
        "weather_api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        log_config=None,
        # The app writes its own access line, with route, duration and request id.
        access_log=False,
        proxy_headers=True,
        # Deadlines for headers, bodies and stalled readers, and a cap on open connections
        # (uvicorn's limit_concurrency counts only connections that finished their headers).
        http=BoundedHttpProtocol,
    )
    return 0


def _raise_open_file_limit(connections: int) -> None:
    """Room for ``connections`` sockets besides database connections and files, so that
    the connection cap, not the descriptor limit, is what a flood of clients meets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))


def _share_metrics_between_workers() -> None:
    """Point prometheus_client's multiprocess mode at a directory (before the workers
    start): each worker writes its values there and /metrics sums them."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        Path(directory).mkdir(parents=True, exist_ok=True)
        # Values of an earlier run would add to this one's.
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
        return
    directory = tempfile.mkdtemp(prefix="weather-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def cmd_smoke(args: argparse.Namespace) -> int:
    from weather_api import smoke

    return smoke.main(args.base_url, args.timeout)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from weather_api.db.engine import migrate

    migrate(_primary_url(settings))
    return 0


async def _load(
    sources: list[str], settings: Settings, show_progress: bool, worker: ProcessPoolExecutor
) -> LoadSummary:
    from weather_api.db.engine import at_head, create_load_engine, migrate
    from weather_api.ingest.loader import Loader
    from weather_api.ingest.sources import SourceLimits

    url = _primary_url(settings)
    engine = create_load_engine(url, settings)
    limits = SourceLimits.from_settings(settings, restricted=False)
    try:
        async with engine.connect() as conn:
            current = await at_head(conn)
        if not current:  # else alembic, its imports and its upgrade would find nothing to do
            await asyncio.to_thread(migrate, url)
        if not show_progress:
            return await Loader(engine, limits).run(sources, trigger="cli", worker=worker)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("loading", total=None)

            def advance(summary: LoadSummary) -> None:
                bar.update(task, total=summary.files_total, completed=summary.files_done)

            return await Loader(engine, limits).run(
                sources, trigger="cli", progress=advance, worker=worker
            )
    finally:
        await engine.dispose()


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    from weather_api.ingest.parsing import start_worker

    # First: the worker boots while the database layer and the loader are imported.
    worker = start_worker()
    from weather_api.db.models import JobStatus
    from weather_api.ingest.loader import LoadInProgressError
    from weather_api.ingest.sources import default_sources

    try:
        sources = args.sources or default_sources(settings.data_source)
        progress = sys.stderr.isatty() and not args.json
        summary = asyncio.run(_load(sources, settings, progress, worker))
    except LoadInProgressError as exc:
        print(f"weather-api load: {exc}", file=sys.stderr)
        return 3
    finally:
        worker.shutdown(wait=False, cancel_futures=True)  # done already, unless it failed
    if args.json:
        print(json.dumps(summary.as_dict()))
    elif summary.status != JobStatus.SUCCEEDED:
        failed = "\n".join(
            f"  {e['file']}:{e['line'] or '-'}: {e['message']}" for e in summary.errors
        )
        print(f"load failed: {summary.message or ''}\n{failed}".rstrip(), file=sys.stderr)
    return 0 if summary.status == JobStatus.SUCCEEDED else 1


async def _stats(settings: Settings) -> int:
    from weather_api.db.engine import create_engine
    from weather_api.db.stats import refresh_station_summaries, refresh_stats

    engine = create_engine(_primary_url(settings), settings, pool_size=1)
    try:
        async with engine.begin() as conn:
            rows = await refresh_stats(conn)
            await refresh_station_summaries(conn)
            return rows
    finally:
        await engine.dispose()


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from weather_api.db.engine import migrate

    migrate(_primary_url(settings))
    rows = asyncio.run(_stats(settings))
    print(f"recomputed {rows} station-years, their months and their stations' summaries")
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

    commands.add_parser(
        "stats", help="recompute every station's yearly and monthly stats and summary"
    ).set_defaults(handler=cmd_stats)

    smoke = commands.add_parser(
        "smoke",
        help="release checks against a running deployment; exit 1 if any fails",
        description="Checks health, readiness, every endpoint with a filter and a page, CSV, "
        "an ETag round trip and the docs of a running deployment, and prints a pass/fail "
        "table. Needs no database or configuration: it only talks HTTP.",
    )
    smoke.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000")
    smoke.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request (default 10)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from weather_api.logs import configure_logging
    from weather_api.settings import get_settings

    args = build_parser().parse_args(argv)
    if args.command == "smoke":
        # Run from anywhere (CI, a laptop) whatever WEATHER_* says there.
        return cmd_smoke(args)
    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"weather-api: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    code = int(args.handler(args, settings))
    if args.command == "load":
        _exit(code)
    return code


def _exit(code: int) -> NoReturn:
    """End a command without the interpreter's teardown, which freed every module the load
    imported and took longer than a whole re-run. What matters of a normal exit is done
    first: the parsing worker is joined, exit handlers run (they stop an embedded PostgreSQL
    this process started, and flush the logs) and the output is flushed. The load's
    database connections were closed when it ended."""
    import atexit
    import multiprocessing

    for child in multiprocessing.active_children():
        child.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
