"""The service on every supported PostgreSQL (15 to 18): the suite runs on the embedded
server and, through WEATHER_TEST_DATABASE_URL, on another one (.ci/run adds 15)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import create_database, drop_database
from tests.live_server import CLI, cli_env
from weather_api.api.health import schema_head

OLDEST_SUPPORTED = 150000  # server_version_num of PostgreSQL 15.0


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _migrate(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "migrate"],
        cwd=workdir,
        env=cli_env(WEATHER_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_test_server_is_a_supported_postgresql(server_url: str) -> None:
    version = int(str(await _fetchval(server_url, "SHOW server_version_num")))
    assert version >= OLDEST_SUPPORTED, f"PostgreSQL {version} is older than 15"


@pytest.mark.slow  # real server or CLI processes
async def test_migrate_command_upgrades_an_empty_database_to_head(
    server_url: str, tmp_path: Path
) -> None:
    # The command's own path (alembic/env.py given a URL, its advisory lock included), not
    # the connection the harness hands in. PostgreSQL 15 rejected the lock's hexadecimal
    # literal, so this failed there.
    url = await create_database(server_url)
    try:
        for _ in range(2):  # the second run finds the schema at head and changes nothing
            migrate = await asyncio.to_thread(_migrate, url, tmp_path)
            assert migrate.returncode == 0, f"weather-api migrate failed:\n{migrate.stderr}"
            revision = await _fetchval(url, "SELECT version_num FROM alembic_version")
            assert revision == schema_head()
    finally:
        await drop_database(server_url, url)
