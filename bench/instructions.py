"""Instructions per request of the app alone, counted by valgrind's callgrind: a figure that
does not move with what else runs on the machine, unlike time.

The app is called over raw ASGI (no client, no server, no compression, response cache
off) on a database holding the full data; each URL is warmed up, then called ``--calls``
times with callgrind's instrumentation on around those calls only.

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m bench.instructions --database-url URL --callgrind /tmp/cg

Without ``--callgrind`` (and valgrind) it prints CPU time per request instead, which moves
with the machine's load. Needs Debian's ``valgrind`` package (``callgrind_control``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import in_process_app

PATHS = (
    "/health",
    "/api/weather?page_size=1",
    "/api/weather?station_id=USC00110072&start_date=2000-01-01&end_date=2000-12-31&page_size=366",
    "/api/weather/stats?station_id=USC00110072",
    "/api/stations?page_size=100",
    "/api/yield",
    "/api/weather?page_size=100",
)
WARM_UP = 30


async def call(app: Any, path: str) -> bytes:
    """GET ``path`` over raw ASGI; its body, or exit unless it answers 200."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 1234),
        "server": ("bench", 80),
        "state": {},
    }
    statuses: list[int] = []
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        else:
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    if statuses != [200]:
        raise SystemExit(f"{path}: {statuses}")
    return b"".join(body)


def callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], capture_output=True, check=True)


def instructions(prefix: str) -> int:
    """The instruction total of the newest dump of this process."""
    newest = max(
        Path(prefix).parent.glob(f"{Path(prefix).name}.{os.getpid()}.*"), key=os.path.getmtime
    )
    # Some valgrind versions write "summary: 0" beside the real "totals:" line.
    counts = dict(
        line.split()[:2]
        for line in newest.read_text().splitlines()
        if line.startswith(("totals:", "summary:"))
    )
    total = int(counts.get("totals:") or counts.get("summary:") or 0)
    if not total:
        raise SystemExit(f"no totals in {newest}")
    return total


async def per_call(
    run: Callable[[], Awaitable[object]], calls: int, prefix: str | None, warm_up: int = WARM_UP
) -> float:
    """After a warm-up, millions of instructions per call of ``run`` counted by callgrind
    (with the dump ``prefix``), or without one, milliseconds of CPU time per call."""
    for _ in range(warm_up):
        await run()
    if prefix:
        callgrind("--zero")
        callgrind("--instr=on")
    start = time.process_time()
    for _ in range(calls):
        await run()
    if not prefix:
        return (time.process_time() - start) * 1000 / calls
    callgrind("--instr=off")
    callgrind("--dump")
    return instructions(prefix) / calls / 1e6


async def measure(url: str, calls: int, prefix: str | None) -> None:
    app = in_process_app(url)
    async with app.router.lifespan_context(app):
        for path in PATHS:
            value = await per_call(partial(call, app, path), calls, prefix)
            if prefix:
                print(f"{value:8.2f} M instructions/request  {path}")
            else:
                print(f"{value:8.3f} ms CPU/request  {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--database-url", required=True, help="a database holding the full data")
    parser.add_argument("--calls", type=int, default=50, help="counted calls per URL")
    parser.add_argument(
        "--callgrind",
        metavar="PREFIX",
        help="running under callgrind with --callgrind-out-file=PREFIX.%%p: count instructions",
    )
    args = parser.parse_args(argv)
    asyncio.run(measure(args.database_url, args.calls, args.callgrind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
