"""GET /metrics: requests by route template and status, pool usage, load runs; summed over
uvicorn workers; absent when turned off."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import settings_for
from tests.live_server import free_port, live_server
from weather_api.app import create_app
from weather_api.db.engine import SESSION_POOL_SIZE
from weather_api.db.models import LoadRun

STATION = "/api/stations/{station_id}"


def value(exposition: str, name: str, **labels: str) -> float:
    """One sample's value, 0 if the series does not exist (yet)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def label_values(exposition: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if label in sample.labels
    }


async def scrape(client: AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def requests(exposition: str, route: str, status: int, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    count = value(exposition, "weather_http_requests_total", **labels)
    # The histogram counts the same requests.
    assert value(exposition, "weather_http_request_duration_seconds_count", **labels) == count
    return count


async def test_requests_are_counted_by_route_template_and_status(client: AsyncClient) -> None:
    before = await scrape(client)
    for path in (
        "/api/stations/USC00110072",
        "/api/stations/USC00257715",
        "/api/stations/USC00110072",
    ):
        assert (await client.get(path)).status_code == 200
    assert (await client.get("/api/stations/nope")).status_code == 422
    assert (await client.get("/no/such/path/42")).status_code == 404
    assert (await client.request("BREW", "/health")).status_code == 405
    after = await scrape(client)

    assert requests(after, STATION, 200) - requests(before, STATION, 200) == 3
    assert requests(after, STATION, 422) - requests(before, STATION, 422) == 1
    assert requests(after, "unmatched", 404) - requests(before, "unmatched", 404) == 1
    assert requests(after, "/health", 405, "OTHER") - requests(before, "/health", 405, "OTHER") == 1
    # Raw paths and made-up methods never become label values.
    routes = label_values(after, "route")
    assert STATION in routes
    assert not {r for r in routes if "USC" in r or "no/such" in r}
    assert "BREW" not in label_values(after, "method")


async def test_latency_lands_in_the_buckets(client: AsyncClient) -> None:
    before = await scrape(client)
    started = time.perf_counter()
    await client.get("/health")
    elapsed = time.perf_counter() - started
    after = await scrape(client)
    labels = {"method": "GET", "route": "/health", "status": "200"}
    name = "weather_http_request_duration_seconds"
    added = value(after, f"{name}_sum", **labels) - value(before, f"{name}_sum", **labels)
    assert 0 < added <= elapsed
    inf = {**labels, "le": "+Inf"}
    assert value(after, f"{name}_bucket", **inf) - value(before, f"{name}_bucket", **inf) == 1


async def test_pool_usage_follows_checked_out_connections(
    app: FastAPI, client: AsyncClient
) -> None:
    """The sessions' pool of the primary and the routes' read pool, each as connections
    are taken and given back."""
    exposition = await scrape(client)
    assert value(exposition, "weather_db_pool_size", pool="primary") == SESSION_POOL_SIZE
    assert value(exposition, "weather_db_pool_size", pool="read") == app.state.settings.pool_size
    for pool in ("primary", "read"):
        assert value(exposition, "weather_db_pool_checked_out", pool=pool) == 0
    assert "replica" not in label_values(exposition, "pool")  # no replica configured

    database = app.state.database
    async with database.engine.connect() as held:
        await held.execute(text("SELECT 1"))
        during = await scrape(client)
    assert value(during, "weather_db_pool_checked_out", pool="primary") == 1
    assert value(await scrape(client), "weather_db_pool_checked_out", pool="primary") == 0

    read = await database.reads.acquire()
    try:
        assert value(await scrape(client), "weather_db_pool_checked_out", pool="read") == 1
    finally:
        database.reads.release(read)
    assert value(await scrape(client), "weather_db_pool_checked_out", pool="read") == 0


async def test_load_runs_are_read_from_the_database(
    client: AsyncClient, session: AsyncSession
) -> None:
    exposition = await scrape(client)
    by_status = dict(
        (await session.execute(select(LoadRun.status, func.count()).group_by(LoadRun.status))).all()
    )
    assert by_status["succeeded"] >= 1  # the sample load
    for status, count in by_status.items():
        assert value(exposition, "weather_load_runs", status=status) == count
    inserted, finished = (
        await session.execute(
            select(
                func.sum(LoadRun.inserted),
                func.max(func.extract("epoch", LoadRun.finished_at)),
            ).where(LoadRun.status == "succeeded")
        )
    ).one()
    assert inserted > 0
    assert value(exposition, "weather_load_rows_total", outcome="inserted") == inserted
    assert value(exposition, "weather_load_last_success_timestamp_seconds") == float(finished)
    assert value(exposition, "weather_database_up") == 1


async def test_request_metrics_survive_an_unreachable_database() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(settings_for(url))
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        await client.get("/health")
        exposition = await scrape(client)
    assert value(exposition, "weather_database_up") == 0
    assert requests(exposition, "/health", 200) >= 1


@pytest.fixture
async def unmetered(api_db_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(settings_for(api_db_url, metrics_enabled=False))
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


async def test_metrics_can_be_turned_off(unmetered: AsyncClient, client: AsyncClient) -> None:
    assert (await unmetered.get("/metrics")).status_code == 404
    # Request ids do not depend on metrics.
    assert "x-request-id" in (await unmetered.get("/health")).headers
    # Either way, /metrics is not part of the API's documentation.
    for documented in (unmetered, client):
        assert "/metrics" not in (await documented.get("/openapi.json")).json()["paths"]


@pytest.mark.slow  # a real server with two worker processes
def test_workers_share_their_metrics(api_db_url: str, tmp_path: Path) -> None:
    """Each scrape reaches one of two workers and still sees both workers' requests and
    pools: prometheus_client's multiprocess mode, set up by ``serve``."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with live_server(
        api_db_url, tmp_path, "--workers", "2", TMPDIR=str(tmp), WEATHER_POOL_SIZE="3"
    ) as server:

        def scrape_live() -> str:
            # A connection per request, so the kernel may hand each one to either worker.
            response = httpx.get(f"{server.base_url}/metrics", timeout=10)
            assert response.status_code == 200
            return response.text

        deadline = time.monotonic() + 60
        while value(scrape_live(), "weather_db_pool_size", pool="read") < 6:
            assert time.monotonic() < deadline, "scrapes never summed both workers' pools"
            time.sleep(0.2)
        for _ in range(20):
            assert httpx.get(f"{server.base_url}/docs", timeout=10).status_code == 200
        for _ in range(6):
            exposition = scrape_live()
            assert requests(exposition, "/docs", 200) == 20
            sizes = {pool: value(exposition, "weather_db_pool_size", pool=pool) for pool in POOLS}
            assert sizes == {"read": 6, "primary": 2 * SESSION_POOL_SIZE}
        assert metrics_dirs(tmp)
    assert not metrics_dirs(tmp)  # serve removed its own on the way out


POOLS = ("read", "primary")


def metrics_dirs(tmp: Path) -> list[Path]:
    return [p for p in tmp.iterdir() if p.name.startswith("weather-metrics-")]
