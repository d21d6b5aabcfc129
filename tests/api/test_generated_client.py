"""A Python client generated from the OpenAPI document by openapi-python-client reads
naturally (functions named by what they do) and works against the app."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport

from tests.sample import STATIONS

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def generated(app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The client package's name, importable from tmp_path."""
    (tmp_path / "openapi.json").write_text(json.dumps(app.openapi()))
    (tmp_path / "config.yaml").write_text("post_hooks: []\n")  # no formatter needed
    subprocess.run(
        [
            *(GENERATOR, "generate", "--path", "openapi.json", "--meta", "none"),
            *("--config", "config.yaml", "--output-path", "weather_client"),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "weather_client"


def _operation(package: str, tag: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.api.{tag}.{name}")


async def test_every_read_operation_is_named_and_works(app: FastAPI, generated: str) -> None:
    client_module = importlib.import_module(f"{generated}.client")
    client = client_module.Client(
        base_url="http://test", httpx_args={"transport": ASGITransport(app=app)}
    )
    calls: dict[tuple[str, str], dict[str, Any]] = {
        ("weather", "list_weather"): {"station_id": [STATIONS[0]], "page_size": 5},
        ("weather", "list_weather_stats"): {"station_id": [STATIONS[0]]},
        ("stations", "list_stations"): {},
        ("stations", "get_station"): {"station_id": STATIONS[0]},
        ("yield_", "list_yield"): {"include": "weather"},
        ("health", "check_liveness"): {},
    }
    for (tag, name), kwargs in calls.items():
        response = await _operation(generated, tag, name).asyncio_detailed(client=client, **kwargs)
        assert response.status_code == 200, (name, response.content[:300])
        parsed = response.parsed
        assert parsed is not None, name
        assert type(parsed).__name__ != "Problem", name
    weather = await _operation(generated, "weather", "list_weather").asyncio(
        client=client, station_id=[STATIONS[0]], page_size=5
    )
    assert len(weather.items) == 5
    assert weather.items[0].station_id == STATIONS[0]
    station = await _operation(generated, "stations", "get_station").asyncio(
        client=client, station_id=STATIONS[0]
    )
    assert station.station_id == STATIONS[0]
