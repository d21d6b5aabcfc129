"""``weather-api smoke`` against a real uvicorn process: it passes on a deployment that
works and fails on one that does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.live_server import CLI, cli_env, free_port, live_server
from weather_api.smoke import Smoke


def smoke(base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "smoke", "--base-url", base_url, "--timeout", "10"],
        # A wide table, so that no row wraps; production settings must not matter to smoke.
        env=cli_env(COLUMNS="200", PYTHONIOENCODING="utf-8", WEATHER_ENVIRONMENT="production"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(output: str) -> dict[str, str]:
    """Check name -> PASS or FAIL, from the printed table."""
    table = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) >= 2 and cells[1] in ("PASS", "FAIL"):
            table[cells[0]] = cells[1]
    return table


with httpx.Client() as _client:
    CHECKS = [name for name, _ in Smoke(_client).checks()]


@pytest.mark.slow  # a real server process and the whole smoke run
def test_smoke_passes_against_a_working_deployment(api_db_url: str, tmp_path: Path) -> None:
    with live_server(api_db_url, tmp_path) as server:
        result = smoke(server.base_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(result.stdout) == dict.fromkeys(CHECKS, "PASS")
    assert f"{len(CHECKS)} passed, 0 failed" in result.stdout
    # The sample: 3 stations, 2 years of days each.
    assert "2,190 observations, 3 stations" in result.stdout


@pytest.mark.slow  # real server or CLI processes
def test_smoke_fails_against_a_deployment_without_data(db_url: str, tmp_path: Path) -> None:
    with live_server(db_url, tmp_path) as server:
        result = smoke(server.base_url)
    assert result.returncode == 1, result.stdout + result.stderr
    table = rows(result.stdout)
    assert table.keys() == set(CHECKS)
    # The server is up and documented, but has nothing to serve.
    for name in ("health", "request id", "docs", "openapi.json"):
        assert table[name] == "PASS"
    for name in ("ready", "stations", "weather", "weather CSV"):
        assert table[name] == "FAIL"
    assert "no weather data loaded yet" in result.stdout


def test_smoke_fails_when_nothing_listens() -> None:
    result = smoke(f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert set(rows(result.stdout).values()) == {"FAIL"}
    assert "ConnectError" in result.stdout
