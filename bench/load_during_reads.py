"""Read latency while a load runs: the p99 of ``GET /api/weather`` (the first page) during a
full load of the data through ``POST /api/load``, next to the p99 with no load running.

    uv run python -m bench.load_during_reads [--repeat N] [--readers N] [--database-url URL]

Each repetition serves a fresh database with the real command, ``weather-api serve`` on
127.0.0.1, then
- **during**: starts the load with ``POST /api/load`` and has the readers request the first
  page of ``/api/weather`` back to back until the job has finished;
- **idle**: the same readers for as long again (at least IDLE_MIN_S), the data now loaded.

The database starts empty, so during the load the readers see it fill up, while the idle
phase reads all of it: the first page costs about the same either way (it is located in
the yearly stats, then read by primary key). Without a URL an embedded PostgreSQL is
started in a temporary directory and removed afterwards; with one, the user needs CREATEDB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from weather_api.db.engine import start_embedded

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLI = Path(sys.executable).with_name("weather-api")
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
MAX_LOAD_S = 600.0
IDLE_MIN_S = 5.0
STOP_TIMEOUT_S = 30.0
TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Phase:
    name: str
    latencies_ms: list[float]
    errors: int
    seconds: float

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> str:
        n = len(self.latencies_ms)
        return (
            f"| {self.name} | {n:,} | {n / self.seconds:,.0f} | {self.quantile(0.5):.1f} | "
            f"{self.quantile(0.99):.1f} | {max(self.latencies_ms):.1f} | {self.errors} |"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


async def admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    directory = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    try:
        yield start_embedded(directory / "data")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    await admin(server_url, f"CREATE DATABASE {name}")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@asynccontextmanager
async def serve(url: str, data: Path, log: Path) -> AsyncIterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEATHER_")} | {
        "WEATHER_DATABASE_URL": url,
        "WEATHER_ENVIRONMENT": "production",
        "WEATHER_AUTOLOAD": "false",
        "WEATHER_ADMIN_TOKEN": TOKEN,
        "WEATHER_DATA_ROOT": str(data),
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            CLI, "serve", "--host", HOST, "--port", str(port), env=env, stdout=out, stderr=out
        )
    base = f"http://{HOST}:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if process.returncode is not None or time.monotonic() > deadline:
                    tail = (await asyncio.to_thread(log.read_text))[-4000:]
                    raise RuntimeError(f"serve did not come up:\n{tail}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


async def read_until(
    name: str, client: httpx.AsyncClient, readers: int, done: asyncio.Event
) -> Phase:
    """``readers`` clients requesting the first page back to back until ``done`` is set."""
    latencies: list[float] = []
    errors = 0

    async def reader() -> None:
        nonlocal errors
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get("/api/weather")
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code == 200:
                latencies.append(elapsed)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(readers)))
    return Phase(name, latencies, errors, time.perf_counter() - started)


async def wait_for_job(
    client: httpx.AsyncClient, location: str, done: asyncio.Event
) -> dict[str, Any]:
    deadline = time.monotonic() + MAX_LOAD_S
    try:
        while time.monotonic() < deadline:
            job: dict[str, Any] = (await client.get(location, headers=AUTH)).json()
            if job["status"] not in ("queued", "running"):
                return job
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the load did not finish within {MAX_LOAD_S} s")
    finally:
        done.set()


async def repetition(server_url: str, data: Path, readers: int, work: Path) -> list[Phase]:
    async with (
        fresh_database(server_url) as url,
        serve(url, data, work / "serve.log") as base,
        httpx.AsyncClient(
            base_url=base, timeout=30, limits=httpx.Limits(max_connections=readers + 1)
        ) as client,
    ):
        response = await client.post("/api/load", headers=AUTH, json={"source": "."})
        response.raise_for_status()
        done = asyncio.Event()
        during, job = await asyncio.gather(
            read_until("during the load", client, readers, done),
            wait_for_job(client, response.headers["location"], done),
        )
        if job["status"] != "succeeded":
            raise RuntimeError(f"the load {job['status']}: {job['message'] or job['errors']}")
        idle_done = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(max(during.seconds, IDLE_MIN_S), idle_done.set)
        idle = await read_until("idle", client, readers, idle_done)
    print(
        f"load {job['id']}: {job['inserted']:,} rows in {job['duration_s']} s; "
        f"{len(during.latencies_ms):,} reads during it, {len(idle.latencies_ms):,} idle",
        file=sys.stderr,
    )
    return [during, idle]


async def main_async(args: argparse.Namespace) -> None:
    phases: dict[str, list[Phase]] = {}
    with postgres(args.database_url) as server_url, tempfile.TemporaryDirectory() as work:
        for _ in range(args.repeat):
            for phase in await repetition(server_url, args.data, args.readers, Path(work)):
                phases.setdefault(phase.name, []).append(phase)
    print(f"GET /api/weather (first page), readers: {args.readers}, repetitions: {args.repeat}")
    print("| Phase | Requests | Req/s | p50 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in phases.items():
        pooled = Phase(
            name,
            [ms for run in runs for ms in run.latencies_ms],
            sum(run.errors for run in runs),
            sum(run.seconds for run in runs),
        )
        print(pooled.row())
        if len(runs) > 1:
            p99s = ", ".join(f"{run.quantile(0.99):.1f}" for run in runs)
            print(f"|   p99 per repetition: {p99s} | | | | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help=f"data root (default {DATA})")
    parser.add_argument("--repeat", type=int, default=3, help="fresh databases (default 3)")
    parser.add_argument("--readers", type=int, default=4, help="concurrent readers (default 4)")
    parser.add_argument("--database-url", help="a PostgreSQL server; default: embedded")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
