"""docker/db_roles.py on a real PostgreSQL: the migration role owns the schema, the runtime
role reads and writes rows and runs the API's start-up, and neither can do more."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import create_database, drop_database

# Linters and container checks: minutes, not seconds; not in the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "weather-api"


def as_user(url: str, user: str, password: str) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


def run(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def roles(server_url: str) -> AsyncIterator[tuple[str, str, str]]:
    """A database migrated by the maintenance (master) user, as an earlier release did, and
    two role names of this test's own; roles are cluster-wide, so they are dropped after."""
    url = await create_database(server_url)
    suffix = uuid.uuid4().hex[:8]
    migrator, runtime = f"wx_migrator_{suffix}", f"wx_app_{suffix}"
    yield url, migrator, runtime
    await drop_database(server_url, url)
    conn = await asyncpg.connect(server_url)
    try:
        for role in (migrator, runtime):
            await conn.execute(f"DROP OWNED BY {role}")
            await conn.execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        await conn.close()


def db_roles(url: str, migrator: str, runtime: str) -> None:
    result = run(
        "sh",
        ROOT / "docker" / "entrypoint.sh",
        "db-roles",
        WEATHER_PYTHON=sys.executable,
        WEATHER_DATABASE_URL=url,
        WEATHER_MIGRATION_DB_USER=migrator,
        WEATHER_MIGRATION_DB_PASSWORD="migrator-secret",
        WEATHER_RUNTIME_DB_USER=runtime,
        WEATHER_RUNTIME_DB_PASSWORD="runtime-secret",
    )
    assert result.returncode == 0, result.stderr
    assert "roles are up to date" in result.stderr


async def test_runtime_role_uses_the_schema_the_migration_role_owns(
    roles: tuple[str, str, str],
) -> None:
    url, migrator, runtime = roles
    assert run(CLI, "migrate", WEATHER_DATABASE_URL=url).returncode == 0
    db_roles(url, migrator, runtime)
    db_roles(url, migrator, runtime)  # idempotent: every deploy runs it

    migrator_url = as_user(url, migrator, "migrator-secret")
    runtime_url = as_user(url, runtime, "runtime-secret")
    # The tables moved to the migration role, which can run migrations (here a no-op at
    # head), and so can the API's start-up as the runtime role.
    for role_url in (migrator_url, runtime_url):
        result = run(CLI, "migrate", WEATHER_DATABASE_URL=role_url)
        assert result.returncode == 0, result.stderr

    conn = await asyncpg.connect(runtime_url)
    try:
        owners = await conn.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        )
        assert [row["tableowner"] for row in owners] == [migrator]
        # What serve and load do: rows in, rows out, a temporary staging table.
        await conn.execute("INSERT INTO stations (station_id) VALUES ('USC00000001')")
        assert await conn.fetchval("SELECT count(*) FROM stations") == 1
        await conn.execute("CREATE TEMP TABLE staging (LIKE observations)")
        # The trigger on monthly_stats writes season_stats as the runtime role.
        await conn.execute(
            "INSERT INTO monthly_stats (station_id, month, max_temp_days, min_temp_days, "
            "precipitation_days, degree_days_days, gdd) "
            "VALUES ('USC00000001', '2012-07-01', 31, 31, 31, 31, 450.5)"
        )
        assert await conn.fetchval("SELECT gdd FROM season_stats") == Decimal("450.5")
        await conn.execute("DELETE FROM monthly_stats")
        await conn.execute("DELETE FROM season_stats")
        await conn.execute("DELETE FROM stations")
        for statement in (
            "CREATE TABLE intruder (id int)",
            "DROP TABLE observations",
            "ALTER TABLE stations ADD COLUMN extra int",
            "TRUNCATE observations",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_tables_of_later_migrations_reach_the_runtime_role(
    roles: tuple[str, str, str],
) -> None:
    url, migrator, runtime = roles
    db_roles(url, migrator, runtime)
    conn = await asyncpg.connect(as_user(url, migrator, "migrator-secret"))
    try:
        await conn.execute("CREATE TABLE later (id serial PRIMARY KEY, note text)")
    finally:
        await conn.close()
    conn = await asyncpg.connect(as_user(url, runtime, "runtime-secret"))
    try:
        await conn.execute("INSERT INTO later (note) VALUES ('default privileges')")
        assert await conn.fetchval("SELECT note FROM later") == "default privileges"
    finally:
        await conn.close()


def test_db_roles_names_what_is_missing() -> None:
    result = run("sh", ROOT / "docker" / "entrypoint.sh", "db-roles", WEATHER_PYTHON=sys.executable)
    assert result.returncode == 2
    assert "missing environment variables: WEATHER_DATABASE_URL, WEATHER_MIGRATION_DB_USER" in (
        result.stderr
    )
