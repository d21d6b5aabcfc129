"""Release checks against a live deployment: ``weather-api smoke --base-url URL``.

Each check is a few HTTP requests with assertions on what comes back; a failed or
unreachable check fails the run. The checks that need a station use the first one the
stations check found, so they work on any loaded database.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

WEATHER_CSV_HEADER = "station_id,date,max_temp_c,min_temp_c,precipitation_mm"


class CheckFailed(Exception):
    pass


def expect(condition: bool, detail: str) -> None:
    if not condition:
        raise CheckFailed(detail)


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    detail: str
    ms: float


class Smoke:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.sample_station: dict[str, Any] | None = None
        self.weather_total: int | None = None

    def get(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        status: int = 200,
    ) -> httpx.Response:
        response = self.client.get(url, params=params, headers=headers)
        expect(
            response.status_code == status,
            f"GET {response.request.url.raw_path.decode()}: HTTP {response.status_code}, "
            f"expected {status}: {response.text[:300]}",
        )
        return response

    def items(self, url: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
        body = self.get(url, params).json()
        items = body["items"]
        expect(bool(items), f"{url}: no items")
        expect(len(items) <= params["page_size"], f"{url}: more items than page_size")
        expect(body["total"] >= len(items), f"{url}: total {body['total']} < items")
        return items, body

    def chosen_station(self) -> dict[str, Any]:
        if self.sample_station is None:
            raise CheckFailed("skipped: the stations check found no station")
        return self.sample_station

    def weather_window(self) -> dict[str, Any]:
        station = self.chosen_station()
        first = dt.date.fromisoformat(station["first_date"])
        return {
            "station_id": station["station_id"],
            "start_date": first.isoformat(),
            "end_date": (first + dt.timedelta(days=59)).isoformat(),
        }

    # --- checks: each returns what it saw, or raises ----------------------------------------

    def health(self) -> str:
        expect(self.get("/health").json().get("status") == "ok", "status is not ok")
        return "live"

    def request_id(self) -> str:
        sent = f"smoke-{uuid.uuid4().hex}"
        echoed = self.get("/health", headers={"X-Request-ID": sent}).headers.get("x-request-id")
        expect(echoed == sent, f"X-Request-ID came back as {echoed!r}")
        return "X-Request-ID echoed"

    def ready(self) -> str:
        response = self.client.get("/health/ready")
        if response.status_code == 503:
            raise CheckFailed(f"HTTP 503: {'; '.join(response.json()['reasons'])}")
        expect(response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}")
        body = response.json()
        expect(body["status"] == "ready", f"status {body['status']}")
        return f"{body['observations']:,} observations, {body['stations']} stations"

    def stations(self) -> str:
        items, body = self.items("/api/stations", {"page": 1, "page_size": 5})
        # One with a state, if any, so that the state filter can be checked too.
        self.sample_station = next((i for i in items if i["state"]), items[0])
        return f"{body['total']} stations; using {self.sample_station['station_id']}"

    def stations_by_state(self) -> str:
        state = self.chosen_station()["state"]
        expect(state is not None, "none of the first stations has a state")
        items, body = self.items("/api/stations", {"state": state, "page": 1, "page_size": 5})
        expect(all(i["state"] == state for i in items), f"a station outside {state}")
        return f"in {state}: {body['total']}"

    def station(self) -> str:
        station = self.chosen_station()
        one = self.get(f"/api/stations/{station['station_id']}").json()
        expect(one == station, f"differs from the list: {one}")
        return str(station["station_id"])

    def weather(self) -> str:
        window = self.weather_window()
        params = window | {"page": 1, "page_size": 10}
        items, body = self.items("/api/weather", params)
        for item in items:
            expect(item["station_id"] == window["station_id"], f"other station: {item}")
            expect(window["start_date"] <= item["date"] <= window["end_date"], f"date: {item}")
        self.weather_total = body["total"]
        following = body["links"]["next"]
        expect(following is not None, f"{body['total']} days but no next link")
        # The link is absolute; a proxy in front may redirect it to https.
        page2 = self.client.get(following, follow_redirects=True)
        expect(page2.status_code == 200, f"next link: HTTP {page2.status_code}")
        second = page2.json()["items"]
        expect(bool(second), "next page is empty")
        expect(second[0]["date"] > items[-1]["date"], "next page does not follow the first")
        return f"{body['total']} days, 2 pages"

    def stats(self) -> str:
        station_id = self.chosen_station()["station_id"]
        params = {"station_id": station_id, "page": 1, "page_size": 5}
        items, body = self.items("/api/weather/stats", params)
        expect(all(i["station_id"] == station_id for i in items), "a row of another station")
        return f"{body['total']} station-years"

    def yields(self) -> str:
        items, body = self.items("/api/yield", {"include": "weather", "page": 1, "page_size": 5})
        with_weather = sum(item["weather"] is not None for item in items)
        expect(with_weather > 0, "no year carries weather")
        return f"{body['total']} years; {with_weather} of {len(items)} with weather"

    def csv(self) -> str:
        window = self.weather_window()
        response = self.get("/api/weather", window | {"format": "csv"})
        media_type = response.headers.get("content-type", "")
        expect(media_type.startswith("text/csv"), f"Content-Type {media_type}")
        lines = response.text.splitlines()
        expect(lines[:1] == [WEATHER_CSV_HEADER], f"header {lines[:1]}")
        rows = len(lines) - 1
        expect(rows == self.weather_total, f"{rows} rows, the JSON total is {self.weather_total}")
        return f"{rows} rows"

    def etag(self) -> str:
        params = {"page": 1, "page_size": 1}
        etag = self.get("/api/stations", params).headers.get("etag")
        if etag is None:
            raise CheckFailed("no ETag")
        again = self.get("/api/stations", params, headers={"If-None-Match": etag}, status=304)
        expect(again.content == b"", "304 with a body")
        return f"{etag} -> 304"

    def docs(self) -> str:
        page = self.get("/docs").text
        expect("swagger-ui" in page.lower(), "not the Swagger UI page")
        # The page is only usable if its scripts and styles load (they are served locally).
        assets = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', page)
        expect(bool(assets), "the page links no script or style")
        for asset in assets:
            self.get(asset)
        return f"Swagger UI and its {len(assets)} assets"

    def openapi(self) -> str:
        paths = self.get("/openapi.json").json()["paths"]
        expect({"/api/weather", "/api/yield"} <= set(paths), f"paths: {sorted(paths)}")
        return f"{len(paths)} paths"

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("health", self.health),
            ("request id", self.request_id),
            ("ready", self.ready),
            ("stations", self.stations),
            ("stations by state", self.stations_by_state),
            ("station", self.station),
            ("weather", self.weather),
            ("weather stats", self.stats),
            ("yield + weather", self.yields),
            ("weather CSV", self.csv),
            ("ETag 304", self.etag),
            ("docs", self.docs),
            ("openapi.json", self.openapi),
        ]


def run(base_url: str, timeout: float) -> list[Result]:
    headers = {"User-Agent": "weather-api-smoke"}
    results = []
    with httpx.Client(base_url=base_url, timeout=timeout, headers=headers) as client:
        for name, check in Smoke(client).checks():
            start = time.perf_counter()
            try:
                detail, passed = check(), True
            except CheckFailed as exc:
                detail, passed = str(exc), False
            except Exception as exc:  # unreachable, not JSON, a field missing: all failures
                detail, passed = f"{type(exc).__name__}: {exc}", False
            results.append(Result(name, passed, detail, (time.perf_counter() - start) * 1000))
    return results


def report(results: list[Result], base_url: str, console: Console) -> None:
    table = Table(title=f"weather-api smoke: {base_url}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("ms", justify="right")
    table.add_column("detail", overflow="fold")
    for r in results:
        verdict = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
        table.add_row(r.name, verdict, f"{r.ms:.0f}", r.detail)
    console.print(table)
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")


def main(base_url: str, timeout: float) -> int:
    base_url = base_url.rstrip("/")
    results = run(base_url, timeout)
    report(results, base_url, Console(highlight=False))
    return 0 if all(r.passed for r in results) else 1
