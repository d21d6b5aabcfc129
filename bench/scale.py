"""Cost as the data grows: the dataset at 1x, then synthetic station files at 10x (and, with
``--hundred``, 100x), each loaded and served, every figure next to a same-run floor.

    uv run python -m bench.scale [--database-url URL] [--hundred] [--duration S] [--write]

Synthetic stations: every real station file is written again under new ids in the GHCN
pattern (``US`` + network ``C`` + ``00`` + six digits), its temperatures shifted by a
random offset per copy (-1.5 to 1.5 °C, the same for minimum and maximum, so their order
is the source's) and its precipitation scaled by a random factor (0.8 to 1.2); the dates
and every missing value (-9999) stay where they are, so the missing-value rates and the
calendar are the dataset's own. Per scale it measures:

- the load (``weather-api load --json``) into an empty database against one COPY of the
  same rows (the floor, as in ``bench/load.py``, after an untimed one on the new server),
  the bytes the machine's disks read and wrote during each, the re-run, the load's peak
  RSS, and the database's size; then a ``VACUUM (ANALYZE)`` (what autovacuum reaches later);
- the API (``weather-api serve``, response cache off, wrk at 16 connections): /health as
  the floor, the first page, one station-year, the page at the last offset, the last page
  through the cursor, one station's stats and the stations list; the server's RSS after
  them; then one CSV export of every observation, its rows/s and the server's peak RSS
  meanwhile.

100x needs about 30 GB free on the database's disk (files 5 GB, the floor's TSV 6 GB, the
database about 17 GB) and, with 1x and 10x, 25 minutes to 1 h 34 min on the machines
measured; it is off unless ``--hundred``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
from sqlalchemy import make_url

from bench import api, load
from bench.common import write_section
from weather_api.db.engine import temporary_embedded

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
MISSING = "-9999"
MB = 1024**2
CONNECTIONS = 16
SHAPES = ("health", "first", "station-year", "last-offset", "cursor", "stats", "stations")


def station_ids(count: int, taken: set[str], rng: random.Random) -> list[str]:
    """New ids in the GHCN pattern of the dataset's (USC00110072): US, network C, 00, six
    digits whose first two are a state code of the dataset's states."""
    states = ("11", "12", "13", "25", "33")  # IL, IN, IA, NE, OH in GHCN's numbering
    ids: list[str] = []
    while len(ids) < count:
        candidate = f"USC00{rng.choice(states)}{rng.randrange(10_000):04d}"
        if candidate not in taken:
            taken.add(candidate)
            ids.append(candidate)
    return ids


def _value(text: str) -> int | None:
    return None if text.strip() == MISSING else int(text)


def generate(source: Path, dest: Path, factor: int, seed: int = 14) -> int:
    """``factor`` station files per station of ``source`` under ``dest``/wx_data (the
    original ones included), and its yield file; returns the rows written."""
    rng = random.Random(seed)
    originals = sorted((source / "wx_data").glob("*.txt"))
    taken = {p.stem for p in originals}
    (dest / "wx_data").mkdir(parents=True)
    shutil.copytree(source / "yld_data", dest / "yld_data")
    rows = 0
    for path in originals:
        days = [
            (date, _value(tmax), _value(tmin), _value(prcp))
            for date, tmax, tmin, prcp in (
                line.split("\t") for line in path.read_text().splitlines() if line.strip()
            )
        ]
        shutil.copy(path, dest / "wx_data" / path.name)
        rows += len(days)
        for station in station_ids(factor - 1, taken, rng):
            shift, rain = rng.randint(-15, 15), rng.uniform(0.8, 1.2)
            text = "".join(
                [
                    f"{date}\t{MISSING if hi is None else hi + shift:>5}\t"
                    f"{MISSING if lo is None else lo + shift:>5}\t"
                    f"{MISSING if mm is None else round(mm * rain):>5}\n"
                    for date, hi, lo, mm in days
                ]
            )
            (dest / "wx_data" / f"{station}.txt").write_text(text)
            rows += len(days)
    return rows


