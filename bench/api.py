"""API benchmark on the full data: a real server under ``wrk`` at 1, 16 and 64 connections.

The server is the real command, ``weather-api serve --workers 1`` (uvicorn, one worker),
bound to 127.0.0.1 over a database holding the whole dataset; the load generator is
``wrk`` (Debian: ``apt-get install wrk``), also on 127.0.0.1. Every cell runs
``wrk -t<threads> -c<connections> -d<duration>s --latency`` against one request shape and
reports requests/s and the p50 and p99 latency wrk measured.

    uv run python -m bench.api [--duration S] [--database-url URL] [--write]

Without a URL an embedded PostgreSQL is started in a temporary directory and removed
afterwards. With one, a database that already holds the full data is used as it is;
otherwise a fresh database is created on that server (the user needs CREATEDB), loaded,
and dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any, NoReturn, Self

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]
from sqlalchemy import make_url

from bench.common import write_section
from weather_api.db.engine import temporary_embedded
from weather_api.ingest.sources import PACKAGED_STATION_LIST

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
CLI = Path(sys.executable).with_name("weather-api")
WRK = shutil.which("wrk") or "/usr/bin/wrk"
HOST = "127.0.0.1"
CONNECTIONS = (1, 16, 64)
TARGET_CONNECTIONS = 16
MAX_P99_MS = 50.0
MAX_DEPTH_RATIO = 1.5
READY_TIMEOUT_S = 60.0
WRK_TIMEOUT_S = 30  # wrk's default (2 s) would drop slow CSV responses from the figures
STATION = "USC00110072"
MAX_OTHER_CORES = 0.25
QUIET_SAMPLE_S = 1.0


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    path: str  # resolved to a URL once the server runs; "" for the cursor page
    latency_target: bool = True


FLOOR = "health"
SHAPES = (
    # The floor: the framework and the server alone, no database. Every row is a ratio to it,
    # and each server run measures it first, whatever the suite or --shapes.
    Shape(FLOOR, "Floor: /health (no database)", "/health", False),
    Shape(
        "station-year",
        "One station-year of observations",
        f"/api/weather?station_id={STATION}&start_date=2000-01-01&end_date=2000-12-31"
        "&page_size=366",
    ),
    Shape("stats", "Stats for one station", f"/api/weather/stats?station_id={STATION}"),
    Shape("first", "Unfiltered first page", "/api/weather"),
    Shape("one-row", "Unfiltered first page of one row", "/api/weather?page_size=1"),
    Shape("deep", "Page at offset 1.7 million", "/api/weather?page=17000&page_size=100"),
    Shape("cursor", "Last page through the cursor", ""),
    Shape("csv", "Full CSV of one station", f"/api/weather?station_id={STATION}&format=csv", False),
    Shape("stations", "Stations, first page", "/api/stations?page_size=100"),
    Shape("near", "10 stations nearest a point", "/api/stations?near=41.88,-87.63&page_size=10"),
)
_SEASON_2012 = "/api/weather/summary?period=season&start_date=2012-01-01&end_date=2012-12-31"
_CUSTOM_SEASON = "season_start=05-15&season_end=08-31&gdd_base_c=8&edd_threshold_c=30"
# The climate endpoints (``--suite climate``): default parameters, which monthly_stats
# answers, and custom ones, which aggregate observations.
CLIMATE_SHAPES = (
    Shape(
        "summary-months",
        "One station's 360 monthly summaries",
        f"/api/weather/summary?station_id={STATION}&page_size=360",
    ),
    Shape(
        "summary-months-custom",
        "The same, custom degree days",
        f"/api/weather/summary?station_id={STATION}&page_size=360&gdd_base_c=8&edd_threshold_c=30",
    ),
    Shape(
        "summary-seasons",
        "All stations' seasons of one year",
        f"{_SEASON_2012}&page_size=167",
    ),
    Shape(
        "summary-seasons-custom",
        "The same, custom season and degree days",
        f"{_SEASON_2012}&page_size=167&{_CUSTOM_SEASON}",
    ),
    Shape("normals", "Normals for one station", f"/api/weather/normals?station_id={STATION}"),
    Shape(
        "normals-custom",
        "The same, 1995-2014 and max_missing=2",
        f"/api/weather/normals?station_id={STATION}&start_year=1995&end_year=2014&max_missing=2",
    ),
    Shape("yield-season", "Yield beside the season", "/api/yield?include=season"),
    Shape(
        "yield-season-months",
        "The same, season 05-01 to 08-31",
        "/api/yield?include=season&season_start=05-01&season_end=08-31",
    ),
    Shape(
        "yield-season-custom",
        "The same, custom season and degree days",
        f"/api/yield?include=season&{_CUSTOM_SEASON}",
    ),
    Shape(
        "summary-csv",
        "Monthly summaries of all stations, CSV (60,120 rows)",
        "/api/weather/summary?format=csv",
        False,
    ),
    Shape(
        "daily-csv",
        "Daily rows, CSV (60,171 rows)",
        "/api/weather?start_date=1985-01-01&end_date=1986-01-10&format=csv",
        False,
    ),
)
SUITES = {"api": SHAPES, "climate": (SHAPES[0], *CLIMATE_SHAPES)}
ALL_SHAPES = SHAPES + CLIMATE_SHAPES
# The monthly CSV against as many daily rows: within MAX_DEPTH_RATIO, as the issue asks.
CSV_RATIO = {"summary-csv": "daily-csv"}
# Each within MAX_DEPTH_RATIO of the shape it is compared with.
DEPTH_SHAPES = {"deep": "first", "cursor": "first", "near": "stations"}
# NOAA's full station list has about 130,000 stations: the benchmark loads as many
# synthetic ones beside the dataset's own, so that `near` searches a table of that size.
SYNTHETIC_STATIONS = 130_000
# Requests/s at TARGET_CONNECTIONS as a share of the floor's (issue 14), per shape; every
# other JSON row gets OTHER_FLOOR_SHARE. Repeated reads (the response cache) get CACHED_SHARE.
FLOOR_SHARE = {"one-row": 1 / 3, "station-year": 1 / 4}
OTHER_FLOOR_SHARE = 1 / 4
CACHED_SHARE = 2 / 3
CACHED_SHAPES = ("one-row", "station-year", "stats", "stations")
NO_CACHE = {"WEATHER_RESPONSE_CACHE_BYTES": "0"}


@dataclass(frozen=True)
class Cell:
    shape: str
    connections: int
    requests_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors and non-2xx/3xx responses
    other_cores: float = 0.0  # CPU the rest of the machine took meanwhile, in cores
    server_ms: float = 0.0  # CPU time of the API server per request
    database_ms: float = 0.0  # CPU time of its PostgreSQL backends per request
    load_average: float = 0.0  # 1-minute load average when the cell ended
    cached: bool = False  # served with the response cache on, after a warm-up


# -- wrk ------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(output: str, shape: str, connections: int) -> Cell:
    """Requests/s, p50 and p99 (``--latency``), the request count and the errors."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.M)
        if match is None:
            raise ValueError(f"no {pattern!r} in wrk's output:\n{output}")
        return match

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Cell(
        shape=shape,
        connections=connections,
        requests_s=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)")[1]),
        requests=int(find(r"^\s+(\d+) requests in")[1]),
        errors=errors + (int(non_2xx[1]) if non_2xx else 0),
    )


