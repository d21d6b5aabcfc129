"""Load jobs: loads started in the background of a serving process.

A job claims the load lock and records a queued run before it starts, so "started" or
"busy" is decided at once, atomically, across every process that shares the database.
The load then runs as a task of this process; parsing happens in a worker process, so
reads keep being served meanwhile. Start-up housekeeping (runs left behind by a dead
process, the first load of a database, or the rest of one cut short) lives here too.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from weather_api.db.models import DataVersion, Observation
from weather_api.ingest.loader import (
    LOAD_LOCK_KEY,
    Loader,
    LoadInProgressError,
    LoadSummary,
    mark_interrupted,
)
from weather_api.ingest.sources import SourceLimits, default_sources
from weather_api.settings import Settings

log = logging.getLogger(__name__)

# A cancelled load stops within a file's transaction; this only bounds a stuck one.
SHUTDOWN_WAIT_S = 10.0


@dataclass(frozen=True)
class Staged:
    """A validated source, ready for the loader; uploads live in ``upload_dir``."""

    sources: list[str]
    label: str
    limits: SourceLimits
    upload_dir: Path | None = None

    def discard(self) -> None:
        if self.upload_dir is not None:
            shutil.rmtree(self.upload_dir, ignore_errors=True)


class LoadJobs:
    """Starts loads and keeps their tasks; the app's lifespan owns it and stops it last."""

    def __init__(self, engine: AsyncEngine, limits: SourceLimits) -> None:
        self.engine = engine
        self.limits = limits  # the API's: allowed hosts only
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, staged: Staged) -> int:
        """Claim the load lock, then load in the background; the run's id. Raises
        LoadInProgressError. The staged uploads are removed when the load ends."""
        loader = Loader(self.engine, staged.limits)
        try:
            claim = await loader.claim(source=staged.label, trigger="api")
        except BaseException:
            staged.discard()
            raise
        task = asyncio.create_task(self._run(loader.load(claim, staged.sources), staged))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return claim.run_id

    @staticmethod
    async def _run(load: Coroutine[Any, Any, LoadSummary], staged: Staged) -> None:
        try:
            await load
        except Exception:
            # The run already records the failure; this keeps the traceback for operators.
            log.exception("load job ended with an internal error")
        finally:
            staged.discard()

    async def stop(self) -> None:
        """Cancel running loads, each marking its run interrupted, and wait for them."""
        tasks = set(self._tasks)
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
        if pending:
            log.warning(
                "%d load(s) still running after %.0f s; the next start marks them interrupted",
                len(pending),
                SHUTDOWN_WAIT_S,
            )


async def recover_interrupted(engine: AsyncEngine) -> None:
    """A run still marked running while nobody holds the load lock died with its process."""
    async with engine.connect() as conn:
        if await conn.scalar(select(func.pg_try_advisory_lock(LOAD_LOCK_KEY))):
            if count := await mark_interrupted(conn):
                log.warning("marked %d load run(s) interrupted", count)
            await conn.execute(select(func.pg_advisory_unlock(LOAD_LOCK_KEY)))
        await conn.commit()


async def autoload(engine: AsyncEngine, settings: Settings) -> None:
    """Load the default source, in the background, into a database that no load has
    completed: an empty one, or one whose first load was cut short, which this resumes
    (the checksums skip the files already in)."""
    async with engine.connect() as conn:
        complete = await conn.scalar(select(DataVersion.complete))
        if complete and await conn.scalar(select(select(Observation).exists())):
            return
    log.info("no complete load yet: loading %s in the background", settings.data_source)
    try:
        await Loader(engine, SourceLimits.from_settings(settings, restricted=False)).run(
            default_sources(settings.data_source), trigger="autoload"
        )
    except LoadInProgressError:
        log.info("another process is already loading")
    except Exception:
        # The server keeps serving; readiness reports the failed run.
        log.exception("autoload of %s failed", settings.data_source)
