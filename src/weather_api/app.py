"""The FastAPI application: lifespan-owned database, routers, error handlers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi_offline import FastAPIOffline

from weather_api.api import (
    examples,
    health,
    loads,
    metrics,
    stations,
    summaries,
    weather,
    yields,
)
from weather_api.api.dependencies import query_schemas, reject_unknown_params
from weather_api.api.errors import install_error_handlers
from weather_api.api.middleware import Head, RequestContext
from weather_api.api.response_cache import ResponseCache
from weather_api.api.security import FailedAttempts
from weather_api.db.engine import (
    SESSION_POOL_SIZE,
    Database,
    create_engine,
    create_export_engine,
    create_load_engine,
    create_read_pool,
    database_url,
)
from weather_api.db.versions import VersionWatch
from weather_api.ingest.jobs import LoadJobs, autoload, recover_interrupted
from weather_api.ingest.sources import SourceLimits
from weather_api.logs import configure_logging
from weather_api.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Daily weather-station observations (1985-2014, Nebraska, Iowa, Illinois, Indiana, Ohio),
per-station yearly statistics and US corn grain yield.

Units: temperatures in °C, precipitation in mm (daily) or cm (yearly totals).
Missing values are `null`. Lists are paginated; `format=csv` streams a whole result.
"""

ROUTERS = (weather, summaries, stations, yields, health, loads)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    url = database_url(settings)
    engine = create_engine(url, settings, pool_size=SESSION_POOL_SIZE)
    read_url = settings.database_read_url
    read_engine = (
        create_engine(read_url.get_secret_value(), settings, pool_size=SESSION_POOL_SIZE)
        if read_url
        else engine
    )
    export_engine = create_export_engine(read_url.get_secret_value() if read_url else url, settings)
    reads = create_read_pool(read_engine, settings)
    database = app.state.database = Database(engine, read_engine, reads, export_engine)
    # What routes read through (api.dependencies.read); the tests' harness puts the
    # connection of each test's transaction in its place.
    app.state.readers = database.reader
    app.state.versions = VersionWatch(read_engine, settings.data_version_max_age_ms / 1000)
    load_engine = create_load_engine(url, settings)
    load_jobs = app.state.load_jobs = LoadJobs(
        load_engine, SourceLimits.from_settings(settings, restricted=True)
    )
    if settings.metrics_enabled:
        metrics.instrument(database)
    task = None
    try:
        await recover_interrupted(database.engine)
        if settings.autoload:
            task = asyncio.create_task(autoload(load_engine, settings))
    except Exception:
        # Keep serving: readiness says the database is unreachable until it is back.
        log.exception("start-up database housekeeping failed")
    # What start-up built lives as long as the app: keep it out of the collector's full
    # passes, which otherwise stall every request in flight for tens of milliseconds.
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        # Before the engines go: a cancelled load marks its run interrupted.
        await load_jobs.stop()
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await load_engine.dispose()
        await database.dispose()
        if settings.metrics_enabled:
            metrics.release(database)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPIOffline(
        title="weather-api",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Operation ids are the route functions' names (list_weather, get_station...), so
        # generated clients read naturally.
        generate_unique_id_function=lambda route: route.name,
        dependencies=[Depends(reject_unknown_params)],
    )
    app.state.settings = settings
    app.state.export_slots = asyncio.Semaphore(settings.max_concurrent_exports)
    app.state.failed_auth = FailedAttempts(
        settings.admin_max_failures, settings.admin_failure_window_s
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)  # caches it in app.openapi_schema
            examples.restore_nulls(document)  # FastAPI drops every null, examples' too
            # FastAPI lists those of the parameters it reads itself only.
            routes = [route for module in ROUTERS for route in module.router.routes]
            schemas = document["components"]["schemas"] | query_schemas(routes)
            document["components"]["schemas"] = dict(sorted(schemas.items()))
            return document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app)
    # Innermost: what it keeps is the app's own answer, compressed afresh per request.
    app.add_middleware(ResponseCache, max_bytes=settings.response_cache_bytes)
    # Level 5, not Starlette's 9: far less CPU per page for a few more bytes.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    # Outside gzip, so that a HEAD's headers are those of the GET's compressed body.
    app.add_middleware(Head)
    # Added last, so outermost: its timing includes compression.
    app.add_middleware(RequestContext, record_metrics=settings.metrics_enabled)
    for module in ROUTERS:
        app.include_router(module.router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    return app
