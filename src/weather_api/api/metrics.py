"""Prometheus metrics on ``GET /metrics``: requests by route template and status, connection
pool usage, and the load runs recorded in the database.

Several uvicorn workers each count their own requests, and a scrape reaches only one of
them. So with workers > 1 ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR``: prometheus_client
then keeps every worker's values in files there, and a scrape sums them, whichever worker
answers. Load figures are read from ``load_runs`` at scrape time instead of counted here:
loads also run in other processes (the CLI, the scheduled task) that serve no metrics.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from weather_api.api.dependencies import DatabaseDep
from weather_api.db.engine import Database
from weather_api.db.models import JobStatus, LoadRun

log = logging.getLogger(__name__)
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Requests no route matched share one label value: raw paths would be unbounded.
UNMATCHED = "unmatched"

_LABELS = ("method", "route", "status")
REQUESTS = Counter("weather_http_requests", "HTTP requests answered.", _LABELS)
# Finer below 100 ms, where the p99 target (50 ms) lies; CSV exports may run for minutes.
LATENCY = Histogram(
    "weather_http_request_duration_seconds",
    "Time from request to the last byte of the response.",
    _LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 300),
)
# livesum: the sum over the workers alive now, so a stopped worker's pool no longer counts.
POOL_SIZE = Gauge(
    "weather_db_pool_size",
    "Connections the pool may hold (no overflow).",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "weather_db_pool_checked_out",
    "Connections in use by requests or exports.",
    ["pool"],
    multiprocess_mode="livesum",
)

router = APIRouter()


def observe(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method, route, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


# The routes' reads (db.pool.ReadPool), beside the engines' pools.
READS = "read"


def _pools(database: Database) -> dict[str, AsyncEngine]:
    pools = {"primary": database.engine}
    if database.read_engine is not database.engine:
        pools["replica"] = database.read_engine
    if database.export_engine is not None:
        pools["export"] = database.export_engine
    return pools


def _queue_pool(engine: AsyncEngine) -> QueuePool:
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)  # what database.create_engine builds
    return pool


def instrument(database: Database) -> None:
    """Track each pool's checked-out connections as they move, so that a scrape reads every
    worker's pools, not only those of the worker that answers it."""
    _forget_dead_workers()
    for name, engine in _pools(database).items():
        POOL_SIZE.labels(name).set(_queue_pool(engine).size())
        gauge = POOL_CHECKED_OUT.labels(name)

        def on_checkout(*_: object, engine: AsyncEngine = engine, gauge: Gauge = gauge) -> None:
            gauge.set(_queue_pool(engine).checkedout())

        def on_checkin(*_: object, engine: AsyncEngine = engine, gauge: Gauge = gauge) -> None:
            # Fired just before the connection goes back into the pool.
            gauge.set(_queue_pool(engine).checkedout() - 1)

        event.listen(engine.sync_engine, "checkout", on_checkout)
        event.listen(engine.sync_engine, "checkin", on_checkin)
    POOL_SIZE.labels(READS).set(database.reads.size)
    database.reads.on_change = POOL_CHECKED_OUT.labels(READS).set


def release(database: Database) -> None:
    """The pools are gone: their gauges leave the live sum."""
    if directory := os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
        return
    for name in (*_pools(database), READS):
        POOL_SIZE.remove(name)
        POOL_CHECKED_OUT.remove(name)


_PID = re.compile(r"_(\d+)\.db$")


def _forget_dead_workers() -> None:
    """uvicorn replaces a worker that died without shutting down: drop the pool gauges it
    left behind, or they would count forever."""
    directory = os.environ.get(MULTIPROC_DIR)
    if not directory:
        return
    files = Path(directory).glob("gauge_live*_*.db")
    for pid in {int(m[1]) for path in files if (m := _PID.search(path.name))}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, owned by another user
            pass


class _Snapshot(Collector):
    """Figures computed for one scrape."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


async def _load_metrics(database: Database) -> list[Metric]:
    runs = GaugeMetricFamily(
        "weather_load_runs", "Load runs recorded in the database, by status.", labels=["status"]
    )
    rows = CounterMetricFamily(
        "weather_load_rows",
        "Observation and yield rows of all load runs, by what the load did with them.",
        labels=["outcome"],
    )
    last_success = GaugeMetricFamily(
        "weather_load_last_success_timestamp_seconds",
        "When the last successful load run finished (Unix time).",
    )
    up = GaugeMetricFamily(
        "weather_database_up", "1 if this scrape could read the load runs from the database."
    )
    stmt = select(
        LoadRun.status,
        func.count(),
        func.coalesce(func.sum(LoadRun.inserted), 0),
        func.coalesce(func.sum(LoadRun.updated), 0),
        func.coalesce(func.sum(LoadRun.unchanged), 0),
        func.max(func.extract("epoch", LoadRun.finished_at)),
    ).group_by(LoadRun.status)
    try:
        async with database.read_engine.connect() as conn:
            result = (await conn.execute(stmt)).all()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("metrics: cannot read load runs: %s", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    totals = [0, 0, 0]
    for status, count, *outcomes, finished in result:
        runs.add_metric([status], count)
        totals = [t + int(o) for t, o in zip(totals, outcomes, strict=True)]
        if status == JobStatus.SUCCEEDED and finished is not None:
            last_success.add_metric([], float(finished))
    for outcome, total in zip(("inserted", "updated", "unchanged"), totals, strict=True):
        rows.add_metric([outcome], total)
    up.add_metric([], 1)
    return [runs, rows, last_success, up]


def _process_metrics() -> bytes:
    if directory := os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    # One process: the default registry, which adds the process_* and python_* metrics.
    return generate_latest(REGISTRY)


@router.get("/metrics", include_in_schema=False)
async def get_metrics(database: DatabaseDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await _load_metrics(database)))
    body = _process_metrics() + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