@dataclass
class Scale:
    factor: int
    stations: int
    rows: int
    load_average: float = 0.0
    floor_s: float = 0.0
    load_s: float = 0.0
    rerun_s: float = 0.0
    load_rss_mb: float = 0.0
    database_mb: float = 0.0
    vacuum_s: float = 0.0
    api: dict[str, api.Cell] = field(default_factory=dict)
    csv_rows: int = 0
    csv_s: float = 0.0
    csv_server_rss_mb: float = 0.0
    server_rss_mb: float = 0.0  # before the export, after the API rows
    floor_io: Io = field(default_factory=lambda: Io(0, 0))
    load_io: Io = field(default_factory=lambda: Io(0, 0))


@dataclass(frozen=True)
class Io:
    """Bytes the machine's disks read and wrote during a step: at 100x the data files, the
    database and the floor's TSV together outgrow the page cache."""

    read: int
    written: int

    def __str__(self) -> str:
        return f"{self.read / MB:,.0f} / {self.written / MB:,.0f} MB"


def disk_io() -> Io:
    counters = psutil.disk_io_counters()
    return Io(counters.read_bytes, counters.write_bytes) if counters else Io(0, 0)


def since(start: Io) -> Io:
    now = disk_io()
    return Io(now.read - start.read, now.written - start.written)


def warm_up(server_url: str, data: Path, workdir: Path) -> None:
    """One untimed floor of the 1x rows: on a new server the first COPY ran 1.3x slower
    than the next ones (1.82 s against 1.43 s at 1x), which would flatter the 1x ratio."""
    tsv = workdir / "warm-up.tsv"
    load.write_tsv(sorted((data / "wx_data").glob("*.txt")), tsv)
    with load.fresh_database(server_url) as url:
        asyncio.run(load.time_floor(url, tsv))
    tsv.unlink()


def measure_load(server_url: str, url: str, data: Path, scale: Scale, workdir: Path) -> None:
    """Floor, load and re-run into the fresh database at ``url``."""
    files = sorted((data / "wx_data").glob("*.txt"))
    tsv = workdir / "observations.tsv"
    load.write_tsv(files, tsv)
    scale.load_average = os.getloadavg()[0]
    asyncio.run(load.admin(server_url, "CHECKPOINT"))
    io_start = disk_io()
    scale.floor_s = asyncio.run(load.time_floor(url, tsv))
    scale.floor_io = since(io_start)
    tsv.unlink()
    asyncio.run(load.admin(server_url, "CHECKPOINT"))
    io_start = disk_io()
    first = load.run_loader(url, data)
    scale.load_io = since(io_start)
    asyncio.run(load.admin(server_url, "CHECKPOINT"))
    rerun = load.run_loader(url, data)
    if first.summary["inserted"] != scale.rows or rerun.summary["files_loaded"] != 0:
        raise SystemExit(f"the load did not store {scale.rows:,} rows: {first.summary}")
    scale.load_s, scale.rerun_s, scale.load_rss_mb = first.wall_s, rerun.wall_s, first.tree_mb
    size = asyncio.run(load.admin(url, "SELECT pg_database_size(current_database())"))
    scale.database_mb = int(size) / MB
    # The API is measured in the steady state autovacuum reaches some time after a load:
    # planner statistics of the new rows and a visibility map for index-only scans.
    # Without it, the first minutes after a 10x load showed 1.7x to 2.2x the CPU per request.
    start = time.perf_counter()
    asyncio.run(load.admin(url, "VACUUM (ANALYZE)"))
    scale.vacuum_s = time.perf_counter() - start


