"""Load benchmark on the full data: a load into an empty database, a re-run, and the floor.

The floor is one plain COPY of the same rows, from a TSV written beforehand, into a table
of the observations' shape and primary key, on the same server with the loader's session
settings: what ``psql \\copy`` costs. A second floor is what a load commits, as the loader's
writers commit it: the stations split between LOAD_WRITERS connections at once, each
COPYing its rows into ``observations`` and aggregating them (monthly, yearly, season and
station aggregates in SQL) in one transaction. The load and the re-run are the real
command, ``weather-api load --json``, run as a subprocess whose process tree (the loader
and its parsing worker) is polled for peak RSS.

    uv run python -m bench.load [--repeat N] [--database-url URL] [--write]

Without a URL an embedded PostgreSQL is started in a temporary directory and removed
afterwards. A URL's user needs CREATEDB (every repetition gets a fresh database) and the
right to CHECKPOINT (superuser, or pg_checkpoint on PostgreSQL 15 and later).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import asyncpg
import psutil  # type: ignore[import-untyped]
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import write_section
from weather_api.db.engine import (
    LOAD_WRITERS,
    create_load_engine,
    migrate,
    temporary_embedded,
)
from weather_api.db.stats import refresh_station_summaries, refresh_stats
from weather_api.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
LOADER = Path(sys.executable).with_name("weather-api")
POLL_S = 0.02
MAX_LOAD_TO_FLOOR = 1.5
MAX_WALL_TO_FLOOR = 1.3  # the command as run from the shell, start-up included (issue 14)
MAX_RERUN_S = 1.0
MAX_RSS_MB = 300.0
MB = 1024**2
# asyncpg reads None as "the connection's command timeout": the one COPY of 100x takes minutes.
COPY_TIMEOUT_S = 3 * 3600.0


@dataclass(frozen=True)
class Run:
    """One ``weather-api load --json`` subprocess."""

    wall_s: float
    loader_s: float  # the loader's own duration_s: no interpreter start-up or migration check
    tree_mb: float  # peak of the summed RSS of the whole process tree
    process_mb: float  # peak RSS of the largest single process
    summary: dict[str, Any]


@dataclass(frozen=True)
class Repetition:
    floor_s: float
    aggregates_floor_s: float  # the COPY and then every aggregate a load commits with it
    load: Run
    rerun: Run
    load_average: float  # 1-minute, when the repetition started: the machine is shared


class PeakRss:
    """Polls a process and its descendants every POLL_S in a thread; spikes shorter than
    that can be missed."""

    def __init__(self, pid: int) -> None:
        self.tree = 0
        self.process = 0
        self._root = psutil.Process(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()

    def _poll(self) -> None:
        while True:
            sizes: list[int] = []
            with suppress(psutil.Error):  # the root has exited
                for proc in [self._root, *self._root.children(recursive=True)]:
                    with suppress(psutil.Error):  # a child exited between listing and reading
                        sizes.append(proc.memory_info().rss)
            self.tree = max(self.tree, sum(sizes))
            self.process = max(self.process, *sizes, 0)
            if self._done.wait(POLL_S):
                return


def compile_bytecode() -> None:
    """Compile the interpreter's import path as an install does (``uv sync`` with
    UV_COMPILE_BYTECODE=1, as the Docker image has it): under PYTHONDONTWRITEBYTECODE, set
    in some shells, every command would compile its imports from source, seconds of it."""
    paths = [p for p in sys.path if p and Path(p).is_dir() and not p.endswith(".zip")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", *paths],
        capture_output=True,
        check=False,  # a file that does not compile (a test fixture of a package) is skipped
        timeout=600,
    )


def write_tsv(station_files: Sequence[Path], dest: Path) -> int:
    """The station rows as COPY text, as the loader stores them; returns the row count.
    Dates stay YYYYMMDD, as in the files: PostgreSQL reads that form as it is."""
    rows = 0
    with dest.open("w") as out:
        for path in station_files:
            for line in path.read_text().splitlines():
                values = (v.strip() for v in line.split("\t"))
                out.write("\t".join([path.stem, *("\\N" if v == "-9999" else v for v in values)]))
                out.write("\n")
                rows += 1
    return rows


async def admin(server_url: str, sql: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        return str(await conn.fetchval(sql))
    finally:
        await conn.close()


@dataclass(frozen=True)
class Part:
    """Some stations' rows as COPY text: what one of the loader's writers stores."""

    tsv: Path
    stations: list[str]


def write_parts(station_files: Sequence[Path], directory: Path) -> list[Part]:
    """The stations split between LOAD_WRITERS TSVs, as the loader's writers split them."""
    parts = []
    for number in range(LOAD_WRITERS):
        files = station_files[number::LOAD_WRITERS]
        write_tsv(files, tsv := directory / f"part-{number}.tsv")
        parts.append(Part(tsv, [f.stem for f in files]))
    return parts


