"""What routes receive: settings, the database handles and a session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.api.errors import ApiError
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


def _query_names(dependant: Dependant) -> tuple[set[str], bool]:
    """The query parameters a route takes, and whether a model among them already refuses
    the others (``extra="forbid"``)."""
    names: set[str] = set()
    forbids = False
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names |= {info.alias or name for name, info in model.model_fields.items()}
            forbids = forbids or model.model_config.get("extra") == "forbid"
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        sub_names, sub_forbids = _query_names(sub)
        names |= sub_names
        forbids = forbids or sub_forbids
    return names, forbids


async def reject_unknown_params(request: Request) -> None:
    """Every route refuses query parameters it does not take, as the lists' models do: a
    typo is a 422, not a silently ignored filter."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    names, checked_by_model = _query_names(route.dependant)
    if checked_by_model:  # reported with the model's other errors
        return
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in names]
    if unknown:
        raise ApiError(
            422,
            f"invalid request: {', '.join(unknown)}",
            errors=[{"param": name, "message": "unknown parameter"} for name in unknown],
        )


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