def urls(base: str, client: httpx.Client) -> dict[str, str]:
    station = api.STATION
    pages = client.get(f"{base}/api/weather?page_size=100").raise_for_status().json()["pages"]
    before_last = client.get(f"{base}/api/weather", params={"page": pages - 1, "page_size": 100})
    cursor: str = before_last.raise_for_status().json()["links"]["next"]
    found = {
        "health": f"{base}/health",
        "first": f"{base}/api/weather",
        "station-year": f"{base}/api/weather?station_id={station}&start_date=2000-01-01"
        "&end_date=2000-12-31&page_size=366",
        "last-offset": f"{base}/api/weather?page={pages}&page_size=100",
        "cursor": cursor,
        "stats": f"{base}/api/weather/stats?station_id={station}",
        "stations": f"{base}/api/stations?page_size=100",
    }
    for url in found.values():
        client.get(url).raise_for_status()
    return found


def measure_api(url: str, scale: Scale, duration: int) -> None:
    # The export of every row at 100x outlasts the default export limit (300 s) on a slow
    # machine; what is measured is its throughput and memory, not the limit.
    settings = api.NO_CACHE | {"WEATHER_EXPORT_TIMEOUT_MS": str(3 * 3600 * 1000)}
    with api.api_server(url, settings) as (base, pid):
        watch = api.CpuWatch(pid, str(make_url(url).database))
        with httpx.Client(timeout=60) as client:
            found = urls(base, client)
            for target in found.values():  # warm-up
                for _ in range(5):
                    client.get(target).raise_for_status()
        scale.api = {
            key: api.run_wrk(key, found[key], CONNECTIONS, duration, [], watch) for key in SHAPES
        }
        for key, cell in scale.api.items():
            print(f"  {scale.factor}x {key:>12} {cell.requests_s:8,.0f} req/s", file=sys.stderr)
        scale.server_rss_mb = psutil.Process(pid).memory_info().rss / MB
        with load.PeakRss(pid) as peak, httpx.Client(timeout=600) as client:
            start = time.perf_counter()
            # Uncompressed, as wrk asks: the rows are counted in the raw body.
            plain = {"Accept-Encoding": "identity"}
            with client.stream("GET", f"{base}/api/weather?format=csv", headers=plain) as response:
                response.raise_for_status()
                lines = sum(chunk.count(b"\n") for chunk in response.iter_raw())
            scale.csv_s = time.perf_counter() - start
        scale.csv_rows = lines - 1  # the header
        scale.csv_server_rss_mb = peak.tree / MB