async def _copy_tsv(conn: AsyncConnection, table: str, tsv: Path) -> None:
    """COPY the TSV into the table in the open transaction, with the loader's session
    settings, and neither the server's statement timeout nor asyncpg's command timeout:
    one statement for all rows, where the loader's are per batch, outlasts both at 100x."""
    await conn.execute(text("SET LOCAL synchronous_commit = off"))
    await conn.execute(text("SET LOCAL statement_timeout = 0"))
    raw = await conn.get_raw_connection()
    assert raw.driver_connection is not None  # a checked-out connection is always open
    await raw.driver_connection.copy_to_table(
        table, source=tsv, format="text", timeout=COPY_TIMEOUT_S
    )


async def time_floor(url: str, tsv: Path) -> float:
    """Seconds for one COPY of the TSV into an empty table shaped like observations, and its
    commit, through the loader's own engine so the session settings are the same."""
    engine = create_load_engine(url, Settings())
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE bench_floor (LIKE observations INCLUDING ALL)"))
            await conn.commit()
            start = time.perf_counter()
            await _copy_tsv(conn, "bench_floor", tsv)
            await conn.commit()
            elapsed = time.perf_counter() - start
            # The load that follows finds the database as a fresh migration leaves it.
            await conn.execute(text("DROP TABLE bench_floor"))
            await conn.commit()
    finally:
        await engine.dispose()
    return elapsed


async def time_aggregates_floor(url: str, parts: Sequence[Part]) -> float:
    """Seconds for what a load commits, without reading or parsing a file: each part on a
    connection of its own, all at once, as the loader's writers; in each part's
    transaction, the COPY into ``observations`` and its stations' aggregates (monthly and
    yearly stats in one statement, the season sums by trigger, the station summaries)."""
    engine = create_load_engine(url, Settings())

    async def store(part: Part) -> None:
        async with engine.connect() as conn:
            await _copy_tsv(conn, "observations", part.tsv)
            await refresh_stats(conn, station_ids=part.stations)
            await refresh_station_summaries(conn, station_ids=part.stations)
            await conn.commit()

    try:
        start = time.perf_counter()
        await asyncio.gather(*map(store, parts))
        return time.perf_counter() - start
    finally:
        await engine.dispose()


def run_loader(url: str, data: Path) -> Run:
    command = [str(LOADER), "load", "--json", str(data)]
    env = os.environ | {"WEATHER_DATABASE_URL": url}
    # Files, not pipes: a pipe nobody reads while the loader runs would stall it once full.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        with PeakRss(proc.pid) as peak:
            code = proc.wait()
        wall_s = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"{shlex.join(command)} exited with {code}:\n{tail(err)}")
        summary: dict[str, Any] = json.loads(tail(out).splitlines()[-1])
    return Run(wall_s, summary["duration_s"], peak.tree / MB, peak.process / MB, summary)


def tail(file: IO[bytes], size: int = 4000) -> str:
    file.seek(max(0, file.seek(0, os.SEEK_END) - size))
    return file.read().decode(errors="replace")


