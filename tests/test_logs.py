"""Request ids and log lines: every line emitted while a request is served carries its id,
the response returns it, and each request gets one access line (JSON in production)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import read_in_transaction, settings_for
from tests.live_server import live_server
from weather_api.app import create_app
from weather_api.db.queries import Reader

HEX_ID = re.compile(r"[0-9a-f]{32}")
Client = tuple[AsyncClient, Callable[[], list[str]]]


@asynccontextmanager
async def logged_client(
    url: str,
    session: AsyncSession,
    reader: Reader,
    log_format: str,
    add_routes: Callable[[FastAPI], None] | None = None,
) -> AsyncIterator[Client]:
    """A client of the app over the sample data, and the lines its log handler wrote."""
    app = create_app(settings_for(url, log_format=log_format))
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)

    if add_routes is not None:
        add_routes(app)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        read_in_transaction(app, session, reader)
        yield client, lambda: buffer.getvalue().splitlines()


@pytest.fixture
async def json_client(
    api_db_url: str, session: AsyncSession, reader: Reader
) -> AsyncIterator[Client]:
    async with logged_client(api_db_url, session, reader, "json") as client:
        yield client


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]  # fails on any line that is not one object


def access(lines: list[str]) -> list[dict[str, Any]]:
    return [r for r in records(lines) if r["logger"] == "weather_api.access"]


async def test_a_generated_id_is_returned_and_tags_the_access_line(json_client: Client) -> None:
    client, lines = json_client
    response = await client.get("/api/stations/USC00110072")
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(rid)
    (line,) = access(lines())
    assert line["request_id"] == rid
    assert line["method"] == "GET"
    assert line["route"] == "/api/stations/{station_id}"
    assert line["path"] == "/api/stations/USC00110072"
    assert line["status"] == 200
    assert 0 < line["duration_ms"] < 10_000
    assert line["level"] == "INFO"


async def test_each_request_gets_its_own_id(json_client: Client) -> None:
    client, lines = json_client
    ids = [(await client.get("/health")).headers["x-request-id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert [line["request_id"] for line in access(lines())] == ids


@pytest.mark.parametrize(
    "sent",
    [
        "0f8fa7c1-6a1c-4c46-9d1e-8d2c9f1b7e3a",
        "Root=1-67891233-abcdef012345678912345678",
        "x" * 128,
    ],
)
async def test_a_safe_incoming_id_is_kept(json_client: Client, sent: str) -> None:
    client, lines = json_client
    response = await client.get("/health", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent
    assert access(lines())[0]["request_id"] == sent


@pytest.mark.parametrize(
    "sent",
    [b"x" * 129, b"two words", b'quote"d', b"semi;colon", b"caf\xc3\xa9", b""],
)
async def test_an_unsafe_incoming_id_is_replaced(json_client: Client, sent: bytes) -> None:
    client, lines = json_client
    response = await client.get("/health", headers={b"X-Request-ID": sent})
    rid = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(rid)
    assert access(lines())[0]["request_id"] == rid


async def test_an_unhandled_error_is_logged_with_the_request_id(
    api_db_url: str, session: AsyncSession, reader: Reader
) -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    def add_failing_route(app: FastAPI) -> None:
        app.add_api_route("/boom", boom)

    logged = logged_client(api_db_url, session, reader, "json", add_failing_route)
    async with logged as (client, lines):
        response = await client.get("/boom", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 500
    tagged = [r for r in records(lines()) if r.get("request_id") == "trace-42"]
    # The error handler runs outside the middleware, after it. (httpx's own line is tagged
    # too: in-process, the app runs in the test's task; uvicorn gives each request a task.)
    assert {r["logger"] for r in tagged} >= {"weather_api.access", "weather_api.api.errors"}
    error = next(r for r in tagged if r["logger"] == "weather_api.api.errors")
    assert error["level"] == "ERROR"
    assert "RuntimeError: boom" in error["exception"]
    assert access(lines())[0]["status"] == 500


async def test_text_lines_show_the_id_or_a_dash(
    api_db_url: str, session: AsyncSession, reader: Reader
) -> None:
    async with logged_client(api_db_url, session, reader, "text") as (client, lines):
        rid = (await client.get("/health")).headers["x-request-id"]
        logging.getLogger("weather_api.test").info("outside any request")
    assert any(f"INFO    [{rid}] weather_api.access: GET /health 200 " in line for line in lines())
    assert any("[-] weather_api.test: outside any request" in line for line in lines())


@pytest.mark.slow  # real server or CLI processes
def test_serve_writes_one_json_line_per_request_and_no_uvicorn_access_line(
    api_db_url: str, tmp_path: Path
) -> None:
    with live_server(api_db_url, tmp_path, WEATHER_LOG_FORMAT="json") as server:
        for n in range(3):
            response = httpx.get(
                f"{server.base_url}/api/yield", headers={"X-Request-ID": f"live-{n}"}
            )
            assert response.headers["x-request-id"] == f"live-{n}"
    lines = records(server.log_lines())  # after shutdown: everything is flushed
    assert not [r for r in lines if r["logger"] == "uvicorn.access"]
    assert not [r for r in lines if "color_message" in r]
    yields = [
        r for r in lines if r["logger"] == "weather_api.access" and r["route"] == "/api/yield"
    ]
    assert [(r["request_id"], r["status"]) for r in yields] == [
        ("live-0", 200),
        ("live-1", 200),
        ("live-2", 200),
    ]
    assert any(r["logger"] == "uvicorn.error" for r in lines)  # start-up lines: JSON too