def table(scales: Sequence[Scale]) -> str:
    one = scales[0]
    header = " | ".join(f"{s.factor}x" for s in scales)
    lines = [
        f"| Measure | {header} | Target |",
        "|---|" + "---:|" * len(scales) + "---|",
    ]

    def row(name: str, values: Sequence[str], target: str = "") -> None:
        lines.append(f"| {name} | {' | '.join(values)} | {target} |")

    row("Stations / observations", [f"{s.stations:,} / {s.rows:,}" for s in scales])
    row("Load average at the start", [f"{s.load_average:.1f}" for s in scales])
    row("Floor: one COPY", [f"{s.floor_s:.2f} s" for s in scales])
    row(
        "Load, wall clock of the command",
        [f"{s.load_s:.2f} s ({s.load_s / s.floor_s:.2f}x floor)" for s in scales],
        "≤ 1.5x floor",
    )
    row("Disk read / written: floor", [str(s.floor_io) for s in scales])
    row("Disk read / written: load", [str(s.load_io) for s in scales])
    row("Re-run, wall clock", [f"{s.rerun_s:.2f} s" for s in scales])
    row(
        "Peak RSS of the load (process tree)",
        [f"{s.load_rss_mb:.0f} MB ({s.load_rss_mb / one.load_rss_mb:.2f}x)" for s in scales],
        "≤ 1.25x of 1x",
    )
    row("Database size", [f"{s.database_mb:,.0f} MB" for s in scales])
    row("Then VACUUM (ANALYZE), untimed above", [f"{s.vacuum_s:.1f} s" for s in scales])
    labels = {
        "health": "API floor: /health",
        "first": "First page",
        "station-year": "One station-year",
        "last-offset": "Page at the last offset",
        "cursor": "Last page through the cursor",
        "stats": "Stats of one station",
        "stations": "Stations list (100)",
    }
    for key, label in labels.items():
        values = []
        for s in scales:
            cell, base = s.api[key], one.api[key]
            cpu, base_cpu = cell.server_ms + cell.database_ms, base.server_ms + base.database_ms
            values.append(
                f"{cell.requests_s:,.0f}/s ({cell.requests_s / s.api['health'].requests_s:.2f}x "
                f"floor), p50 {cell.p50_ms:.1f} ms ({cell.p50_ms / base.p50_ms:.2f}x), "
                f"p99 {cell.p99_ms:.1f} ms ({cell.p99_ms / base.p99_ms:.2f}x), "
                f"CPU {cpu:.2f} ms ({cpu / base_cpu:.2f}x)"
            )
        row(label, values, "" if key == "health" else "p50, p99 ≤ 1.25x of 1x")
    row(
        "CSV export of every row",
        [f"{s.csv_rows:,} rows, {s.csv_rows / s.csv_s:,.0f} rows/s" for s in scales],
    )
    row(
        "Server RSS after the API rows",
        [f"{s.server_rss_mb:.0f} MB ({s.server_rss_mb / one.server_rss_mb:.2f}x)" for s in scales],
        "≤ 1.25x of 1x",
    )
    row(
        "Server peak RSS during the export",
        [
            f"{s.csv_server_rss_mb:.0f} MB ({s.csv_server_rss_mb / one.csv_server_rss_mb:.2f}x)"
            for s in scales
        ],
        "≤ 1.25x of 1x (flat)",
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--data", type=Path, default=load.DATA)
    parser.add_argument("--hundred", action="store_true", help="also 100x (see the docstring)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk cell")
    parser.add_argument("--workdir", type=Path, help="where to write the synthetic data")
    parser.add_argument("--write", action="store_true", help=f"update the Scale section of {DOC}")
    args = parser.parse_args(argv)
    load.compile_bytecode()
    factors = (1, 10, 100) if args.hundred else (1, 10)
    scales: list[Scale] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.workdir)))
        server = (
            nullcontext(args.database_url)
            if args.database_url
            else temporary_embedded("bench-scale-")
        )
        server_url = stack.enter_context(server)
        warm_up(server_url, args.data, workdir)
        for factor in factors:
            data = args.data
            if factor > 1:
                data = workdir / f"data-{factor}x"
                start = time.perf_counter()
                generate(args.data, data, factor)
                print(
                    f"generated {factor}x in {time.perf_counter() - start:.0f} s", file=sys.stderr
                )
            stations = len(list((data / "wx_data").glob("*.txt")))
            rows = api.data_rows(data)
            scale = Scale(factor, stations, rows)
            with load.fresh_database(server_url) as url:
                measure_load(server_url, url, data, scale, workdir)
                print(
                    f"{factor}x: floor {scale.floor_s:.2f} s, load {scale.load_s:.2f} s, "
                    f"re-run {scale.rerun_s:.2f} s",
                    file=sys.stderr,
                )
                measure_api(url, scale, args.duration)
            if data != args.data:
                shutil.rmtree(data)
            scales.append(scale)
    result = table(scales)
    print(result)
    if args.write:
        hundred = " --hundred" if args.hundred else ""
        text = f"""## Scale

`bench/scale.py` (see its docstring for how the synthetic stations are made and what it
measures): each figure comes with the same-run floor it is compared to, and each scale
with the load average at its start, where other work on the machine shows. API rows: wrk at
16 connections for {args.duration} s, the response cache off; *CPU* is the server's and its
PostgreSQL backends' CPU time per request, which depends far less on other work than
latency does; ratios in parentheses are against the same row at 1x.

{result}

```sh
uv run python -m bench.scale --duration {args.duration}{hundred} --write
```
"""
        write_section(DOC, "Scale", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
