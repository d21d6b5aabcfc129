"""The FastAPI application: lifespan-owned database, routers, error handlers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from weather_api import health, jobs, metrics, stations, weather, yields
from weather_api.database import create_engine, create_load_engine, database_url
from weather_api.dependencies import Database
from weather_api.errors import install_error_handlers
from weather_api.loader import LOAD_LOCK_KEY, Loader, LoadInProgressError, mark_interrupted
from weather_api.logs import configure_logging
from weather_api.middleware import RequestContext
from weather_api.models import Observation
from weather_api.settings import Settings, get_settings
from weather_api.sources import SourceLimits

log = logging.getLogger(__name__)

DESCRIPTION = """
Daily weather-station observations (1985-2014, Nebraska, Iowa, Illinois, Indiana, Ohio),
per-station yearly statistics and US corn grain yield.

Units: temperatures in °C, precipitation in mm (daily) or cm (yearly totals).
Missing values are `null`. Lists are paginated; `format=csv` streams a whole result.
"""


def source_limits(settings: Settings, *, restricted: bool) -> SourceLimits:
    """Limits for a load: the API's are restricted to the allowed hosts, the CLI's are not."""
    return SourceLimits(
        max_download_bytes=settings.max_download_bytes,
        max_extracted_bytes=settings.max_extracted_bytes,
        allowed_hosts=settings.allowed_source_hosts if restricted else None,
        allow_private=settings.allow_private_source_hosts,
    )


async def _recover_interrupted(database: Database) -> None:
    """A run still marked running while nobody holds the load lock died with its process."""
    async with database.engine.connect() as conn:
        if await conn.scalar(select(func.pg_try_advisory_lock(LOAD_LOCK_KEY))):
            if count := await mark_interrupted(conn):
                log.warning("marked %d load run(s) interrupted", count)
            await conn.execute(select(func.pg_advisory_unlock(LOAD_LOCK_KEY)))
        await conn.commit()


async def _autoload(engine: AsyncEngine, settings: Settings) -> None:
    """Load the default source into an empty database, in the background."""
    async with engine.connect() as conn:
        if await conn.scalar(select(select(Observation).exists())):
            return
    log.info("no weather data yet: loading %s in the background", settings.data_source)
    try:
        await Loader(engine, source_limits(settings, restricted=False)).run(
            [settings.data_source], trigger="autoload"
        )
    except LoadInProgressError:
        log.info("another process is already loading")
    except Exception:
        # The server keeps serving; readiness reports the failed run.
        log.exception("autoload of %s failed", settings.data_source)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    url = database_url(settings)
    engine = create_engine(url, settings)
    read_url = settings.database_read_url
    read_engine = create_engine(read_url.get_secret_value(), settings) if read_url else engine
    database = app.state.database = Database(engine, read_engine)
    load_engine = create_load_engine(url, settings)
    load_jobs = app.state.load_jobs = jobs.LoadJobs(
        load_engine, source_limits(settings, restricted=True)
    )
    if settings.metrics_enabled:
        metrics.instrument(database)
    task = None
    try:
        await _recover_interrupted(database)
        if settings.autoload:
            task = asyncio.create_task(_autoload(load_engine, settings))
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
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Level 5, not Starlette's 9: a seventh of the CPU for a page, 5% more bytes.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    # Added last, so outermost: its timing includes compression.
    app.add_middleware(RequestContext, record_metrics=settings.metrics_enabled)
    for module in (weather, stations, yields, health, jobs):
        app.include_router(module.router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    return app