def check(rep: Repetition, rows: int) -> None:
    """Figures of a load that did not do the whole job would be meaningless."""
    load, rerun = rep.load.summary, rep.rerun.summary
    problems = []
    if load["status"] != "succeeded":
        problems.append(f"load {load['status']}: {load['errors']}")
    if load["inserted"] != rows:
        problems.append(f"load inserted {load['inserted']} of {rows} rows")
    if rerun["files_skipped"] != rerun["files_total"]:
        problems.append(f"re-run skipped {rerun['files_skipped']} of {rerun['files_total']} files")
    if problems:
        raise SystemExit("; ".join(problems))


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database migrated to head, dropped afterwards."""
    name = f"bench_load_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name}"))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        migrate(url)
        yield url
    finally:
        asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def repetition(
    server_url: str, data: Path, tsv: Path, parts: Sequence[Part], rows: int
) -> Repetition:
    def checkpoint() -> None:
        # Every timed step starts right after a checkpoint: none pays for flushing what the
        # step before wrote, or meets a checkpoint that step's WAL set off.
        asyncio.run(admin(server_url, "CHECKPOINT"))

    load_average = os.getloadavg()[0]
    with fresh_database(server_url) as url:
        checkpoint()
        aggregates_s = asyncio.run(time_aggregates_floor(url, parts))
    with fresh_database(server_url) as url:
        checkpoint()
        floor_s = asyncio.run(time_floor(url, tsv))
        checkpoint()
        load = run_loader(url, data)
        checkpoint()
        rep = Repetition(floor_s, aggregates_s, load, run_loader(url, data), load_average)
    check(rep, rows)
    return rep


def machine(server_url: str, load_average: float) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(iter(re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)), platform.machine())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    version = asyncio.run(admin(server_url, "SHOW server_version"))
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({model}), {memory:.0f} GiB RAM, "
        f"PostgreSQL {version}, Python {platform.python_version()}, "
        f"1-minute load average {load_average:.2f} at the start"
    )


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def table(reps: Sequence[Repetition], rows: int) -> str:
    def stat(pick: Callable[[Repetition], float], unit: str, digits: int = 2) -> str:
        values = [pick(r) for r in reps]
        low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
        spread = f" ({low} to {high})" if len(values) > 1 else ""
        return f"{statistics.median(values):.{digits}f} {unit}{spread}"

    def median(pick: Callable[[Repetition], float]) -> float:
        return statistics.median(pick(r) for r in reps)

    floor, load = median(lambda r: r.floor_s), median(lambda r: r.load.loader_s)
    wall = median(lambda r: r.load.wall_s)
    aggregates = median(lambda r: r.aggregates_floor_s)
    rerun = median(lambda r: r.rerun.wall_s)
    rss = median(lambda r: r.load.tree_mb)
    lines = [
        f"| Measure (median of {len(reps)}, range) | Figure | Rows/s | Target | Result |",
        "|---|---|---|---|---|",
        f"| Floor: one COPY of {rows:,} rows | {stat(lambda r: r.floor_s, 's')} "
        f"| {rows / floor:,.0f} | | |",
        f"| Floor with the aggregates: {LOAD_WRITERS} connections at once, each a COPY into "
        "observations, then its stations' monthly, yearly, season and station aggregates in "
        f"SQL | {stat(lambda r: r.aggregates_floor_s, 's')} | {rows / aggregates:,.0f} | "
        f"| {aggregates / floor:.2f}x floor; the loader's `duration_s` "
        f"{load / aggregates:.2f}x this |",
        f"| Full load, the loader's `duration_s` | {stat(lambda r: r.load.loader_s, 's')} "
        f"| {rows / load:,.0f} | ≤ {MAX_LOAD_TO_FLOOR}x floor | {load / floor:.2f}x floor: "
        f"{verdict(load / floor <= MAX_LOAD_TO_FLOOR)} |",
        f"| Full load, wall clock of the command | {stat(lambda r: r.load.wall_s, 's')} "
        f"| {rows / wall:,.0f} | ≤ {MAX_WALL_TO_FLOOR}x floor | {wall / floor:.2f}x floor: "
        f"{verdict(wall / floor <= MAX_WALL_TO_FLOOR)} |",
        "| Each repetition: wall clock / floor (load average) | "
        + ", ".join(f"{r.load.wall_s / r.floor_s:.2f}x ({r.load_average:.1f})" for r in reps)
        + " | | | |",
        f"| Re-run, wall clock of the command | {stat(lambda r: r.rerun.wall_s, 's')} | "
        f"| ≤ {MAX_RERUN_S:.0f} s | {verdict(rerun <= MAX_RERUN_S)} |",
        f"| Re-run, the loader's `duration_s` | {stat(lambda r: r.rerun.loader_s, 's')} | | | |",
        f"| Peak RSS of the load, whole process tree | {stat(lambda r: r.load.tree_mb, 'MB', 0)} "
        f"| | ≤ {MAX_RSS_MB:.0f} MB | {verdict(rss <= MAX_RSS_MB)} |",
        "| Peak RSS of the load, largest process "
        f"| {stat(lambda r: r.load.process_mb, 'MB', 0)} | | | |",
    ]
    return "\n".join(lines)


def section(result: str, facts: str, command: str, rows: int, files: int) -> str:
    return f"""## Load

