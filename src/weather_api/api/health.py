"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import datetime as dt
from functools import cache

from alembic.script import ScriptDirectory
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.api import examples
from weather_api.api.dependencies import ReadSessionDep
from weather_api.api.errors import RETRY_AFTER_S, database_unavailable
from weather_api.db.engine import alembic_config
from weather_api.db.models import (
    UNFINISHED,
    DataVersion,
    JobStatus,
    LoadRun,
    SchemaCompatibility,
)

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.LIVENESS)

    status: str


class LastLoad(BaseModel):
    id: int
    status: str
    finished_at: dt.datetime | None
    message: str | None = Field(description="why the run failed as a whole, if it did")


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.READINESS)

    status: str = Field(description="ready or unavailable")
    reasons: list[str] = Field(
        description="what keeps the service from being ready; when ready, a failed last load"
    )
    schema_revision: str | None
    observations: int = Field(description="stored daily observations")
    stations: int
    last_load: LastLoad | None


@cache
def schema_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def _servable(session: AsyncSession, revision: str | None) -> bool:
    """Whether this image's code serves the schema: at its own head, or at a later revision
    whose migrations list this head as compatible (a rollback across an expand migration)."""
    head = schema_head()
    if revision == head:
        return True
    if not await session.scalar(text("SELECT to_regclass('schema_compatibility') IS NOT NULL")):
        return False
    listed = select(SchemaCompatibility.revision).where(SchemaCompatibility.revision == head)
    return bool(await session.scalar(select(listed.exists())))


@router.get(
    "",
    summary="Liveness",
    response_model=Liveness,
    responses={200: {"description": "The process is up."}},
)
async def check_liveness() -> Liveness:
    """Answers without touching the database: the process is up and serving."""
    return Liveness(status="ok")


@router.get(
    "/ready",
    summary="Readiness",
    response_model=Readiness,
    responses={
        200: {"description": "Ready: database reachable, schema current, initial load done."},
        503: {
            "model": Readiness,
            "description": "not ready, with the reasons",
            "content": {"application/json": {"examples": examples.named(examples.LOADING)}},
        },
    },
)
async def check_readiness(session: ReadSessionDep) -> JSONResponse:
    """Ready (200) when the database answers, its schema is at the migrations' head, it
    holds weather data and a load has run through all its sources since it was empty: the
    initial load has finished, whether it succeeded or failed only by rejecting some files
    (`reasons` then says so). This is recorded in the database, so every instance sharing
    it agrees. Until then 503, listing why: the initial load still runs, or was cut short
    (a SIGTERM, a crash, a failed download) and the next start's autoload, or the next load,
    resumes it, skipping by checksum the files already in. Later loads keep a ready instance
    ready: each of their batches commits whole."""
    try:
        revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
        servable = await _servable(session, revision)
        # Read before the counts: a load marks the database complete in its last commit, so
        # counts read after seeing the mark include all of its data.
        # The column is there from the head revision on; below it readiness fails anyway.
        complete = servable and bool(await session.scalar(select(DataVersion.complete)))
        # Counts from the yearly stats: exact (they commit with the data) and cheap.
        observations, stations = (
            await session.execute(
                text("SELECT coalesce(sum(days), 0), count(DISTINCT station_id) FROM yearly_stats")
            )
        ).one()
        last = (
            await session.execute(select(LoadRun).order_by(LoadRun.id.desc()).limit(1))
        ).scalar_one_or_none()
    except (DBAPIError, PoolTimeoutError, OSError) as exc:
        if not database_unavailable(exc):
            raise
        # The documented 503 body, not a problem: probes and dashboards read one shape.
        down = Readiness(
            status="unavailable",
            reasons=[f"database unavailable ({type(exc).__name__})"],
            schema_revision=None,
            observations=0,
            stations=0,
            last_load=None,
        )
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        return JSONResponse(down.model_dump(mode="json"), status_code=503, headers=headers)
    reasons = []
    if not servable:
        reasons.append(
            f"schema at {revision}, expected {schema_head()} or a later one that serves it"
        )
    elif not observations:
        if last is None:
            reasons.append("no weather data loaded yet and no load has run")
        elif last.status in UNFINISHED:
            reasons.append(f"no weather data yet: load {last.id} is {last.status}")
        else:
            why = f": {last.message}" if last.message else ""
            reasons.append(f"no weather data: last load {last.id} {last.status}{why}")
    elif not complete:
        reasons.append(_incomplete(last))
    elif last is not None and last.status == JobStatus.FAILED:
        # Ready all the same: the data of the files it did not reject is in.
        reasons.append(f"ready, but load {last.id} failed: {_why_failed(last)}")
    ready = bool(observations) and complete and servable
    body = Readiness(
        status="ready" if ready else "unavailable",
        reasons=reasons,
        schema_revision=revision,
        observations=observations,
        stations=stations,
        last_load=LastLoad.model_validate(last, from_attributes=True) if last else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


def _incomplete(last: LoadRun | None) -> str:
    """Data is in, but no load has run to its end since the database was empty."""
    if last is not None and last.status in UNFINISHED:
        progress = f"{last.files_done} of {last.files_total} files done"
        return f"initial load incomplete: load {last.id} is {last.status} ({progress})"
    ended = f"load {last.id} {last.status}" if last is not None else "no load recorded"
    if last is not None and last.message:
        ended += f": {last.message}"
    return f"initial load incomplete ({ended}): the next load of the data source completes it"


def _why_failed(run: LoadRun) -> str:
    return run.message or f"{run.files_failed} file(s) rejected"
