"""Database outage: while clients keep querying ``weather-api serve`` (production settings),
its PostgreSQL (a server of this test's own, never the shared one) is stopped, left down for
a few seconds, then started again. Throughout, every request is answered, within the
statement timeout; during the outage data endpoints answer 503 problems with Retry-After
and readiness answers 503; after the restart the same server process serves again by
itself within a few seconds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_database
from tests.reliability.conftest import Integrity, load_into
from tests.reliability.support import OwnPostgres, record, serve
from weather_api.db.engine import migrate
from weather_api.settings import Settings

STATEMENT_TIMEOUT_MS = 2_000
SLACK_S = 3.0  # beyond the statement timeout, for a loaded CI machine
CLIENTS = 6
PAUSE_S = 0.05  # between one client's requests
BEFORE_S, OUTAGE_S, AFTER_S = 2.0, 4.0, 3.0
RECOVER_WITHIN_S = 5.0
MIX = (
    "/api/weather?page_size=50",
    "/api/weather/stats?station_id=USC00110072",
    "/api/stations/USC00110072",
    "/api/yield?include=weather",
    "/api/stations?state=IL",
    "/health/ready",
)


@dataclass(frozen=True)
class Answer:
    path: str
    sent: float
    done: float
    status: int | None = None
    headers: httpx.Headers | None = None
    body: str = ""
    error: str | None = None


@pytest.fixture
async def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OwnPostgres]:
    server = OwnPostgres(tmp_path_factory.mktemp("outage") / "pgdata")
    await asyncio.to_thread(server.start_first)
    yield server
    if await server.running():
        await server.stop()


async def client_loop(
    client: httpx.AsyncClient, first: int, answers: list[Answer], stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    most = int((BEFORE_S + OUTAGE_S + RECOVER_WITHIN_S + AFTER_S + 60) / PAUSE_S)
    for path in itertools.islice(itertools.cycle(MIX), first, first + most):
        if stop.is_set():
            return
        sent = loop.time()
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            answers.append(Answer(path, sent, loop.time(), error=repr(exc)))
        else:
            answers.append(
                Answer(
                    path, sent, loop.time(), response.status_code, response.headers, response.text
                )
            )
        await asyncio.sleep(PAUSE_S)


def check_unavailable(answer: Answer) -> str | None:
    """What is wrong with a 503, if anything."""
    assert answer.headers is not None
    if answer.path == "/health/ready":
        if '"status":"unavailable"' not in answer.body.replace(" ", ""):
            return f"readiness body: {answer.body[:200]}"
        return None
    if answer.headers.get("content-type") != "application/problem+json":
        return f"{answer.path}: {answer.headers.get('content-type')}"
    if not answer.headers.get("retry-after", "").isdigit():
        return f"{answer.path}: no Retry-After"
    if '"status":503' not in answer.body.replace(" ", ""):
        return f"{answer.path}: not a problem: {answer.body[:200]}"
    return None


async def test_service_survives_a_database_outage(
    own_postgres: OwnPostgres, sample_dir: Path, tmp_path: Path, integrity: Integrity
) -> None:
    url = await create_database(own_postgres.url)
    await asyncio.to_thread(migrate, url)
    await load_into(url, sample_dir)
    await integrity.watch(url)
    loop = asyncio.get_running_loop()
    settings = {"statement_timeout_ms": str(STATEMENT_TIMEOUT_MS), "pool_size": "4"}
    async with serve(url, tmp_path, **settings) as server:
        answers: list[Answer] = []
        stop = asyncio.Event()
        timeout = STATEMENT_TIMEOUT_MS / 1000 + 30  # far past the bound: a hang shows as slow
        async with httpx.AsyncClient(base_url=server.base_url, timeout=timeout) as client:
            clients = [
                asyncio.create_task(client_loop(client, n, answers, stop)) for n in range(CLIENTS)
            ]
            await asyncio.sleep(BEFORE_S)
            stopping = loop.time()
            await own_postgres.stop()
            down = loop.time()
            await asyncio.sleep(OUTAGE_S)
            starting = loop.time()
            await own_postgres.start()
            up = loop.time()
            await asyncio.sleep(RECOVER_WITHIN_S + AFTER_S)
            stop.set()
            await asyncio.gather(*clients)
        assert server.running, "the server process died"
        log = server.log_tail(10_000_000)

    failed = [a for a in answers if a.error is not None]
    assert not failed, failed[:5]
    statuses = {a.status for a in answers}
    assert statuses <= {200, 503}, statuses
    assert not [a for a in answers if "Traceback" in a.body or 'File "' in a.body]
    slow = [a for a in answers if a.done - a.sent > STATEMENT_TIMEOUT_MS / 1000 + SLACK_S]
    assert not slow, [(a.path, round(a.done - a.sent, 1), a.status) for a in slow[:5]]

    before = [a for a in answers if a.done < stopping]
    assert before, "no request before the outage"
    assert all(a.status == 200 for a in before), [(a.path, a.status) for a in before]

    # A repeated GET may come from the response cache until the server's data version is
    # older than its max age: the answer it gave a moment before the outage. After that,
    # every answer asks the database.
    cached_for = Settings.model_fields["data_version_max_age_ms"].default / 1000
    during = [a for a in answers if a.sent >= down + cached_for and a.done <= starting]
    assert len(during) >= CLIENTS * 10, len(during)
    assert all(a.status == 503 for a in during), [(a.path, a.status) for a in during[:10]]
    wrong = [p for a in during if (p := check_unavailable(a)) is not None]
    assert not wrong, wrong[:10]
    assert {a.path for a in during} == set(MIX)

    # Recovered: from the first answer of the final run of 200s, everything is a 200.
    after = sorted((a for a in answers if a.sent >= up), key=lambda a: a.sent)
    failing = [i for i, a in enumerate(after) if a.status != 200]
    streak = after[failing[-1] + 1 :] if failing else after
    assert streak, "never served again after the restart"
    assert after[-1].sent - streak[0].sent >= AFTER_S, "served again only at the very end"
    recovered_s = streak[0].done - up
    assert recovered_s <= RECOVER_WITHIN_S, recovered_s
    assert {a.path for a in streak} == set(MIX)
    assert '"level": "ERROR"' not in log, log[-6000:]
    record(
        "database outage",
        requests=len(answers),
        during_outage=len(during),
        answers_503=sum(a.status == 503 for a in answers),
        errors=len(failed),
        max_latency_s=round(max(a.done - a.sent for a in answers), 3),
        stop_s=round(down - stopping, 2),
        start_s=round(up - starting, 2),
        recovered_after_start_s=round(recovered_s, 2),
    )
