"""What routes receive: settings, the database handles and a session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.db.engine import Database
from weather_api.settings import Settings


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
