"""What routes receive: settings, the database handles, their reads and a session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Generic, TypeVar, get_origin

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from weather_api.api.errors import ApiError
from weather_api.db.engine import Database
from weather_api.db.queries import Reader
from weather_api.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).read_session() as session:
        yield session


def read(request: Request) -> AbstractAsyncContextManager[Reader]:
    """The request's reads, for a route to enter (``async with read(request) as reader``):
    a generator dependency and a session cost a one-row page more than its query
    (docs/benchmarks.md, Request path)."""
    readers: Callable[[], AbstractAsyncContextManager[Reader]] = request.app.state.readers
    return readers()


Q = TypeVar("Q", bound=BaseModel)


class QueryModel(Generic[Q]):
    """A route's query parameters as one model: ``Depends(QueryModel(Model))``, and
    ``openapi_extra=that.openapi`` to document them.

    FastAPI's ``Annotated[Model, Query()]`` inspects each field's annotation on every
    request; this validates ``request.query_params`` in one ``model_validate``, with what
    FastAPI passes (every value of a list parameter, the last of any other), errors located
    in ``query`` as its own, and the parameters documented as it documents them."""

    def __init__(self, model: type[Q]) -> None:
        self.model = model
        self.lists = frozenset(
            name
            for name, field in model.model_fields.items()
            if get_origin(field.annotation) is list
        )
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        required = set(schema.get("required", ()))
        # What the parameters refer to (enums), for the document's components.
        self.schemas: dict[str, Any] = schema.get("$defs", {})
        self.openapi: dict[str, Any] = {
            "parameters": [
                {"name": name, "in": "query", "required": name in required, "schema": prop}
                | ({"description": prop["description"]} if "description" in prop else {})
                for name, prop in schema["properties"].items()
            ]
        }

    async def __call__(self, request: Request) -> Q:
        params = request.query_params
        data = {
            name: params.getlist(name) if name in self.lists else params[name] for name in params
        }
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in errors]
            ) from None


def query_schemas(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The schemas that the parameters of the routes' query models refer to."""
    schemas: dict[str, Any] = {}
    pending = [route.dependant for route in routes if isinstance(route, APIRoute)]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, QueryModel):
            schemas |= dependant.call.schemas
        pending += dependant.dependencies
    return schemas


def _query_names(dependant: Dependant) -> tuple[set[str], bool]:
    """The query parameters a route takes, and whether a model among them already refuses
    the others (``extra="forbid"``)."""
    names: set[str] = set()
    forbids = False
    if isinstance(dependant.call, QueryModel):
        fields = dependant.call.model.model_fields
        return set(fields), dependant.call.model.model_config.get("extra") == "forbid"
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
