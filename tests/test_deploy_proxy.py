"""Behind the load balancer, which ends TLS, Link URLs must say https: the server trusts the
X-Forwarded-Proto header from FORWARDED_ALLOW_IPS (service.yaml sets the VPC's range)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.live_server import live_server

# Linters and container checks: minutes, not seconds; not in the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("trusted", "scheme"),
    [
        # A range, as the task definition passes it, that holds the proxy (here: loopback).
        ("127.0.0.0/8", "https"),
        # The proxy outside the trusted range: its header is ignored.
        ("10.0.0.0/8", "http"),
    ],
)
async def test_link_urls_take_the_scheme_of_a_trusted_proxy(
    db_url: str, tmp_path: Path, trusted: str, scheme: str
) -> None:
    # Through the container's entrypoint, as on ECS.
    with live_server(
        db_url, tmp_path, entrypoint=ROOT / "docker" / "entrypoint.sh", FORWARDED_ALLOW_IPS=trusted
    ) as server:
        response = await asyncio.to_thread(
            httpx.get,
            f"{server.base_url}/api/stations",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        )
    assert response.status_code == 200, response.text
    links = response.headers["Link"]
    assert f"<{scheme}://127.0.0.1:{server.base_url.rsplit(':', 1)[1]}/api/stations" in links
    assert response.json()["links"]["self"].startswith(f"{scheme}://")
