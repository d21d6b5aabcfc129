"""Repeated GETs from the in-process response cache: same answer and headers as the app's
own, never for CSV, dropped by a load of this process, bounded by bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text

from tests.conftest import settings_for
from tests.sample import write_sample
from weather_api.api.response_cache import ResponseLru, _Stored
from weather_api.app import create_app
from weather_api.db.engine import create_engine, create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits

STATION = "USC00110072"
PAGE = f"/api/weather?station_id={STATION}&page_size=20"  # over 1000 bytes: gzipped
# The request id differs per answer, cached or not.
PER_REQUEST = {"x-request-id"}


@pytest.fixture
async def served(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    """The app over the test's own database holding the sample, committed."""
    settings = settings_for(db_url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        limits = SourceLimits.from_settings(settings, restricted=False)
        summary = await Loader(app.state.load_jobs.engine, limits).run(
            [str(write_sample(tmp_path / "sample"))], trigger="cli"
        )
        assert summary.status == "succeeded", summary.errors
        yield client


def _headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_REQUEST}


async def delete_first_day(db_url: str) -> None:
    """Change the rows without a load, so without a new data version: only a cached answer
    still shows the deleted day."""
    engine = create_engine(db_url, settings_for(db_url), pool_size=1)
    try:
        async with engine.begin() as conn:
            deleted = await conn.execute(
                text("DELETE FROM observations WHERE station_id = :s AND date = '1985-01-01'"),
                {"s": STATION},
            )
            assert deleted.rowcount == 1
    finally:
        await engine.dispose()


async def test_a_repeated_get_is_the_same_answer_with_the_same_headers(
    served: AsyncClient, db_url: str
) -> None:
    first = await served.get(PAGE)
    assert first.status_code == 200
    assert first.headers["link"]
    assert first.headers["vary"].startswith("Accept")
    await delete_first_day(db_url)
    again = await served.get(PAGE)
    assert again.content == first.content, "not served from the cache"
    assert _headers(again) == _headers(first)
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    # A client holding the ETag still gets its 304 with the same validators.
    revalidated = await served.get(PAGE, headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == first.headers["etag"]
    assert revalidated.headers["cache-control"] == first.headers["cache-control"]
    # Compressed per request: a client that takes gzip gets the same answer, compressed.
    for _ in range(2):
        zipped = await served.get(PAGE, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers.get("content-encoding") == (
            "gzip" if len(first.content) >= 1000 else None
        )
        assert zipped.content == first.content
    assert (await served.get(PAGE)).content == first.content
    # Another Accept is another answer (Vary: Accept): not the cached one.
    as_csv = await served.get(PAGE, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")


async def test_csv_exports_are_not_cached(served: AsyncClient, db_url: str) -> None:
    url = f"/api/weather?station_id={STATION}&format=csv"
    before = await served.get(url)
    await delete_first_day(db_url)
    after = await served.get(url)
    assert f"{STATION},1985-01-01," in before.text
    assert f"{STATION},1985-01-01," not in after.text
    assert after.headers["etag"] == before.headers["etag"]


async def test_a_load_in_this_process_drops_cached_answers(
    served: AsyncClient, db_url: str, tmp_path: Path
) -> None:
    first = (await served.get(PAGE)).json()
    assert first["items"][0]["date"] == "1985-01-01"
    assert first["items"][0]["max_temp_c"] != 99.9
    root = write_sample(tmp_path / "changed")
    station = root / "wx_data" / f"{STATION}.txt"
    lines = station.read_text().splitlines()
    lines[0] = f"{lines[0].split(chr(9))[0]}\t999\t-999\t0"  # 1985-01-01: 99.9 °C
    station.write_text("\n".join(lines) + "\n")
    settings = settings_for(db_url)
    engine = create_load_engine(db_url, settings)
    try:
        limits = SourceLimits.from_settings(settings, restricted=False)
        summary = await Loader(engine, limits).run([str(root)], trigger="cli")
    finally:
        await engine.dispose()
    assert summary.updated == 1, summary
    # At once, not after the data version's polling interval: the load ran in this process.
    after = (await served.get(PAGE)).json()
    assert after["items"][0]["max_temp_c"] == 99.9


def test_the_cache_evicts_least_recently_used_answers_by_bytes() -> None:
    lru = ResponseLru(max_bytes=10_000)
    body = b"x" * 700  # about 900 bytes stored each, under a tenth of the budget
    for n in range(10):
        lru.put(n, _Stored([(b"etag", b'W/"1-json"')], body, {}))
    assert lru.get(0) is not None  # now the most recently used
    lru.put(10, _Stored([], body, {}))
    assert lru.bytes <= 10_000
    assert lru.get(1) is None, "the least recently used answer stayed"
    assert lru.get(0) is not None
    assert lru.get(10) is not None
    lru.put(11, _Stored([], b"x" * 2000, {}))  # over a tenth of the budget: not kept
    assert lru.get(11) is None