`bench/load.py` measures, on the full data ({files} station files, {rows:,} rows, and the
yield file), three things, each repetition in a fresh database on the same server:

- **Floor**: one `COPY` of the same rows, from a TSV written beforehand (not timed), into an
  empty table with the observations' columns and primary key, with the loader's session
  settings (`synchronous_commit = off`, as the loader sets per batch), commit included:
  what a `psql \\copy` costs, the issue's floor.
- **Floor with the aggregates**: the same rows into the empty `observations` of a fresh
  database as the loader's {LOAD_WRITERS} writers store them, stations split between
  {LOAD_WRITERS} connections at once, each in one transaction: its COPY, then its stations'
  monthly and yearly stats (one statement), season sums (by trigger) and station
  summaries. No loader that commits these with the rows, {LOAD_WRITERS} batches at a time,
  can be faster; the files are not read or parsed either.
- **Full load**: `weather-api load --json {DATA}` into the freshly migrated
  database. Two targets: the loader's own `duration_s` ≤ {MAX_LOAD_TO_FLOOR}x the floor,
  and the wall clock of the command, which also counts interpreter start-up, imports and
  the migration check (one query when the schema is at head), ≤ {MAX_WALL_TO_FLOOR}x.
- **Re-run**: the same command again; every file is skipped by its checksum. The target
  applies to the wall clock, which is what someone re-running it waits for.

The import path is compiled to bytecode first, as an install does: this machine's shell
sets `PYTHONDONTWRITEBYTECODE=1`, under which each command compiled its imports from source
(3.6 s of a 6.6 s re-run at load average 9). Every timed step starts right after a
`CHECKPOINT`, and an untimed COPY first warms up a new server. Peak RSS is the sum over
the loader's process tree (the loader, its parsing worker and the multiprocessing resource
tracker), polled every {POLL_S * 1000:.0f} ms.

{result}

Run on {dt.date.today().isoformat()}: {facts}, with

```sh
{command}
```

For scale: public solutions take 2 to 12 minutes for this load.
"""


def command_line(args: argparse.Namespace) -> str:
    parts = ["uv", "run", "python", "-m", "bench.load", "--repeat", str(args.repeat)]
    if args.database_url:
        parts += ["--database-url", make_url(args.database_url).render_as_string()]
    if args.data != DATA:
        parts += ["--data", str(args.data)]
    if args.write:
        parts.append("--write")
    return shlex.join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the data (default {DATA})")
    parser.add_argument("--write", action="store_true", help=f"update the Load section of {DOC}")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # Taken before this run adds to it: other work on the machine skews every figure.
    load_average = os.getloadavg()[0]
    compile_bytecode()
    station_files = sorted((args.data / "wx_data").glob("*.txt"))
    with tempfile.TemporaryDirectory(prefix="bench-load-tsv-") as tmp:
        tsv = Path(tmp) / "observations.tsv"
        rows = write_tsv(station_files, tsv)
        parts = write_parts(station_files, Path(tmp))
        server = (
            nullcontext(args.database_url)
            if args.database_url
            else temporary_embedded("bench-load-")
        )
        with server as server_url:
            facts = machine(server_url, load_average)
            # A new server writes its first rows slower (it creates WAL segments rather than
            # recycling them): an untimed floor takes that cost out of the first repetition.
            with fresh_database(server_url) as url:
                asyncio.run(time_floor(url, tsv))
            reps = []
            for number in range(1, args.repeat + 1):
                reps.append(rep := repetition(server_url, args.data, tsv, parts, rows))
                print(
                    f"repetition {number}: floor {rep.floor_s:.2f} s, with the aggregates "
                    f"{rep.aggregates_floor_s:.2f} s, load {rep.load.loader_s:.2f}"
                    f" s ({rep.load.wall_s:.2f} s wall, {rep.load.tree_mb:.0f} MB), re-run "
                    f"{rep.rerun.wall_s:.2f} s wall",
                    file=sys.stderr,
                )
    result = table(reps, rows)
    print(result)
    if args.write:
        text = section(result, facts, command_line(args), rows, len(station_files))
        write_section(DOC, "Load", text)
        print(f"updated {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
