"""Denial of service without a token, against ``weather-api serve`` as it runs:

- clients that start CSV exports and never read take neither the connections pages and
  readiness need nor, after the send timeout, any connection at all; past the export limit
  they wait their turn up to the export queue timeout, holding no connection, then are told
  503;
- connections that never finish their headers (slowloris) are closed at the header timeout
  (and past 64 KiB of headers),
  a body that trickles at the body timeout, and past the connection cap the connection that
  has waited longest for a request makes room (a new one is refused with a 503 only when
  every connection has a request in flight), while /health keeps answering."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import make_url

from tests.conftest import create_database, drop_database
from tests.reliability.conftest import load_into
from tests.reliability.support import plain_url, record, serve, write_stations

MARGIN_S = 2.0  # on top of a timeout, for a loaded machine
EXPORT_LIMIT = 4
# Enough rows that an export outgrows every buffer between PostgreSQL and a client that
# does not read (the kernel's send buffer alone grows to 4 MiB): about 9 MB of CSV.
STATIONS, FIRST_YEAR, LAST_YEAR = 60, 1985, 1994


@pytest.fixture(scope="module")
async def export_db_url(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, int]]:
    """A database whose whole CSV export is far larger than the socket buffers; (url,
    rows)."""
    root = tmp_path_factory.mktemp("exports")
    rows = write_stations(root, STATIONS, FIRST_YEAR, LAST_YEAR)
    url = await create_database(server_url, template=make_url(template_url).database)
    await load_into(url, root)
    yield url, rows
    await drop_database(server_url, url)


def _stalled_export(port: int) -> socket.socket:
    """A client that asks for the whole CSV and then reads nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /api/weather?format=csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


async def _busy_exports(url: str) -> int:
    """Connections of the service that are not idle in their pool: running exports."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'weather-api%' AND state <> 'idle'"
        )
        return count
    finally:
        await conn.close()


async def test_exports_that_are_never_read_starve_neither_pages_nor_probes(
    export_db_url: tuple[str, int], tmp_path: Path
) -> None:
    url, rows = export_db_url
    send_timeout_s, queue_timeout_s = 3.0, 1.0
    settings = {
        "max_concurrent_exports": str(EXPORT_LIMIT),
        "export_queue_timeout_s": str(queue_timeout_s),
        "send_timeout_s": str(send_timeout_s),
    }
    async with serve(url, tmp_path, **settings) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        opened = time.monotonic()
        clients = [_stalled_export(port) for _ in range(3 * EXPORT_LIMIT)]
        try:
            await asyncio.sleep(0.5)  # the exports start and fill the buffers
            async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
                slowest = 0.0
                for _ in range(3):
                    for path in ("/api/weather?page_size=1", "/health/ready"):
                        started = time.perf_counter()
                        response = await client.get(path)
                        seconds = time.perf_counter() - started
                        assert response.status_code == 200, (path, response.text)
                        assert seconds < 1.0, f"{path} took {seconds:.2f} s"
                        slowest = max(slowest, seconds)
            assert time.monotonic() - opened < send_timeout_s, "too slow to test in time"
            statuses = []
            for sock in clients:
                sock.settimeout(2)
                statuses.append(sock.recv(12)[9:12])
            assert statuses.count(b"503") == 2 * EXPORT_LIMIT, statuses
            assert statuses.count(b"200") == EXPORT_LIMIT, statuses

            # The stalled exports are dropped at the send timeout, and give back their
            # connections.
            deadline = opened + send_timeout_s + MARGIN_S + 1
            busy = await _busy_exports(url)
            while busy and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                busy = await _busy_exports(url)
            assert busy == 0, f"{busy} connections still busy after the send timeout"
            freed_s = time.monotonic() - opened
        finally:
            for sock in clients:
                sock.close()
        # Their slots are free again: a client that reads gets the whole export.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            response = await client.get("/api/weather", params={"format": "csv"})
        assert response.status_code == 200, response.text
        assert response.text.count("\n") == rows + 1  # and the header line
    record(
        "stalled exports",
        clients=3 * EXPORT_LIMIT,
        limit=EXPORT_LIMIT,
        slowest_page_or_probe_s=round(slowest, 3),
        connections_freed_after_s=round(freed_s, 1),
        queue_timeout_s=queue_timeout_s,
        send_timeout_s=send_timeout_s,
    )


async def _read_until_closed(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sends until it closes the connection, within ``seconds``."""
    received = b""
    async with asyncio.timeout(seconds):
        while chunk := await reader.read(4096):
            received += chunk
    return received


