"""The admin guard of /api/load: bearer token, 401/403, nothing of the token in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests.loads_support import AUTH, TOKEN, load_ok, scalar_jobs, serve

# --- the admin guard --------------------------------------------------------------------------


async def test_no_token_configured_is_403_saying_how_to_enable(db_url: str, root: Path) -> None:
    async with serve(db_url, data_root=root, admin_token=None) as client:
        for response in (
            await client.post("/api/load", json={"source": "sample"}),
            await client.get("/api/load", headers=AUTH),
        ):
            assert response.status_code == 403
            assert response.headers["content-type"] == "application/problem+json"
            assert "WEATHER_ADMIN_TOKEN" in response.json()["detail"]
        assert (await client.get("/api/weather")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "longer", "basic", "empty"],
)
async def test_missing_or_wrong_token_is_401(api: AsyncClient, headers: dict[str, str]) -> None:
    for response in (
        await api.post("/api/load", headers=headers, json={"source": "sample"}),
        await api.get("/api/load", headers=headers),
        await api.get("/api/load/1", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in response.text
    assert (await api.get("/api/weather")).status_code == 200
    assert await scalar_jobs(api) == 0


async def test_the_token_never_reaches_the_logs(
    api: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await load_ok(api, json={"source": "sample"})
    await api.get("/api/load", headers={"Authorization": f"Bearer {TOKEN}-wrong"})
    await api.get("/api/load", headers={"Authorization": f"Bearer {TOKEN[:-1]}"})
    assert "refused GET /api/load" in caplog.text  # the records were captured
    assert TOKEN[:-1] not in caplog.text


async def test_openapi_declares_the_bearer_scheme_on_admin_operations_only(
    api: AsyncClient,
) -> None:
    document = (await api.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["AdminToken"]["type"] == "http"
    assert schemes["AdminToken"]["scheme"].lower() == "bearer"
    reads = ("/api/weather", "/api/stations", "/api/yield", "/health")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security") == [{"AdminToken": []}]
            if path.startswith("/api/load"):
                assert secured, f"{method} {path}"
            elif path.startswith(reads):
                assert "security" not in operation, f"{method} {path}"
    post = document["paths"]["/api/load"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"202", "401", "403", "409", "413"} <= set(post["responses"])
