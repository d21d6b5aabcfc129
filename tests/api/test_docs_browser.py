"""/docs and /redoc in a real headless Chromium against a real server: every operation is
listed, "Try it out" on /api/weather returns data, and the page never leaves 127.0.0.1.

Chromium is Debian's (`.ci/run` installs it); Playwright drives it through
``executable_path``, so no Playwright browser download is involved."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright

from tests.conftest import program
from tests.live_server import live_server
from tests.sample import STATIONS, read_days

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture(scope="module")
def server(api_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``weather-api serve`` over the sample database; yields its base URL."""
    with live_server(api_db_url, tmp_path_factory.mktemp("server")) as live:
        yield live.base_url


@pytest.fixture(scope="module")
def spec(server: str) -> dict[str, Any]:
    # trust_env=False: loopback only, whatever proxy the environment names.
    with httpx.Client(trust_env=False) as client:
        response = client.get(f"{server}/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def chromium() -> str:
    # Debian's Chromium: Playwright's own browser downloads are not reachable here.
    return program("chromium", "apt-get install chromium")


@asynccontextmanager
async def browser_page(shots: Path) -> AsyncIterator[tuple[Page, list[str], list[str]]]:
    """A page whose requests may only go to 127.0.0.1; yields it with the blocked URLs and
    the page's uncaught JavaScript errors. A failing test leaves a screenshot in ``shots``."""
    executable = chromium()
    blocked: list[str] = []
    errors: list[str] = []

    async def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("blockedbyclient")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.route("**/*", only_loopback)
            try:
                yield page, blocked, errors
            except BaseException:
                await page.screenshot(path=shots / "failure.png", full_page=True)
                raise
        finally:
            await browser.close()


async def test_swagger_ui_lists_every_operation_and_tries_out_weather(
    server: str, spec: dict[str, Any], sample_dir: Path, tmp_path: Path
) -> None:
    station = STATIONS[1]  # not the documented example, so the filled-in value must be sent
    days = sum(1 for day in read_days(sample_dir) if day.station_id == station)
    expected = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    assert ("GET", "/api/weather") in expected

    async with browser_page(tmp_path) as (page, blocked, errors):
        await page.goto(f"{server}/docs")
        await page.locator(".opblock").first.wait_for()
        listed = await page.eval_on_selector_all(
            ".opblock",
            """blocks => blocks.map(b => [
                b.querySelector('.opblock-summary-method').textContent.trim(),
                b.querySelector('.opblock-summary-path').dataset.path,
            ])""",
        )
        assert {tuple(pair) for pair in listed} == expected

        block = page.locator(".opblock-get").filter(
            has=page.locator('.opblock-summary-path[data-path="/api/weather"]')
        )
        await block.locator(".opblock-summary").click()
        await block.get_by_role("button", name="Try it out").click()
        station_row = block.locator('tr[data-param-name="station_id"]')
        await station_row.get_by_role("button", name="Add string item").click()
        await station_row.locator("input").last.fill(station)
        await block.locator('tr[data-param-name="page_size"] input').fill("5")
        await block.get_by_role("button", name="Execute").click()

        live = block.locator(".live-responses-table .response")
        await live.locator(".response-col_status").wait_for()
        assert (await live.locator(".response-col_status").inner_text()).strip() == "200"
        body = await live.locator(".response-col_description pre").first.inner_text()
        assert f'"station_id": "{station}"' in body
        assert '"items": [' in body
        assert f'"total": {days}' in body
        assert '"page_size": 5' in body
        url = await block.locator(".request-url pre").inner_text()
        assert f"station_id={station}" in url

    assert not errors, errors
    assert not blocked, f"/docs tried to leave the machine: {blocked}"


async def test_redoc_renders_every_operation_offline(
    server: str, spec: dict[str, Any], tmp_path: Path
) -> None:
    summaries = [
        operation["summary"]
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    ]
    async with browser_page(tmp_path) as (page, blocked, errors):
        await page.goto(f"{server}/redoc")
        headings = page.locator('[data-section-id*="operation/"] h2')
        await headings.first.wait_for()
        # One h2 per operation, with its summary, once ReDoc has rendered the spec.
        assert sorted(await headings.all_inner_texts()) == sorted(summaries)

    assert not errors, errors
    # ReDoc's bundle hard-codes its "API docs by Redocly" footer logo from a CDN and hides
    # the image when it fails, as it did here; anything else would be a real dependency.
    assert set(blocked) <= {REDOCLY_LOGO}, f"/redoc tried to leave the machine: {blocked}"
