"""What routes receive: settings, the database handles and a session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from weather_api.settings import Settings


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


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).read_sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
