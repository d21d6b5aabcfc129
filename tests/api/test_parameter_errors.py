"""Validation errors name parameters as a user writes them and say what they accept once;
every endpoint refuses query parameters it does not take."""

from __future__ import annotations

import pytest
from httpx import AsyncClient


async def test_a_bad_repeated_parameter_is_named_without_its_index(client: AsyncClient) -> None:
    response = await client.get("/api/stations", params=[("state", "XX"), ("state", "YY")])
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "invalid request: state"
    [error] = body["errors"]  # once, though both values are wrong
    assert error["param"] == "state"
    # The allowed values, listed once.
    assert error["message"].count("'IL'") == 1, error["message"]


async def test_a_bad_station_id_is_named_station_id(client: AsyncClient) -> None:
    response = await client.get("/api/weather", params={"station_id": "nope"})
    assert response.status_code == 422
    assert [e["param"] for e in response.json()["errors"]] == ["station_id"]


@pytest.mark.parametrize(
    "path",
    ["/api/stations/USC00110072", "/health", "/health/ready", "/api/weather/stats", "/api/yield"],
)
async def test_unknown_query_parameters_are_refused_everywhere(
    client: AsyncClient, path: str
) -> None:
    response = await client.get(path, params={"stationid": "USC00110072"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"param": "stationid", "message": "unknown parameter"}]


async def test_known_parameters_still_pass(client: AsyncClient) -> None:
    assert (await client.get("/api/stations/USC00110072")).status_code == 200
    assert (await client.get("/api/yield", params={"include": "weather"})).status_code == 200
