"""Slow queries and slow or vanishing clients, against ``weather-api serve``:

- the statement timeout from the settings bounds every query: with every table locked by
  another session, each GET answers 503 (or readiness its 503) within the timeout;
- a CSV export has its own, longer limit: a blocked export is cut at the export timeout,
  while a slow reader of a long export gets all of it, past the statement timeout;
- a client that leaves in the middle of a CSV export frees its database connection."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from tests.reliability.conftest import Integrity
from tests.reliability.support import (
    example_path,
    get_operations,
    openapi,
    plain_url,
    record,
    serve,
    station_ids,
)

SLACK_S = 3.0  # on top of a timeout, for a loaded CI machine
ADMIN_TOKEN = "reliability-admin-token-7c1e5b9a2d4f"  # 32+: production
TABLES = (
    "observations",
    "yearly_stats",
    "station_summaries",
    "stations",
    "corn_yields",
    "data_version",
    "load_runs",
    "source_files",
    "alembic_version",
)


@contextlib.asynccontextmanager
async def locked(url: str, tables: tuple[str, ...]) -> AsyncIterator[None]:
    """Another session holds ACCESS EXCLUSIVE locks on ``tables`` until the block ends:
    every query that reads them waits, as behind a long migration. Rolled back after."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            yield
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def timed_get(
    client: httpx.AsyncClient, path: str, **kwargs: Any
) -> tuple[float, httpx.Response]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    response = await client.get(path, **kwargs)
    return loop.time() - start, response


async def blocked_export(client: httpx.AsyncClient, encoding: str) -> tuple[str, float]:
    """How an export whose COPY cannot start ends ("503" or "cut"), and after how long."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    received = b""
    headers = {"Accept-Encoding": encoding}
    try:
        async with client.stream("GET", "/api/weather?format=csv", headers=headers) as response:
            if response.status_code == 503:
                await response.aread()
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"].isdigit()
                return "503", loop.time() - start
            assert response.status_code == 200, response.status_code
            async for chunk in response.aiter_bytes():
                received += chunk
    except httpx.RemoteProtocolError:
        assert received.count(b"\n") <= 1, received[:200]  # not a row reached the client
        return "cut", loop.time() - start
    raise AssertionError(f"a blocked export completed: {received[:200]!r}")


async def test_statement_timeout_bounds_every_query(
    sample_copy_url: str, tmp_path: Path, integrity: Integrity
) -> None:
    await integrity.watch(sample_copy_url)
    timeout_s, export_timeout_s = 0.5, 1.5
    settings = {
        "statement_timeout_ms": str(int(timeout_s * 1000)),
        "export_timeout_ms": str(int(export_timeout_s * 1000)),
        "admin_token": ADMIN_TOKEN,
    }
    async with serve(sample_copy_url, tmp_path, **settings) as server:
        document = await openapi(server.base_url)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=60
        ) as client:
            answers = []
            async with locked(sample_copy_url, TABLES):
                for template, operation in get_operations(document):
                    path = example_path(template, operation)
                    seconds, response = await timed_get(client, path)
                    answers.append((template, operation, seconds, response))
            slowest = max(seconds for _, _, seconds, _ in answers)
            for template, operation, seconds, response in answers:
                assert seconds < timeout_s + SLACK_S, (template, seconds)
                assert response.status_code in (200, 503), (template, response.text)
                if "503" in operation["responses"]:
                    assert response.status_code == 503, (template, response.text)
                if response.status_code == 503:
                    assert response.headers["retry-after"].isdigit(), template
                    assert "Traceback" not in response.text
            waited = [t for t, _, _, r in answers if r.status_code == 503]
            assert len(waited) >= 5, waited

            # An export passes its ETag check, then its COPY waits for the lock on the
            # observations: the export timeout ends it. Compressed, nothing has left yet
            # (gzip holds the response back until its first chunk): a 503 problem. Plain,
            # the 200 has left: the stream is cut before any row.
            exports = {}
            async with locked(sample_copy_url, ("observations",)):
                for encoding in ("gzip", "identity"):
                    exports[encoding] = await blocked_export(client, encoding)
            for encoding, (ended, export_s) in exports.items():
                assert ended in ("503", "cut"), (encoding, ended)
                assert export_timeout_s - 0.2 < export_s < export_timeout_s + SLACK_S, export_s

            # The connections came back: the server serves at once.
            seconds, response = await timed_get(client, "/api/weather", params={"page_size": 1})
            assert response.status_code == 200
            assert seconds < 2
        assert server.running
        log = server.log_tail(10_000_000)
    assert '"level": "ERROR"' not in log, log[-6000:]  # every timeout was expected
    record(
        "statement timeout",
        statement_timeout_s=timeout_s,
        operations=len(answers),
        answered_503=len(waited),
        slowest_answer_s=round(slowest, 2),
        export_timeout_s=export_timeout_s,
        blocked_exports={k: f"{v[0]} after {v[1]:.2f} s" for k, v in exports.items()},
    )


async def test_slow_reader_gets_the_whole_export(
    large_db_url: str, tmp_path: Path, integrity: Integrity
) -> None:
    """Reading a whole export takes longer than the statement timeout (plus asyncpg's
    grace): the export's own limit applies, not the statement timeout's."""
    before = await integrity.watch(large_db_url)
    timeout_s, rate = 1.0, 6 * 2**20  # bytes/s: ~65 MB take ~11 s
    settings = {"statement_timeout_ms": str(int(timeout_s * 1000)), "pool_size": "2"}
    async with (
        serve(large_db_url, tmp_path, **settings) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=60) as client,
    ):
        loop = asyncio.get_running_loop()
        start = loop.time()
        lines, size = 0, 0
        plain = {"Accept-Encoding": "identity"}  # pace on the real bytes
        async with client.stream("GET", "/api/weather?format=csv", headers=plain) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw(1 << 16):
                lines += chunk.count(b"\n")
                size += len(chunk)
                behind = size / rate - (loop.time() - start)
                if behind > 0:
                    await asyncio.sleep(behind)
        seconds = loop.time() - start
    assert seconds > timeout_s + 5, seconds  # past asyncpg's command_timeout
    assert lines == before.observations + 1  # the header and every row
    record(
        "slow reader",
        statement_timeout_s=timeout_s,
        export_seconds=round(seconds, 1),
        rows=lines - 1,
        mib=round(size / 2**20, 1),
    )


async def busy_connections(conn: asyncpg.Connection, database: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT state, left(query, 40) AS query FROM pg_stat_activity "
        "WHERE datname = $1 AND application_name LIKE 'weather-api%' AND state <> 'idle'",
        database,
    )
    return [f"{row['state']}: {row['query']}" for row in rows]


async def pool_checked_out(client: httpx.AsyncClient) -> float | None:
    """The server's own count of export connections in use, where it serves metrics."""
    response = await client.get("/metrics")
    if response.status_code != 200:
        return None
    found = re.search(r'^weather_db_pool_checked_out\{pool="export"\} (\S+)$', response.text, re.M)
    return float(found[1]) if found else None


