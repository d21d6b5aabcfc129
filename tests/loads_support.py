"""Shared by the load-job tests: a served app with an admin token, job polling, sample
source trees and database probes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text

from tests.conftest import settings_for
from tests.sample import write_sample
from weather_api.app import create_app
from weather_api.db.engine import create_engine

TOKEN = "test-admin-token-5b1f0c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FINISHED = {"succeeded", "failed", "interrupted"}
WAIT_S = 120
# Generated stations for the loads that must still be running when the test acts: 30 years
# each, about 3 s of loading in all.
BIG_STATIONS = 60
BIG_FIRST, BIG_LAST = dt.date(1985, 1, 1), dt.date(2014, 12, 31)


@asynccontextmanager
async def serve(db_url: str, **overrides: Any) -> AsyncIterator[AsyncClient]:
    """The app over the test's own database (so loads can write), with the admin token."""
    app = create_app(settings_for(db_url, **({"admin_token": SecretStr(TOKEN)} | overrides)))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def wait_for(
    client: AsyncClient, job_id: int, statuses: set[str] = FINISHED
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"/api/load/{job_id}", headers=AUTH)).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} not {statuses} after {WAIT_S} s")


async def post_load(client: AsyncClient, **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/api/load", headers=AUTH, **kwargs)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/load/{job['id']}"
    # The job as it is by the time the answer is written: a quick failure may already show.
    assert job["status"] in {"queued", "running", *FINISHED}
    assert job["trigger"] == "api"
    return job


async def scalar_jobs(client: AsyncClient) -> int:
    total: int = (await client.get("/api/load", headers=AUTH)).json()["total"]
    return total


async def load_ok(client: AsyncClient, **kwargs: Any) -> dict[str, Any]:
    job = await wait_for(client, (await post_load(client, **kwargs))["id"])
    assert job["status"] == "succeeded", job
    return job


async def scalar(url: str, sql: str) -> Any:
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql))
    finally:
        await engine.dispose()


async def station_counts(url: str) -> dict[str, int]:
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT station_id, count(*) FROM observations GROUP BY station_id")
            )
            return {station: int(count) for station, count in rows}
    finally:
        await engine.dispose()


def write_big(root: Path) -> int:
    """BIG_STATIONS station files of 30 years each; returns the lines per file."""
    lines = []
    day = BIG_FIRST
    while day <= BIG_LAST:
        lines.append(f"{day:%Y%m%d}\t  {day.day * 10:3d}\t  -15\t{day.month:5d}")
        day += dt.timedelta(days=1)
    body = "\n".join(lines) + "\n"
    (root / "wx_data").mkdir(parents=True)
    for i in range(BIG_STATIONS):
        (root / "wx_data" / f"USC00{110000 + i:06d}.txt").write_text(body)
    return len(lines)


def assert_whole_files(counts: dict[str, int], lines: int) -> None:
    """Each station is loaded whole or not at all."""
    assert all(count == lines for count in counts.values()), counts


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The data root, holding the sample under ``sample``."""
    write_sample(tmp_path / "root" / "sample")
    return (tmp_path / "root").resolve()


@pytest.fixture(scope="session")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A data root holding BIG_STATIONS generated stations under ``big``."""
    root = tmp_path_factory.mktemp("big-root")
    return root, write_big(root / "big")


@pytest.fixture
async def api(db_url: str, root: Path) -> AsyncIterator[AsyncClient]:
    async with serve(db_url, data_root=root) as client:
        yield client
