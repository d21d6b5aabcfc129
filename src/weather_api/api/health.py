"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import datetime as dt
from functools import cache

from alembic.script import ScriptDirectory
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from weather_api.api.dependencies import ReadSessionDep
from weather_api.api.errors import RETRY_AFTER_S, database_unavailable
from weather_api.db.engine import alembic_config
from weather_api.db.models import UNFINISHED, LoadRun

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: str = Field(examples=["ok"])


class LastLoad(BaseModel):
    id: int = Field(examples=[1])
    status: str = Field(examples=["succeeded"])
    finished_at: dt.datetime | None = Field(examples=["2025-01-01T12:00:00Z"])
    message: str | None = Field(
        description="why the run failed as a whole, if it did", examples=[None]
    )


class Readiness(BaseModel):
    status: str = Field(description="ready or unavailable", examples=["ready"])
    reasons: list[str] = Field(description="what keeps the service from being ready", examples=[[]])
    schema_revision: str | None = Field(examples=["0001"])
    observations: int = Field(description="stored daily observations", examples=[1729957])
    stations: int = Field(examples=[167])
    last_load: LastLoad | None


@cache
def schema_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# The 503 body differs from the 200 example built from the fields' examples.
_NOT_READY = {
    "status": "unavailable",
    "reasons": ["no weather data yet: load 1 is running"],
    "schema_revision": "0001",
    "observations": 0,
    "stations": 0,
    "last_load": {"id": 1, "status": "running", "finished_at": None, "message": None},
}


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
        200: {"description": "Ready: database reachable, schema current, data loaded."},
        503: {
            "model": Readiness,
            "description": "not ready, with the reasons",
            "content": {"application/json": {"example": _NOT_READY}},
        },
    },
)
async def check_readiness(session: ReadSessionDep) -> JSONResponse:
    """Ready when the database answers, its schema is at the migrations' head and weather
    data is loaded. Otherwise 503, listing why (for example: the first load still runs)."""
    try:
        revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
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
    if revision != schema_head():
        reasons.append(f"schema at {revision}, expected {schema_head()}")
    if not observations:
        if last is None:
            reasons.append("no weather data loaded yet and no load has run")
        elif last.status in UNFINISHED:
            reasons.append(f"no weather data yet: load {last.id} is {last.status}")
        else:
            why = f": {last.message}" if last.message else ""
            reasons.append(f"no weather data: last load {last.id} {last.status}{why}")
    body = Readiness(
        status="unavailable" if reasons else "ready",
        reasons=reasons,
        schema_revision=revision,
        observations=observations,
        stations=stations,
        last_load=LastLoad.model_validate(last, from_attributes=True) if last else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if reasons else 200)
