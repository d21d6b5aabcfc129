"""Rollbacks across an expand migration: the previous release's readiness accepts the
newer schema when the schema lists the previous head as one it serves (alembic 0005).

The previous release is stood in for by pinning the image's own head to the revision
before the database's: the readiness rule is what differs between the two images."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.api import health

HEAD = health.schema_head()


async def test_the_database_is_at_the_images_head(client: AsyncClient, app: FastAPI) -> None:
    body = (await client.get(app.url_path_for("check_readiness"))).json()
    assert body["schema_revision"] == HEAD
    assert body["status"] == "ready"


async def test_the_previous_release_serves_a_schema_that_lists_it(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "schema_head", lambda: "0004")
    ready = await client.get(app.url_path_for("check_readiness"))
    assert ready.status_code == 200, ready.text
    assert ready.json()["schema_revision"] == HEAD
    stations = await client.get(app.url_path_for("list_stations"), params={"page_size": 1})
    assert stations.status_code == 200
    assert stations.json()["items"]


async def test_a_contracted_schema_turns_the_previous_release_unready(
    client: AsyncClient, app: FastAPI, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a contract migration does: the previous revision is no longer listed.
    await session.execute(text("DELETE FROM schema_compatibility WHERE revision = '0004'"))
    monkeypatch.setattr(health, "schema_head", lambda: "0004")
    ready = await client.get(app.url_path_for("check_readiness"))
    assert ready.status_code == 503
    assert f"schema at {HEAD}, expected 0004" in ready.json()["reasons"][0]


async def test_an_image_that_no_revision_lists_is_unready(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "schema_head", lambda: "0001")
    ready = await client.get(app.url_path_for("check_readiness"))
    assert ready.status_code == 503
