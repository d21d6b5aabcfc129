"""Slowloris against a running server: ``count`` connections each send a request line and
part of the headers, then wait. Prints how long opening took, what ``/health`` answers
meanwhile, and when and how the server closed them. Bounded: ``count`` sockets, 60 s.

    uv run weather-api serve --port 8000 &   # default settings
    uv run python -m bench.slowloris --port 8000 --count 2000
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

PARTIAL = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


async def _until_closed(reader: asyncio.StreamReader, opened: float) -> tuple[float, bytes]:
    received = b""
    try:
        while chunk := await reader.read(4096):
            received += chunk
    except ConnectionResetError:
        received += b"(reset)"
    return time.monotonic() - opened, received[:12]


async def main(port: int, count: int) -> None:
    opened = time.monotonic()
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(PARTIAL)
        connections.append((reader, writer))
    print(f"opened {count} in {time.monotonic() - opened:.1f} s")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        for _ in range(3):
            started = time.perf_counter()
            status = (await client.get("/health")).status_code
            print(f"/health meanwhile: {status} in {time.perf_counter() - started:.3f} s")
            await asyncio.sleep(1)
    closed = await asyncio.wait_for(
        asyncio.gather(*(_until_closed(reader, opened) for reader, _ in connections)), 60
    )
    times = [seconds for seconds, _ in closed]
    answers = sorted({answer.decode(errors="replace") for _, answer in closed})
    first, last = min(times), max(times)
    print(f"closed {len(closed)}: first after {first:.1f} s, last {last:.1f} s: {answers}")
    for _, writer in connections:
        writer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.count))