async def test_client_leaving_mid_export_frees_its_connection(
    large_db_url: str, tmp_path: Path, integrity: Integrity
) -> None:
    await integrity.watch(large_db_url)
    pool_size, leavers = 2, 6  # more clients leave than the pool holds connections
    database = make_url(large_db_url).database
    assert database
    station = station_ids(160)[0]
    freed_after: list[float] = []
    async with serve(large_db_url, tmp_path, pool_size=str(pool_size)) as server:
        host, port = "127.0.0.1", int(server.base_url.rsplit(":", 1)[1])
        probe = await asyncpg.connect(plain_url(large_db_url))
        loop = asyncio.get_running_loop()
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                for n in range(leavers):
                    reader, writer = await asyncio.open_connection(host, port)
                    gzip = "Accept-Encoding: gzip\r\n" if n % 2 else ""
                    request = f"GET /api/weather?format=csv HTTP/1.1\r\nHost: {host}\r\n{gzip}\r\n"
                    writer.write(request.encode())
                    await writer.drain()
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
                    assert head.startswith(b"HTTP/1.1 200"), head
                    received = 0
                    while received < 256 * 1024:
                        chunk = await asyncio.wait_for(reader.read(65536), 15)
                        assert chunk, "the export ended early"
                        received += len(chunk)
                    assert await busy_connections(probe, database), "no export in progress"
                    left = loop.time()
                    if n % 3 == 2:
                        writer.transport.abort()  # a reset, not a clean close
                    else:
                        writer.close()
                    for _ in range(200):  # at most 10 s
                        if not await busy_connections(probe, database):
                            break
                        await asyncio.sleep(0.05)
                    busy = await busy_connections(probe, database)
                    assert not busy, busy
                    freed_after.append(loop.time() - left)
                    # Still serving, without waiting for a connection.
                    response = await client.get(f"/api/stations/{station}")
                    assert response.status_code == 200
                checked_out = await pool_checked_out(client)
                assert checked_out in (None, 0.0), checked_out
        finally:
            await probe.close()
        assert server.running
        log = server.log_tail(10_000_000)
    assert '"level": "ERROR"' not in log, log[-6000:]  # no task left pending, say
    record(
        "client leaves mid-export",
        pool_size=pool_size,
        clients_left=leavers,
        connection_freed_within_s=round(max(freed_after), 2),
        pool_metric_checked=checked_out is not None,
    )
