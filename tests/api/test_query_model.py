"""QueryModel documents a query model's parameters exactly as FastAPI's own
``Annotated[Model, Query()]`` does."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel

from weather_api.api.dependencies import QueryModel
from weather_api.api.schemas import (
    NormalsQuery,
    PagingQuery,
    StationQuery,
    StationsQuery,
    StatsQuery,
    SummaryQuery,
    WeatherQuery,
    YieldQuery,
)

MODELS = [
    WeatherQuery,
    StatsQuery,
    StationsQuery,
    StationQuery,
    SummaryQuery,
    NormalsQuery,
    YieldQuery,
    PagingQuery,
]


def _document(model: type[BaseModel], *, ours: bool) -> dict[str, Any]:
    """The OpenAPI document of an app with one route taking ``model``: through QueryModel
    or through FastAPI's ``Query()``."""

    async def route(query: Any) -> None:
        pass

    query = QueryModel(model)
    # Set here: this module's annotations are strings, which cannot name a local.
    route.__annotations__["query"] = Annotated[model, Depends(query) if ours else Query()]
    app = FastAPI()
    app.get("/", openapi_extra=query.openapi if ours else None)(route)
    return app.openapi()


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_parameters_as_fastapi_documents_them(model: type[BaseModel]) -> None:
    ours, theirs = _document(model, ours=True), _document(model, ours=False)
    assert ours["paths"]["/"]["get"]["parameters"] == theirs["paths"]["/"]["get"]["parameters"]
    # The schemas the parameters refer to, which create_app adds to the components.
    schemas = QueryModel(model).schemas
    assert schemas == {name: theirs["components"]["schemas"][name] for name in schemas}
    refs = set(re.findall(r"#/components/schemas/(\w+)", str(ours["paths"])))
    assert refs <= schemas.keys()
