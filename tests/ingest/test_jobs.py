"""Load jobs under faults: reads during a load, statement timeouts, shutdown, SIGKILL and
SIGTERM of the loading process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import settings_for
from tests.live_server import CLI, cli_env, free_port
from tests.loads_support import (
    AUTH,
    BIG_STATIONS,
    FINISHED,
    TOKEN,
    WAIT_S,
    assert_whole_files,
    load_ok,
    post_load,
    scalar,
    serve,
    station_counts,
    wait_for,
)
from weather_api.db.engine import create_engine
from weather_api.ingest.loader import LOAD_LOCK_KEY

# --- faults -----------------------------------------------------------------------------------


async def test_reads_are_answered_during_a_load(db_url: str, big_root: tuple[Path, int]) -> None:
    root, _ = big_root
    async with serve(db_url, data_root=root) as client:
        job = await post_load(client, json={"source": "big"})
        during, slowest = 0, 0.0
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            before = (await client.get(f"/api/load/{job['id']}", headers=AUTH)).json()
            started = time.perf_counter()
            read = await client.get("/api/weather", params={"page_size": 10})
            elapsed = time.perf_counter() - started
            after = (await client.get(f"/api/load/{job['id']}", headers=AUTH)).json()
            assert read.status_code == 200
            if before["status"] == after["status"] == "running":
                during += 1
                slowest = max(slowest, elapsed)
            if after["status"] in FINISHED:
                break
        assert after["status"] == "succeeded"
    assert during >= 5, during
    # Parsing runs in a worker process and each file's database work is short, so a read
    # waits for no file; two seconds allow for a busy machine, a blocked loop takes longer.
    assert slowest < 2.0, slowest


async def test_loads_have_their_own_statement_timeout(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    # A batch's COPY (up to 200,000 rows) takes far longer than 50 ms: the API's limit
    # would cut it, the load's own does not.
    root, lines = big_root
    async with serve(db_url, data_root=root, statement_timeout_ms=50) as client:
        job = await load_ok(client, json={"source": "big"})
    assert job["inserted"] == BIG_STATIONS * lines


async def test_a_load_past_its_statement_timeout_fails_whole_and_says_so(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    root, lines = big_root
    async with serve(db_url, data_root=root, load_statement_timeout_ms=50) as client:
        posted = await post_load(client, json={"source": "big"})
        job = await wait_for(client, posted["id"])
    assert job["status"] == "failed"
    assert job["message"].startswith(
        "database error 57014: canceling statement due to statement timeout"
    )
    assert_whole_files(await station_counts(db_url), lines)


async def test_shutdown_marks_a_running_load_interrupted(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    root, lines = big_root
    async with serve(db_url, data_root=root) as client:
        job = await post_load(client, json={"source": "big"})
        await _wait_for_progress(db_url, 1)
    # The lifespan has ended: the load was cancelled and waited for.
    assert await scalar(db_url, f"SELECT status FROM load_runs WHERE id = {job['id']}") in (
        "interrupted",
        "succeeded",
    )
    assert await scalar(db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    assert_whole_files(await station_counts(db_url), lines)


async def _wait_for_progress(url: str, files: int) -> int:
    """The id of the run once it has stored ``files`` files (polling the database)."""
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(text("SELECT id, files_done, status FROM load_runs"))
                ).first()
            if row is not None and row.files_done >= files:
                assert row.status == "running", row
                return int(row.id)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no run reached {files} files in {WAIT_S} s")
    finally:
        await engine.dispose()


async def _wait_for_unlock(url: str) -> None:
    deadline = time.monotonic() + WAIT_S
    sql = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {LOAD_LOCK_KEY}"
    while await scalar(url, sql):
        assert time.monotonic() < deadline, "the load lock was never released"
        await asyncio.sleep(0.05)


@pytest.mark.slow  # a real server process, killed or stopped
async def test_killed_loader_leaves_whole_files_and_an_interrupted_job(
    db_url: str, big_root: tuple[Path, int], tmp_path: Path
) -> None:
    root, lines = big_root
    env = cli_env(WEATHER_DATABASE_URL=db_url, WEATHER_LOG_FORMAT="text")
    process = await asyncio.create_subprocess_exec(
        CLI,
        "load",
        "--json",
        str(root / "big"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the kill reaches its parsing worker too
    )
    try:
        run_id = await _wait_for_progress(db_url, 3)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == -signal.SIGKILL
    await _wait_for_unlock(db_url)

    counts = await station_counts(db_url)
    assert_whole_files(counts, lines)
    assert 3 <= len(counts) < BIG_STATIONS
    # Stats and checksums commit with their rows: exactly the stations that are in.
    stats = await scalar(db_url, "SELECT count(DISTINCT station_id) FROM yearly_stats")
    assert stats == len(counts)
    assert await scalar(db_url, "SELECT count(*) FROM source_files") == len(counts)
    # So does the run's progress.
    done = await scalar(db_url, f"SELECT files_done FROM load_runs WHERE id = {run_id}")
    assert done == len(counts)

    # Start-up recovery: nobody holds the lock, so the run is marked interrupted.
    async with serve(db_url, data_root=root) as client:
        job = (await client.get(f"/api/load/{run_id}", headers=AUTH)).json()
        assert job["status"] == "interrupted"
        assert job["finished_at"] is not None
        # Loading again completes the rest; the stations already in are skipped unread.
        again = await load_ok(client, json={"source": "big"})
    assert again["files_skipped"] == len(counts)
    assert_whole_files(await station_counts(db_url), lines)
    assert len(await station_counts(db_url)) == BIG_STATIONS


@pytest.mark.slow  # a real server process, killed or stopped
async def test_sigterm_during_a_load_marks_the_job_and_exits(
    db_url: str, big_root: tuple[Path, int], tmp_path: Path
) -> None:
    root, lines = big_root
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = cli_env(
        WEATHER_DATABASE_URL=db_url,
        WEATHER_ADMIN_TOKEN=TOKEN,
        WEATHER_DATA_ROOT=str(root),
        WEATHER_LOG_FORMAT="text",
        WEATHER_LOG_LEVEL="DEBUG",
    )
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            CLI,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + WAIT_S
            while True:
                assert process.returncode is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            job = await post_load(client, json={"source": "big"})
            await _wait_for_progress(db_url, 1)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 128 + signal.SIGTERM, log.read_text()
    status = await scalar(db_url, f"SELECT status FROM load_runs WHERE id = {job['id']}")
    assert status in ("interrupted", "succeeded"), log.read_text()
    assert_whole_files(await station_counts(db_url), lines)
    server_log = log.read_text()
    assert "POST /api/load" in server_log  # the log was written
    assert TOKEN not in server_log
