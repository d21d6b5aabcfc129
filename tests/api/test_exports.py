"""CSV exports past the limit: they wait their turn, first come first served, up to the
queue timeout, then are told 503. A running export is stood for by its slot, taken here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from tests.conftest import settings_for
from tests.sample import STATIONS
from weather_api.api.errors import RETRY_AFTER_S
from weather_api.app import create_app


@pytest.fixture
async def one_slot(api_db_url: str) -> AsyncIterator[FastAPI]:
    """The app over the sample, one export at a time, waiting up to 0.5 s for its turn."""
    app = create_app(settings_for(api_db_url, max_concurrent_exports=1, export_queue_timeout_s=0.5))
    async with app.router.lifespan_context(app):
        yield app


async def _export(app: FastAPI) -> Response:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        url = app.url_path_for("list_weather")
        return await client.get(url, params={"station_id": STATIONS[0], "format": "csv"})


async def test_an_export_waits_for_a_running_one_to_end(one_slot: FastAPI) -> None:
    slots: asyncio.Semaphore = one_slot.state.export_slots
    await slots.acquire()
    waiting = asyncio.create_task(_export(one_slot))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # neither answered nor refused while the other runs
    slots.release()
    response = await waiting
    assert response.status_code == 200
    assert response.text.count("\n") == 731  # the header and two years of days
    assert not slots.locked()  # its slot is free again


async def test_an_export_that_waits_past_the_queue_timeout_is_told_503(
    one_slot: FastAPI,
) -> None:
    slots: asyncio.Semaphore = one_slot.state.export_slots
    async with slots:
        started = asyncio.get_running_loop().time()
        response = await _export(one_slot)
        waited = asyncio.get_running_loop().time() - started
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "too many CSV exports" in response.json()["detail"]
    assert 0.5 <= waited < 5
    assert (await _export(one_slot)).status_code == 200  # and nothing kept its slot