def wrk_command(url: str, connections: int, duration: int, headers: Sequence[str]) -> list[str]:
    threads = min(connections, os.cpu_count() or 1)  # never more threads than connections
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += [f"--timeout={WRK_TIMEOUT_S}s"]
    for header in headers:
        command += ["-H", header]
    return [*command, url]


def run_wrk(
    shape: str,
    url: str,
    connections: int,
    duration: int,
    headers: Sequence[str],
    watch: CpuWatch,
) -> Cell:
    command = wrk_command(url, connections, duration, headers)
    with watch:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} exited with {done.returncode}:\n{done.stderr}")
    cell = parse_wrk(done.stdout, shape, connections)
    per_request = 1000 / max(cell.requests, 1)
    return replace(
        cell,
        other_cores=watch.other_cores,
        server_ms=watch.server_s * per_request,
        database_ms=watch.database_s * per_request,
        load_average=os.getloadavg()[0],
    )


class CpuWatch:
    """How much CPU the rest of the machine took while a cell ran, in cores: the busy time
    of every CPU (user, nice, system) less that of the API server, its database backends,
    wrk and this process. Another process's work skews figures on a shared machine."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server = psutil.Process(server_pid)
        self.backend = f" {database} "  # in a backend's title: "postgres: user db [local]"
        self.other_cores = self.server_s = self.database_s = 0.0

    def _ours(self) -> tuple[dict[int, float], dict[int, float]]:
        """CPU seconds so far of the server's processes, and of its database backends."""
        backends = [
            proc
            for proc in psutil.process_iter(["cmdline"])
            if " ".join(proc.info["cmdline"] or ()).startswith("postgres: ")
            and self.backend in " ".join(proc.info["cmdline"] or ())
        ]
        server = [self.server, *self.server.children(recursive=True)]
        return self._times(server), self._times(backends)

    @staticmethod
    def _times(procs: list[psutil.Process]) -> dict[int, float]:
        times = {}
        for proc in procs:
            with suppress(psutil.Error):
                cpu = proc.cpu_times()
                times[proc.pid] = cpu.user + cpu.system
        return times

    @staticmethod
    def _busy() -> float:
        cpu = psutil.cpu_times()
        return float(cpu.user + cpu.nice + cpu.system)

    @staticmethod
    def _waited() -> float:
        """This process and its waited-for children (wrk)."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def __enter__(self) -> Self:
        self._start = (time.monotonic(), self._busy(), self._ours(), self._waited())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, (server0, database0), waited0 = self._start
        server1, database1 = self._ours()
        # A backend that started meanwhile counts whole; one that ended is lost.
        self.server_s = sum(t - server0.get(pid, 0.0) for pid, t in server1.items())
        self.database_s = sum(t - database0.get(pid, 0.0) for pid, t in database1.items())
        ours = self.server_s + self.database_s + self._waited() - waited0
        self.other_cores = max(0.0, (self._busy() - busy0 - ours) / (time.monotonic() - wall0))

    def wait_quiet(self, limit: float, budget: list[float]) -> None:
        """Wait while other processes take more than ``limit`` cores (ours idle), for at
        most what is left of ``budget[0]`` seconds, which this spends."""
        while budget[0] > 0:
            start = time.monotonic()
            with self:
                time.sleep(QUIET_SAMPLE_S)
            if self.other_cores <= limit:
                return
            print(
                f"  waiting: other processes take {self.other_cores:.2f} cores "
                f"({budget[0]:.0f} s of waiting left)",
                file=sys.stderr,
            )
            budget[0] -= time.monotonic() - start


# -- the database ---------------------------------------------------------------------------


async def _fetch(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def fetch(url: str, sql: str) -> Any:
    return asyncio.run(_fetch(url, sql))


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def data_rows(data: Path) -> int:
    """Lines of the station files: the observations a full load stores."""
    total = 0
    for path in (data / "wx_data").glob("*.txt"):
        with path.open("rb") as file:
            total += sum(1 for line in file if line.strip())
    return total


def loaded_rows(url: str) -> int:
    """Observations stored in the database at ``url``; 0 before the schema exists."""
    if not fetch(url, "SELECT to_regclass('observations') IS NOT NULL"):
        return 0
    return int(fetch(url, "SELECT count(*) FROM observations"))


def tail(file: IO[bytes], size: int = 4000) -> str:
    file.flush()
    file.seek(max(0, file.seek(0, os.SEEK_END) - size))
    return file.read().decode(errors="replace")


def load(url: str, data: Path) -> dict[str, Any]:
    command = [str(CLI), "load", "--json", str(data)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = subprocess.run(
            command, stdout=out, stderr=err, env=server_env(url), timeout=900, check=False
        ).returncode
        if code != 0:
            raise SystemExit(f"{shlex.join(command)} exited with {code}:\n{tail(err)}")
        summary: dict[str, Any] = json.loads(tail(out).splitlines()[-1])
    return summary


@contextmanager
def loaded_database(server_url: str, data: Path, *, reuse: bool, keep: bool) -> Iterator[str]:
    """A database holding the full data: ``server_url`` itself if ``reuse`` and it is
    already loaded, else a fresh one, loaded here and dropped afterwards unless ``keep``."""
    rows = data_rows(data)
    if reuse and loaded_rows(server_url) == rows:
        print(f"using the loaded database ({rows:,} observations)", file=sys.stderr)
        yield server_url
        return
    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    fetch(server_url, f"CREATE DATABASE {name}")
    url = with_database(server_url, name)
    try:
        start = time.perf_counter()
        summary = load(url, data)
        if summary["status"] != "succeeded" or loaded_rows(url) != rows:
            raise SystemExit(f"the load did not store the {rows:,} rows: {summary}")
        print(f"loaded {rows:,} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        yield url
    finally:
        if keep:
            print(f"kept the database: --database-url '{url}'", file=sys.stderr)
        else:
            fetch(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def station_list(directory: Path, synthetic: int) -> Path:
    """The dataset's own ghcnd-stations.txt followed by ``synthetic`` made-up stations in
    NOAA's layout, spread over the globe (none has observations, as most of NOAA's list
    has none in this dataset)."""
    lines = PACKAGED_STATION_LIST.read_text().splitlines()
    for i in range(synthetic):
        lat = (i * 7919 % 179_999) / 1000 - 89.999
        lon = (i * 104_729 % 359_999) / 1000 - 179.999
        name = f"SYNTHETIC {i}"
        lines.append(f"ZZ{i:09d} {lat:8.4f} {lon:9.4f} {i % 3000:6.1f}    {name:30}" + " " * 14)
    path = directory / "ghcnd-stations.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def load_station_list(url: str, synthetic: int) -> None:
    """Load the station list; a re-run with the same count is skipped by its checksum."""
    with tempfile.TemporaryDirectory() as directory:
        summary = load(url, station_list(Path(directory), synthetic))
    if summary["status"] != "succeeded":
        raise SystemExit(f"the station list did not load: {summary}")
    stations = fetch(url, "SELECT count(*) FROM stations")
    print(f"{stations:,} stations, {synthetic:,} of them synthetic", file=sys.stderr)


# -- the API server -------------------------------------------------------------------------


def server_env(url: str) -> dict[str, str]:
    """This environment without WEATHER_* settings that could change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEATHER_")}
    return env | {
        "WEATHER_DATABASE_URL": url,
        "WEATHER_AUTOLOAD": "false",
        "WEATHER_ENVIRONMENT": "production",
        "WEATHER_LOG_LEVEL": "WARNING",  # no access log lines competing for the CPU
        # The CSV rows measure an export's throughput up to 16 connections, not the export
        # limit (a 503 past it, which tests/reliability checks); each export holds a
        # connection, and PostgreSQL's default allows 100.
        "WEATHER_MAX_CONCURRENT_EXPORTS": "16",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def api_server(url: str, extra: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``weather-api serve`` on a free port of 127.0.0.1 with the settings ``extra`` (e.g.
    NO_CACHE), stopped afterwards; yields its base URL and process id once /health/ready
    answers 200."""
    port = free_port()
    command = [str(CLI), "serve", "--host", HOST, "--port", str(port), "--workers", "1"]
    with tempfile.TemporaryFile() as log:
        env = server_env(url) | extra
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            base = f"http://{HOST}:{port}"
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"the server exited with {proc.returncode}:\n{tail(log)}")
                with suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"not ready after {READY_TIMEOUT_S:.0f} s:\n{tail(log)}")
                time.sleep(0.2)
            yield base, proc.pid
        finally:
            stop(proc)
        if proc.returncode not in (0, 128 + signal.SIGTERM, -signal.SIGTERM):
            print(f"the server exited with {proc.returncode}:\n{tail(log)}", file=sys.stderr)


def resolve(base: str, client: httpx.Client, keys: Sequence[str]) -> dict[str, str]:
    """The URL of each shape in ``keys``, checked to answer 200 with data (only those: a
    whole-data export takes seconds). The cursor page's comes from the ``next`` link of
    the page before the last, as a client walking the pages gets it."""
    urls = {s.key: f"{base}{s.path}" for s in ALL_SHAPES if s.key in keys and s.path}
    if "cursor" in keys:
        pages = client.get(f"{base}/api/weather").raise_for_status().json()["pages"]
        before_last = client.get(f"{base}/api/weather", params={"page": pages - 1})
        cursor_url: str = before_last.raise_for_status().json()["links"]["next"]
        if not cursor_url.startswith(f"{base}/"):
            raise SystemExit(f"the next link leaves {base}: {cursor_url}")
        urls["cursor"] = cursor_url
    for key, url in urls.items():
        response = client.get(url).raise_for_status()
        if key.endswith("csv"):
            ok = response.text.count("\n") > 1
        elif key == FLOOR:
            ok = response.json() == {"status": "ok"}
        else:
            body = response.json()
            ok = bool(body["items"]) and (key != "cursor" or body["page"] == pages)
        if not ok:
            raise SystemExit(f"{url} answered without the expected data")
    return urls


# -- report ---------------------------------------------------------------------------------


def machine(url: str) -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(iter(re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)), platform.machine())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    wrk = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False).stdout
    loops = [m for m in ("uvloop", "httptools") if _installed(m)]
    return {
        "cpu": model.strip(),
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": f"{memory:.0f} GiB",
        "postgres": str(fetch(url, "SHOW server_version")),
        "python": platform.python_version(),
        "uvicorn": f"uvicorn {version('uvicorn')}" + (f" with {', '.join(loops)}" if loops else ""),
        "wrk": wrk.split(" Copyright")[0].strip() or "wrk",
    }


def _installed(module: str) -> bool:
    try:
        version(module)
    except Exception:
        return False
    return True


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def _fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def table(cells: Sequence[Cell]) -> str:
    by = {(c.shape, c.connections): c for c in cells}
    lines = [
        "| Request | Connections | Requests/s | p50 | p99 | Errors | CPU/request: server "
        "| database | Other CPU | Target | Result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for shape in ALL_SHAPES:
        label = shape.label
        for conns in sorted({c.connections for c in cells}):
            cell = by.get((shape.key, conns))
            if cell is None:
                continue
            target = result = ""
            if shape.latency_target and conns == TARGET_CONNECTIONS:
                target = f"p99 ≤ {MAX_P99_MS:.0f} ms"
                result = verdict(cell.p99_ms <= MAX_P99_MS)
            if cell.errors:
                result = (result + ", " if result else "") + "**errors**"
            lines.append(
                f"| {label} | {conns} | {cell.requests_s:,.0f} | {_fmt_ms(cell.p50_ms)} "
                f"| {_fmt_ms(cell.p99_ms)} | {cell.errors} | {cell.server_ms:.2f} ms "
                f"| {cell.database_ms:.2f} ms | {cell.other_cores:.2f} | {target} | {result} |"
            )
            label = ""
    return "\n".join(lines)


def floor_share(key: str) -> float | None:
    """The share of the floor's requests/s a JSON row must reach; None for the rest (the
    floor itself and the CSVs)."""
    if key == FLOOR or key.endswith("csv"):
        return None
    return FLOOR_SHARE.get(key, OTHER_FLOOR_SHARE)


def ratio_table(cells: Sequence[Cell], cached: Sequence[Cell]) -> str:
    """Every row against the floor measured by the same server in the same run: requests/s
    and the server's CPU per request as ratios, with the load average next to each."""
    lines = [
        "| Request | Connections | Requests/s | vs floor | Server CPU/request | vs floor "
        "| Load avg | Target | Result |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for group, suffix in ((cells, ""), (cached, " (repeated, cached)")):
        by = {(c.shape, c.connections): c for c in group}
        for shape in ALL_SHAPES:
            label = shape.label + suffix
            for conns in sorted({c.connections for c in group}):
                floor, cell = by.get((FLOOR, conns)), by.get((shape.key, conns))
                # A cell with no answered request (a CSV slower than the run) has no ratio.
                if floor is None or cell is None or not (floor.requests and cell.requests):
                    continue
                rate = cell.requests_s / floor.requests_s
                cpu = cell.server_ms / max(floor.server_ms, 1e-9)
                share = CACHED_SHARE if cell.cached else floor_share(shape.key)
                target = result = ""
                if share is not None and shape.key != FLOOR and conns == TARGET_CONNECTIONS:
                    target = f"≥ {share:.2f}x floor"
                    result = verdict(rate >= share)
                lines.append(
                    f"| {label} | {conns} | {cell.requests_s:,.0f} | {rate:.2f}x "
                    f"| {cell.server_ms:.2f} ms | {cpu:.1f}x | {cell.load_average:.1f} "
                    f"| {target} | {result} |"
                )
                label = ""
    return "\n".join(lines)


def depth_table(cells: Sequence[Cell], pairs: dict[str, str] = DEPTH_SHAPES) -> str:
    """Each shape of ``pairs`` against the shape it maps to (the deep and the cursor page
    against the first page, the nearest stations against the plain first page of
    stations, the monthly CSV against as many daily rows), per connection count."""
    by = {(c.shape, c.connections): c for c in cells}
    labels = {s.key: s.label for s in ALL_SHAPES}
    lines = [
        "| Request | Against | Connections | p50 ratio | p99 ratio | Requests/s ratio "
        "| CPU/request ratio | Target | Result |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for shape in ALL_SHAPES:
        if shape.key not in pairs:
            continue
        label, against = shape.label, labels[pairs[shape.key]]
        for conns in sorted({c.connections for c in cells}):
            first = by.get((pairs[shape.key], conns))
            cell = by.get((shape.key, conns))
            # A cell with no answered request (a CSV slower than the run) has no ratio.
            if first is None or cell is None or not (first.requests and cell.requests):
                continue
            p50, p99 = cell.p50_ms / first.p50_ms, cell.p99_ms / first.p99_ms
            cpu = (cell.server_ms + cell.database_ms) / max(
                first.server_ms + first.database_ms, 1e-9
            )
            target = result = ""
            if conns == TARGET_CONNECTIONS:
                target = f"p50 and p99 ≤ {MAX_DEPTH_RATIO}x"
                result = verdict(max(p50, p99) <= MAX_DEPTH_RATIO)
            lines.append(
                f"| {label} | {against} | {conns} | {p50:.2f}x | {p99:.2f}x "
                f"| {cell.requests_s / first.requests_s:.2f}x | {cpu:.2f}x | {target} | {result} |"
            )
            label = against = ""
    return "\n".join(lines)


FLOOR_TEXT = f"""Against the floor: `/health` answers without touching the database, so it
is what the framework and the server cost alone. Each server run measures it first and every
other row is a ratio to it at the same connection count: requests/s (higher is better) and
the server's CPU time per request (its /proc CPU time over the cell, divided by the
requests). The first rows run with the response cache off (`WEATHER_RESPONSE_CACHE_BYTES=0`),
since wrk repeats one URL; the rows marked *repeated, cached* run on a second server with
the cache on. Targets at {TARGET_CONNECTIONS} connections: the one-row first page ≥ 1/3 of
the floor, the station-year and every other JSON row ≥ 1/4, repeated reads ≥ 2/3. The load
average is the machine's, shared with other work, when the cell ended."""


def section(
    result: str,
    depth: str,
    ratios: str,
    facts: dict[str, str],
    command: str,
    args: argparse.Namespace,
) -> str:
    def fill(text: str) -> str:
        return textwrap.fill(" ".join(text.split()), width=90, break_on_hyphens=False)

    shapes = "\n".join(
        f"- {s.label}: `{s.path}`"
        if s.path
        else f"- {s.label}: the `next` link of page `pages - 1` of `/api/weather` "
        "(a `?cursor=` URL)"
        for s in SHAPES
    )
    gzip = (
        "with `Accept-Encoding: gzip`, so JSON is compressed as for a browser"
        if args.gzip
        else "without `Accept-Encoding` (wrk sends none), so nothing is compressed"
    )
    waited = args.quiet_wait - max(args.quiet_budget[0], 0.0)
    paragraphs = [
        f"""`bench/api.py` starts the real server, `weather-api serve --workers 1` (uvicorn,
        one worker, `WEATHER_ENVIRONMENT=production`, log level WARNING so that no access
        log is written), on 127.0.0.1 over a database holding the full data
        ({args.rows:,} observations), and drives it with `wrk` (Debian's package: `apt-get
        install wrk`), also on 127.0.0.1, {gzip}. Each cell is `wrk -t<min(connections,
        {os.cpu_count()})> -c<connections> -d{args.duration}s --latency
        --timeout={WRK_TIMEOUT_S}s <url>`, after a few warm-up requests per URL; p50 and
        p99 are wrk's latency percentiles.""",
        f"""wrk, the API server and PostgreSQL share the same {facts["nproc"]} cores, so
        every figure is conservative: deployed, the load generator would not take CPU from
        the server. *CPU/request* is the CPU time the server process and its PostgreSQL
        backends spent per answered request: unlike latency, it hardly depends on what else
        runs. *Other CPU* is what the rest of the machine took meanwhile, in cores (busy
        time of all CPUs less that of the server, its backends and wrk). Before each cell
        the benchmark waits (up to {args.quiet_wait:.0f} s in all; this run waited
        {waited:.0f} s) until other processes take at most {args.max_other} cores, and a
        cell they disturbed more than that is run again (up to {args.retries} time(s)),
        keeping the quieter run.""",
        f"""The targets: p99 ≤ {MAX_P99_MS:.0f} ms at {TARGET_CONNECTIONS} connections for
        every request but the full CSV, and the deep and the cursor page within
        {MAX_DEPTH_RATIO}x of the first page, and the nearest stations within
        {MAX_DEPTH_RATIO}x of the plain first page of stations.""",
        FLOOR_TEXT,
    ]
    how = fill(
        """Why depth costs nothing: yearly stats hold each station-year's row count and
        commit with the data, so the server keeps, per data version, the station-years a
        filter selects with a running total; a page at any offset is a binary search there
        and one index range scan from that station-year's first key, skipping at most a
        year of rows. A `next` link's cursor carries the last key, so the following page
        is an index range scan from it."""
    )
    run_on = fill(
        f"""Run on {dt.date.today().isoformat()}: {facts["nproc"]} CPUs (nproc;
        {facts["cpu"]}), {facts["memory"]} RAM, PostgreSQL {facts["postgres"]}, Python
        {facts["python"]}, {facts["uvicorn"]}, {facts["wrk"]}, with"""
    )
    return f"""## API

{fill(paragraphs[0])}

{shapes}

{fill(paragraphs[1])}

{fill(paragraphs[2])}

{result}

{depth}

{fill(paragraphs[3])}

{ratios}

{how}

{run_on}

```sh
{command}
```

For scale: public solutions of this exercise take 1.6 s for the page at offset 1.7 million.
"""


def climate_section(
    result: str,
    ratio: str,
    ratios: str,
    facts: dict[str, str],
    command: str,
    args: argparse.Namespace,
) -> str:
    def fill(text: str) -> str:
        return textwrap.fill(" ".join(text.split()), width=90, break_on_hyphens=False)

    shapes = "\n".join(f"- {s.label}: `{s.path}`" for s in CLIMATE_SHAPES)
    intro = fill(
        f"""The climate endpoints (`/api/weather/summary`, `/api/weather/normals`,
        `/api/yield?include=season`), measured as the API section says (same server, wrk,
        {args.duration} s per cell, CPU accounting), with `--suite climate`. Default
        parameters, whose periods are whole months, add rows of `monthly_stats`; custom
        degree-day parameters, or seasons that do not fall on month boundaries, aggregate
        the observations in SQL (for the yield, every station's season of every year)."""
    )
    targets = fill(
        f"""The targets: p99 ≤ {MAX_P99_MS:.0f} ms at {TARGET_CONNECTIONS} connections for
        every request but the CSVs, and the monthly summaries of all stations as CSV within
        {MAX_DEPTH_RATIO}x of a CSV of as many daily rows."""
    )
    floor = fill(
        f"""Against the floor, as the API section says: the same server run measures
        `/health` first, with the response cache off; every row is a ratio to it at the same
        connection count, the JSON rows with the target ≥ {OTHER_FLOOR_SHARE:.2f}x of the
        floor's requests/s at {TARGET_CONNECTIONS} connections."""
    )
    run_on = fill(
        f"""Run on {dt.date.today().isoformat()}: {facts["nproc"]} CPUs (nproc;
        {facts["cpu"]}), {facts["memory"]} RAM, PostgreSQL {facts["postgres"]}, Python
        {facts["python"]}, {facts["uvicorn"]}, {facts["wrk"]}, with"""
    )
    return f"""## Climate summaries

{intro}

{shapes}

{targets}

{result}

{ratio}

{floor}

{ratios}

{run_on}

```sh
{command}
```
"""


def command_line(args: argparse.Namespace) -> str:
    parts = ["uv", "run", "python", "-m", "bench.api", "--duration", str(args.duration)]
    if args.database_url:
        parts += ["--database-url", make_url(args.database_url).render_as_string()]
    if args.data != DATA:
        parts += ["--data", str(args.data)]
    if args.connections != CONNECTIONS:
        parts += ["--connections", ",".join(map(str, args.connections))]
    if args.stations != SYNTHETIC_STATIONS:
        parts += ["--stations", str(args.stations)]
    if args.gzip:
        parts.append("--gzip")
    if not args.cached:
        parts.append("--no-cached")
    if args.suite != "api":
        parts += ["--suite", args.suite]
    for name, value in args.settings:
        parts += ["--setting", f"{name}={value}"]
    if args.write:
        parts.append("--write")
    return shlex.join(parts)


def measure(
    shape: str,
    url: str,
    connections: int,
    args: argparse.Namespace,
    headers: Sequence[str],
    watch: CpuWatch,
) -> Cell:
    """One cell; run again (up to ``--retries`` times) while other processes took more
    than ``--max-other`` cores, keeping the run they disturbed least."""
    runs: list[Cell] = []
    for attempt in range(args.retries + 1):
        watch.wait_quiet(args.max_other, args.quiet_budget)
        runs.append(cell := run_wrk(shape, url, connections, args.duration, headers, watch))
        print(
            f"{shape:>12} c={connections:<3} {cell.requests_s:8,.0f} req/s  "
            f"p50 {_fmt_ms(cell.p50_ms):>9}  p99 {_fmt_ms(cell.p99_ms):>9}  "
            f"other processes {cell.other_cores:.2f} cores"
            + (f"  {cell.errors} errors" if cell.errors else ""),
            file=sys.stderr,
        )
        if cell.other_cores <= args.max_other or attempt == args.retries:
            break
    return min(runs, key=lambda c: c.other_cores)


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not (name.startswith("WEATHER_") and equals):
        raise argparse.ArgumentTypeError(f"not WEATHER_NAME=VALUE: {text}")
    return name, value


def _terminate(signum: int, frame: object) -> NoReturn:
    # Through SystemExit, so that the server and PostgreSQL are stopped on the way out.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per cell (default 10)")
    parser.add_argument("--database-url", help="server or database to use (default: embedded)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the data (default {DATA})")
    parser.add_argument(
        "--connections",
        type=lambda s: tuple(int(n) for n in s.split(",")),
        default=CONNECTIONS,
        help="comma-separated connection counts (default 1,16,64)",
    )
    parser.add_argument(
        "--suite",
        choices=tuple(SUITES),
        default="api",
        help="`api` (the section API) or `climate` (the section Climate summaries)",
    )
    parser.add_argument(
        "--shapes",
        type=lambda s: tuple(s.split(",")),
        help="comma-separated subset of the suite's shapes (the floor, health, is always "
        "measured): "
        + "; ".join(
            f"{name}: {','.join(s.key for s in shapes)}" for name, shapes in SUITES.items()
        ),
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=MAX_OTHER_CORES,
        help="re-run a cell while other processes took more CPU, in cores "
        f"(default {MAX_OTHER_CORES})",
    )
    parser.add_argument(
        "--retries", type=int, default=1, help="re-runs of a disturbed cell (default 1)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300,
        help="seconds in all to wait, before cells, for other processes to calm down (default 300)",
    )
    parser.add_argument(
        "--stations",
        type=int,
        default=SYNTHETIC_STATIONS,
        help=f"synthetic stations loaded beside the dataset's (default {SYNTHETIC_STATIONS:,})",
    )
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    parser.add_argument(
        "--no-cached",
        dest="cached",
        action="store_false",
        help="skip the repeated reads with the response cache on",
    )
    parser.add_argument("--keep", action="store_true", help="keep a database loaded here")
    parser.add_argument(
        "--setting",
        dest="settings",
        action="append",
        type=_setting,
        default=[],
        metavar="WEATHER_NAME=VALUE",
        help="a setting of the server, over the benchmark's own (repeatable), e.g. "
        "WEATHER_POOL_SIZE=10",
    )
    parser.add_argument("--write", action="store_true", help=f"update the API section of {DOC}")
    args = parser.parse_args(argv)
    suite = SUITES[args.suite]
    if unknown := set(args.shapes or ()) - {s.key for s in suite}:
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    # The floor first, always: every row is a ratio to it.
    args.shapes = (FLOOR, *(k for k in args.shapes or (s.key for s in suite) if k != FLOOR))
    if args.write and len(args.shapes) != len(suite):
        parser.error("--write needs every shape")
    if not Path(WRK).exists():
        parser.error(f"no wrk at {WRK}: apt-get install wrk")
    signal.signal(signal.SIGTERM, _terminate)
    headers = ["Accept-Encoding: gzip"] if args.gzip else []
    args.quiet_budget = [args.quiet_wait]

    cells: list[Cell] = []
    cached: list[Cell] = []
    with ExitStack() as stack:
        server_url = args.database_url or stack.enter_context(temporary_embedded("bench-api-"))
        url = stack.enter_context(
            loaded_database(server_url, args.data, reuse=bool(args.database_url), keep=args.keep)
        )
        load_station_list(url, args.stations)
        args.rows = loaded_rows(url)
        facts = machine(url)
        # First with the response cache off (wrk repeats one URL: every answer would come
        # from it), then the repeated reads with it on; each server run has its own floor.
        cells = serve_and_measure(url, NO_CACHE, args.shapes, suite, args, headers)
        repeated = [k for k in args.shapes if k in CACHED_SHAPES]
        if args.cached and repeated:
            cached = [
                replace(c, cached=True)
                for c in serve_and_measure(url, {}, (FLOOR, *repeated), suite, args, headers)
            ]
    result = table(cells)
    depth = depth_table(cells, CSV_RATIO if args.suite == "climate" else DEPTH_SHAPES)
    ratios = ratio_table(cells, cached)
    print(result)
    print()
    print(depth)
    print()
    print(ratios)
    if args.write:
        command = command_line(args)
        if args.suite == "climate":
            text = climate_section(result, depth, ratios, facts, command, args)
            write_section(DOC, "Climate summaries", text)
        else:
            write_section(DOC, "API", section(result, depth, ratios, facts, command, args))
        print(f"updated {DOC}", file=sys.stderr)
    return 0


def serve_and_measure(
    url: str,
    extra: dict[str, str],
    keys: Sequence[str],
    suite: Sequence[Shape],
    args: argparse.Namespace,
    headers: Sequence[str],
) -> list[Cell]:
    """One server run with ``extra`` settings: every shape of ``suite`` in ``keys`` at every
    connection count, the floor first."""
    cells = []
    with api_server(url, extra | dict(args.settings)) as (base, pid):
        watch = CpuWatch(pid, str(make_url(url).database))
        with httpx.Client(headers=dict(h.split(": ", 1) for h in headers)) as client:
            urls = resolve(base, client, keys)
            for key in keys:  # warm-up: caches, prepared statements, pool
                for _ in range(5):
                    client.get(urls[key]).raise_for_status()
        for shape in suite:
            if shape.key not in keys:
                continue
            for conns in args.connections:
                cells.append(measure(shape.key, urls[shape.key], conns, args, headers, watch))
    return cells


if __name__ == "__main__":
    sys.exit(main())
