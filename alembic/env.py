"""Alembic environment: async engine, or a connection handed in by the caller (tests)."""

import asyncio

from alembic import context
from sqlalchemy import Connection, func, select
from sqlalchemy.pool import NullPool

from weather_api.db.engine import MIGRATION_LOCK_KEY, async_url, database_url
from weather_api.db.models import Base
from weather_api.settings import get_settings

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        # Containers starting together must not run the same migration twice.
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(async_url(url), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    asyncio.run(run_async_migrations(config.attributes.get("url") or database_url(get_settings())))
