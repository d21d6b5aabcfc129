"""/health/ready during the first load of an empty database, served by a real `weather-api
serve` that autoloads a generated source: never ready on partial data, and a first load cut
short by SIGTERM is resumed by the next start, ready only once it completes. And what
completes a database: a load through all its sources, rejected files or not."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import settings_for
from tests.live_server import LiveServer, live_server
from tests.loads_support import (
    BIG_STATIONS,
    WAIT_S,
    load_ok,
    post_load,
    scalar,
    serve,
    wait_for,
)
from weather_api.db.engine import create_engine


async def _execute(url: str, sql: str) -> None:
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _autoload(db_url: str, workdir: Path, source: Path) -> Any:
    return live_server(
        db_url, workdir, WEATHER_AUTOLOAD="true", WEATHER_DATA_SOURCE=str(source / "big")
    )


async def _ready(server: LiveServer) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{server.base_url}/health/ready")


async def _watch_until_ready(server: LiveServer, final: int) -> list[dict[str, Any]]:
    """Poll readiness until it is 200; every answer, each with its status code. Fails at
    once on a 200 over fewer rows than the whole source holds."""
    answers = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        response = await _ready(server)
        body = response.json() | {"code": response.status_code}
        answers.append(body)
        if response.status_code == 200:
            assert body["observations"] == final, f"ready on partial data: {body}"
            assert body["stations"] == BIG_STATIONS, body
            return answers
        assert response.status_code == 503, body
        await asyncio.sleep(0.02)
    raise AssertionError(f"not ready after {WAIT_S} s; last answer {answers[-1]}")


@pytest.mark.slow  # real server or CLI processes
async def test_ready_only_once_the_first_load_is_done(
    db_url: str, big_root: tuple[Path, int], tmp_path: Path
) -> None:
    root, lines = big_root
    final = BIG_STATIONS * lines
    with _autoload(db_url, tmp_path, root) as server:
        answers = await _watch_until_ready(server, final)
    partial = [a for a in answers if 0 < a["observations"] < final]
    # The window this test is about was seen: data in, load running, not ready.
    assert partial, answers
    assert all(a["code"] == 503 for a in partial)
    assert any("initial load incomplete: load 1 is running" in r for r in partial[-1]["reasons"])
    assert await scalar(db_url, "SELECT count(*) FROM observations") == final


@pytest.mark.slow  # real server or CLI processes
async def test_a_first_load_cut_short_is_resumed_by_the_next_start(
    db_url: str, big_root: tuple[Path, int], tmp_path: Path
) -> None:
    root, lines = big_root
    final = BIG_STATIONS * lines
    with _autoload(db_url, tmp_path, root) as server:
        deadline = time.monotonic() + WAIT_S
        while (stored := await scalar(db_url, "SELECT count(*) FROM observations")) == 0:
            assert time.monotonic() < deadline, f"nothing loaded after {WAIT_S} s"
            await asyncio.sleep(0.01)
        ready = await _ready(server)
        assert ready.status_code == 503, ready.text
    # Leaving the block sent SIGTERM: the batch in flight rolled back, the run interrupted.
    stored = await scalar(db_url, "SELECT count(*) FROM observations")
    assert 0 < stored < final, f"the load was not cut short: {stored} of {final} rows"
    assert await scalar(db_url, "SELECT status FROM load_runs WHERE id = 1") == "interrupted"
    assert await scalar(db_url, "SELECT complete FROM data_version") is False

    with _autoload(db_url, tmp_path, root) as server:
        answers = await _watch_until_ready(server, final)
    assert answers[0]["code"] == 503, answers[0]
    assert await scalar(db_url, "SELECT count(DISTINCT station_id) FROM observations") == (
        BIG_STATIONS
    )
    # The second start resumed: what the first stored was skipped by checksum.
    resumed = "SELECT files_skipped FROM load_runs WHERE id = 2 AND status = 'succeeded'"
    assert await scalar(db_url, resumed) == stored // lines


async def test_a_first_load_that_rejects_a_file_is_ready_and_says_so(
    db_url: str, root: Path
) -> None:
    (root / "sample" / "wx_data" / "USC00110338.txt").write_text("19850101\t 12\toops\t 0\n")
    async with serve(db_url, data_root=root) as client:
        job = await wait_for(client, (await post_load(client, json={"source": "sample"}))["id"])
        assert job["status"] == "failed", job
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["reasons"] == [
            f"ready, but load {job['id']} failed: 1 file(s) rejected"
        ]
        # A later load into the complete database leaves it ready.
        later = await post_load(client, json={"source": "sample"})
        assert (await client.get("/health/ready")).status_code == 200
        assert (await wait_for(client, later["id"]))["status"] == "failed"


async def test_a_load_that_fails_as_a_whole_completes_nothing(db_url: str, root: Path) -> None:
    async with serve(db_url, data_root=root) as client:
        await load_ok(client, json={"source": "sample/wx_data/USC00110072.txt"})
        await _execute(db_url, "UPDATE data_version SET complete = false")  # as if cut short
        (root / "empty.zip").write_bytes(b"not a zip")
        job = await wait_for(client, (await post_load(client, json={"source": "empty.zip"}))["id"])
        assert job["status"] == "failed", job
        assert job["message"], job
        ready = await client.get("/health/ready")
    assert ready.status_code == 503, ready.text
    assert ready.json()["reasons"][0].startswith(
        f"initial load incomplete (load {job['id']} failed: "
    ), ready.json()
    assert await scalar(db_url, "SELECT complete FROM data_version") is False