async def test_connections_that_never_finish_their_headers_are_closed(
    sample_copy_url: str, tmp_path: Path
) -> None:
    header_timeout_s, count = 2.0, 150
    async with serve(sample_copy_url, tmp_path, header_timeout_s=str(header_timeout_s)) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        opened = time.monotonic()
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
        for n, (_, writer) in enumerate(connections):
            # A request line and part of the headers; every tenth sends nothing at all.
            if n % 10:
                writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=1) as client:
            for _ in range(3):
                assert (await client.get("/health")).status_code == 200
        remaining = header_timeout_s + MARGIN_S - (time.monotonic() - opened)
        answers = await asyncio.gather(
            *(_read_until_closed(reader, remaining) for reader, _ in connections)
        )
        closed_s = time.monotonic() - opened
        for _, writer in connections:
            writer.close()
        # Headers that never end within the time are cut at their size too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nX-Large: " + b"x" * 100_000)
        oversized = await _read_until_closed(reader, 1)
        writer.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), set(answers)
    assert oversized.startswith(b"HTTP/1.1 431 "), oversized
    record(
        "slowloris headers",
        connections=count,
        header_timeout_s=header_timeout_s,
        all_closed_after_s=round(closed_s, 1),
    )


async def test_a_trickling_body_is_cut_at_the_body_timeout(
    sample_copy_url: str, tmp_path: Path
) -> None:
    body_timeout_s, token = 2.0, "t" * 40
    settings = {"body_timeout_s": str(body_timeout_s), "admin_token": token}
    async with serve(sample_copy_url, tmp_path, **settings) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/load HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n"
        )
        started = time.monotonic()
        closed_s = None
        # A byte every 0.2 s, for at most the body timeout and a margin.
        while time.monotonic() - started < body_timeout_s + MARGIN_S:
            try:
                writer.write(b"-")
                await writer.drain()
            except ConnectionError:
                closed_s = time.monotonic() - started
                break
            try:
                async with asyncio.timeout(0.2):
                    if await reader.read(4096) == b"":
                        closed_s = time.monotonic() - started
                        break
            except TimeoutError:
                pass
        writer.close()
    assert closed_s is not None, f"a trickling body still open after {body_timeout_s} s"
    assert body_timeout_s - 0.5 < closed_s < body_timeout_s + MARGIN_S, closed_s
    record("trickling body", body_timeout_s=body_timeout_s, closed_after_s=round(closed_s, 1))


async def test_past_the_cap_the_longest_waiting_connection_makes_room(
    sample_copy_url: str, tmp_path: Path
) -> None:
    cap = 20
    async with serve(sample_copy_url, tmp_path, max_connections=str(cap)) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        # As many connections as the cap, that send part of a request and wait.
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(cap)]
        for _, writer in slow:
            writer.write(b"GET /health HTTP/1.1\r\nX-Slow: ")
        await asyncio.sleep(0.2)
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
                for _ in range(3):
                    assert (await client.get("/health")).status_code == 200
            # The client pushed out the oldest slow connection, with a 408, and only it.
            assert (await _read_until_closed(slow[0][0], 2)).startswith(b"HTTP/1.1 408 ")
            with pytest.raises(TimeoutError):
                await _read_until_closed(slow[1][0], 0.3)
        finally:
            for _, writer in slow:
                writer.close()

        # Connections whose requests are all in flight (bodies still to come) are kept: a
        # newcomer is refused instead.
        busy = [await asyncio.open_connection("127.0.0.1", port) for _ in range(cap)]
        try:
            for _, writer in busy:
                writer.write(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            await asyncio.sleep(0.2)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answer = await _read_until_closed(reader, 2)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert b"retry-after: 5" in answer.lower(), answer
        finally:
            for _, writer in busy:
                writer.close()
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
            assert (await client.get("/health")).status_code == 200
