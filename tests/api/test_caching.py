"""ETags from the data version, 304s, and compression."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def test_etag_round_trip_and_refresh_after_a_data_change(
    client: AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    url = app.url_path_for("list_weather")
    first = await client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=0, must-revalidate"
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    as_csv = await client.get(url, params={"format": "csv", "date": "1985-01-01"})
    assert as_csv.headers["etag"] != etag
    # A load bumps the version in the transaction that changes the data.
    await session.execute(text("UPDATE data_version SET version = version + 1"))
    after = await client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag


async def test_large_responses_are_gzipped(client: AsyncClient, app: FastAPI) -> None:
    response = await client.get(
        app.url_path_for("list_weather"),
        params={"page_size": 1000},
        headers={"Accept-Encoding": "gzip"},
    )
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["items"]) == 1000
    plain = await client.get(
        app.url_path_for("list_weather"), headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
