"""HEAD wherever GET: the GET's status and headers, no body. A 304 varies as its 200."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

# Headers that differ from one response to the next whatever the method.
PER_RESPONSE = {"x-request-id", "date"}
GZIP = {"Accept-Encoding": "gzip"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/weather?page_size=50",
        "/api/weather/stats",
        "/api/stations",
        "/api/stations/USC00110072",
        "/api/yield?include=weather",
        "/health",
        "/health/ready",
        "/openapi.json",
        "/docs",
    ],
)
async def test_head_answers_as_get_without_a_body(client: AsyncClient, path: str) -> None:
    get = await client.get(path, headers=GZIP)
    head = await client.head(path, headers=GZIP)
    assert get.status_code == 200, get.text
    assert head.status_code == 200, head.text
    assert head.content == b""
    expected = {k: v for k, v in get.headers.items() if k not in PER_RESPONSE}
    assert {k: v for k, v in head.headers.items() if k not in PER_RESPONSE} == expected


async def test_head_is_counted_under_its_route(client: AsyncClient) -> None:
    await client.head("/api/stations/USC00110072")
    metrics = (await client.get("/metrics")).text
    assert 'method="HEAD",route="/api/stations/{station_id}",status="200"' in metrics


async def test_head_of_an_export_sends_its_headers_only(client: AsyncClient) -> None:
    head = await client.head("/api/weather", params={"format": "csv"})
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/csv; charset=utf-8"
    assert head.headers["content-disposition"].startswith("attachment;")
    assert head.content == b""
    # Its export slot is free again: a GET still streams the whole result.
    get = await client.get("/api/weather", params={"format": "csv"})
    assert get.status_code == 200
    assert get.text.startswith("station_id,")


@pytest.mark.parametrize("encoding", [GZIP, {"Accept-Encoding": "identity"}])
async def test_a_304_varies_as_its_200(client: AsyncClient, encoding: dict[str, str]) -> None:
    first = await client.get("/api/weather", params={"page_size": 100}, headers=encoding)
    assert first.status_code == 200
    assert first.headers.get("content-encoding", "identity") == encoding["Accept-Encoding"]
    again = await client.get(
        "/api/weather",
        params={"page_size": 100},
        headers={**encoding, "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.headers["vary"] == first.headers["vary"] == "Accept, Accept-Encoding"
