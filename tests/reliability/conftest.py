"""Fixtures of the reliability suite: the databases it runs against, the integrity check
around each test, and the figures it prints at the end of the run."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.conftest import create_database, drop_database, settings_for
from tests.reliability.support import (
    FIGURES,
    Snapshot,
    dump_figures,
    record,
    snapshot,
    write_stations,
)
from weather_api.db.engine import create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits

FIGURES_ENV = "WEATHER_RELIABILITY_FIGURES"
# The shape of the real data: 167 stations over 30 years, 1.73 M rows. 160 stations give
# 1.75 M rows, so page 17,000 of 100 exists.
LARGE_STATIONS, LARGE_FIRST_YEAR, LARGE_LAST_YEAR = 160, 1985, 2014


async def load_into(url: str, source: Path) -> None:
    settings = settings_for(url)
    engine = create_load_engine(url, settings)
    try:
        loader = Loader(engine, SourceLimits.from_settings(settings, restricted=False))
        summary = await loader.run([str(source)], trigger="cli")
    finally:
        await engine.dispose()
    assert summary.status == "succeeded", summary.errors


@pytest.fixture(scope="session")
async def sample_copy_url(
    server_url: str, template_url: str, sample_dir: Path
) -> AsyncIterator[str]:
    """The sample data in a database of the suite's own, which no other test opens."""
    url = await create_database(server_url, template=make_url(template_url).database)
    await load_into(url, sample_dir)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="session")
async def large_db_url(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """Generated files as large as the real data, loaded by the real loader."""
    started = time.perf_counter()
    root = tmp_path_factory.mktemp("large")
    rows = write_stations(root, LARGE_STATIONS, LARGE_FIRST_YEAR, LARGE_LAST_YEAR)
    url = await create_database(server_url, template=make_url(template_url).database)
    await load_into(url, root)
    record(
        "large dataset",
        stations=LARGE_STATIONS,
        years=f"{LARGE_FIRST_YEAR}-{LARGE_LAST_YEAR}",
        rows=rows,
        generated_and_loaded_s=round(time.perf_counter() - started, 1),
    )
    yield url
    await drop_database(server_url, url)


class Integrity:
    """The databases a test uses, as they were before it ran."""

    def __init__(self) -> None:
        self.before: dict[str, Snapshot] = {}

    async def watch(self, url: str) -> Snapshot:
        self.before[url] = await snapshot(url)
        return self.before[url]


@pytest.fixture
async def integrity() -> AsyncIterator[Integrity]:
    """After the test, every watched database holds exactly the rows it held before: same
    row counts, same checksum of every row. Request it after the fixtures that provide the
    databases, so that it is checked before they go away."""
    guard = Integrity()
    yield guard
    assert guard.before, "the test watched no database"
    for url, before in guard.before.items():
        after = await snapshot(url)
        assert after.counts == before.counts, f"row counts changed in {make_url(url).database}"
        assert after.checksums == before.checksums, f"rows changed in {make_url(url).database}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for test, figures in FIGURES.items():
        values = ", ".join(f"{name}={value}" for name, value in figures.items())
        terminalreporter.write_line(f"{test}: {values}")
    if target := os.environ.get(FIGURES_ENV):
        dump_figures(Path(target))
        terminalreporter.write_line(f"written to {target}")
