"""Loader fuzzing: hypothesis writes station files of real-looking lines, then mutates them
(flipped bytes, dropped or doubled fields, junk and repeated lines, impossible dates, stray
CR, NUL and spaces, truncation), and loads them through the real loader into a real
database, some as new stations (COPY straight into place), some over stations already
loaded (the merge). For every file:

- the parser returns rows or raises ``DataFileError`` naming a line, nothing else, and the
  first lines up to the one it names are already a bad file;
- the load stores it whole (the station's rows are its old rows updated by every line of
  the file, with yearly stats that count exactly those rows) or not at all (the station's
  rows are exactly what they were, and the run reports the file and the line);
- no other station changes.

``tests/test_parsing.py`` fuzzes the parser alone with random bytes and valid rows; this
goes through the loader and the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import settings_for
from tests.reliability.support import plain_url, record
from weather_api.db.engine import create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.parsing import DataFileError, Prepared, Unchanged, prepare
from weather_api.ingest.sources import SourceLimits

BASE = ("USC00110072", "USC00257715")  # loaded before the examples: mutations merge
_NEW = itertools.count(1)
Rows = dict[dt.date, tuple[int | None, int | None, int | None]]
EXAMPLES = 60


def new_station() -> str:
    """A station no earlier example used: its file goes down the COPY path."""
    return f"USC0033{next(_NEW):04d}"


@st.composite
def station_lines(draw: st.DrawFn) -> list[bytes]:
    """Consecutive days of plausible values, formatted as the real files are."""
    start = draw(st.dates(dt.date(1985, 1, 1), dt.date(2014, 12, 1)))
    value = st.one_of(st.just(-9999), st.integers(-400, 450))
    rows = draw(st.lists(st.tuples(value, value, st.integers(0, 2000)), min_size=1, max_size=40))
    return [
        f"{start + dt.timedelta(n):%Y%m%d}\t{a:5d}\t{b:5d}\t{c:5d}".encode()
        for n, (a, b, c) in enumerate(rows)
    ]


Mutation = Callable[[list[bytes]], list[bytes]]


@st.composite
def mutation(draw: st.DrawFn) -> Mutation:
    """One edit of the lines, drawn now, applied to whatever lines it is given."""
    at = draw(st.integers(0, 10_000))
    kind = draw(
        st.sampled_from(
            [
                "flip byte",
                "drop field",
                "double field",
                "junk line",
                "repeat line",
                "bad date",
                "insert byte",
                "truncate",
                "space for tab",
            ]
        )
    )
    junk = draw(st.binary(min_size=0, max_size=30))
    byte = draw(st.sampled_from([b"\r", b"\x00", b" ", b"\t", b"-", b"9", b"\xff", b"\n"]))
    bad_date = draw(st.sampled_from([b"19850230", b"19851301", b"20230229", b"00000000"]))

    def apply(lines: list[bytes]) -> list[bytes]:
        lines = list(lines)
        i = at % len(lines)
        fields = lines[i].split(b"\t")
        j = at % len(fields)
        match kind:
            case "flip byte" if lines[i]:
                text = bytearray(lines[i])
                text[at % len(text)] ^= 1 << (at % 8)
                lines[i] = bytes(text)
            case "drop field":
                lines[i] = b"\t".join(fields[:j] + fields[j + 1 :])
            case "double field":
                lines[i] = b"\t".join(fields[: j + 1] + fields[j:])
            case "junk line":
                lines.insert(i, junk)
            case "repeat line":
                lines.insert(i, lines[i])
            case "bad date":
                lines[i] = b"\t".join([bad_date, *fields[1:]])
            case "insert byte":
                k = at % (len(lines[i]) + 1)
                lines[i] = lines[i][:k] + byte + lines[i][k:]
            case "truncate":
                k = at % (len(lines[i]) + 1)
                lines = [*lines[:i], lines[i][:k]]
            case "space for tab":
                lines[i] = lines[i].replace(b"\t", b" ", 1)
        return lines or [b""]

    return apply


@st.composite
def station_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """(station id, content): an old or a new station, its lines mutated 0 to 4 times."""
    station = draw(st.sampled_from([*BASE, "new"]))
    lines = draw(station_lines())
    for edit in draw(st.lists(mutation(), max_size=4)):
        lines = edit(lines)
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    content = ending.join(lines) + draw(st.sampled_from([ending, b""]))
    return station, content


def rows_of(prepared: Prepared) -> Rows:
    """The rows a validated file stores, read back from its COPY payload."""
    rows: Rows = {}
    for line in prepared.payload.decode().splitlines():
        _, date, *values = line.split("\t")
        day = dt.datetime.strptime(date, "%Y%m%d").date()
        parsed = [None if v == "\\N" else int(v) for v in values]
        rows[day] = (parsed[0], parsed[1], parsed[2])
    return rows


async def stored(conn: asyncpg.Connection, station: str) -> Rows:
    records = await conn.fetch(
        "SELECT date, max_temp, min_temp, precipitation FROM observations WHERE station_id = $1",
        station,
    )
    return {r["date"]: (r["max_temp"], r["min_temp"], r["precipitation"]) for r in records}


async def others_checksum(conn: asyncpg.Connection, stations: list[str]) -> Any:
    return await conn.fetchval(
        "SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(o::text, 0)), 0)::text "
        "FROM observations o WHERE station_id <> ALL($1::text[])",
        stations,
    )


def parse(path: Path, name: str) -> Prepared | DataFileError:
    """The parser's verdict: rows or its own error, with a line that makes the file bad.
    Any other exception fails the test."""
    try:
        result = prepare(path, name, "station", None)
    except DataFileError as exc:
        error = exc
    else:
        assert not isinstance(result, Unchanged)
        return result
    content = path.read_bytes()
    assert error.file == name
    assert error.line is not None, error  # a content error always names its line
    assert 1 <= error.line <= content.count(b"\n") + 1, (error, content)
    # Line numbers count the lines as the parser reads them: no BOM, CRLF as LF.
    text = content.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    prefix = path.with_suffix(".prefix")
    prefix.write_bytes(b"".join(line + b"\n" for line in text.split(b"\n")[: error.line]))
    try:
        prepare(prefix, name, "station", None)
    except DataFileError:
        return error  # the lines up to the named one are bad already
    pytest.fail(f"{error}, yet its first {error.line} lines load: {content!r}")


@dataclass
class Tally:
    """Over all examples (hypothesis's shrinking included)."""

    files: int = 0
    loaded: int = 0
    rejected: int = 0
    runs: int = 0


TALLY = Tally()


@pytest.fixture
async def base_loaded(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fuzzing database, with the base stations loaded from unmutated files."""
    root = tmp_path_factory.mktemp("base")
    for n, station in enumerate(BASE):
        days = [dt.date(1990, 1, 1) + dt.timedelta(d) for d in range(60)]
        text = "".join(f"{d:%Y%m%d}\t{n + 10:5d}\t{n:5d}\t{d.day:5d}\n" for d in days)
        (root / f"{station}.txt").write_text(text)
    summary = await load(db_url, root)
    assert summary.files_loaded == len(BASE), summary.errors
    return db_url


async def load(url: str, root: Path) -> Any:
    config = settings_for(url)
    engine = create_load_engine(url, config)
    try:
        return await Loader(engine, SourceLimits.from_settings(config, restricted=False)).run(
            [str(root)], trigger="cli"
        )
    finally:
        await engine.dispose()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # One database for all examples, on purpose: each loads over what the last left.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(files=st.lists(station_file(), min_size=1, max_size=3))
async def test_mutated_files_load_whole_or_not_at_all(
    base_loaded: str, tmp_path_factory: pytest.TempPathFactory, files: list[tuple[str, bytes]]
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    named: dict[str, bytes] = {}
    for station, content in files:
        named[new_station() if station == "new" else station] = content  # one file a station
    verdicts = {}
    for station, content in named.items():
        path = root / f"{station}.txt"
        path.write_bytes(content)
        verdicts[station] = parse(path, path.name)
    # The parser's scratch files must not be loaded.
    for scratch in root.glob("*.prefix"):
        scratch.unlink()

    conn = await asyncpg.connect(plain_url(base_loaded))
    try:
        stations = list(named)
        before = {s: await stored(conn, s) for s in stations}
        others = await others_checksum(conn, stations)
        summary = await load(base_loaded, root)
        errors = {e["file"]: e for e in summary.errors}
        assert summary.message is None, summary.message
        done = summary.files_loaded + summary.files_failed + summary.files_skipped
        assert done == summary.files_total == len(named)
        for station, verdict in verdicts.items():
            after = await stored(conn, station)
            name = f"{station}.txt"
            if isinstance(verdict, DataFileError):
                assert after == before[station], f"{name} was rejected but changed the data"
                assert errors[name]["line"] == verdict.line, (errors, verdict)
                TALLY.rejected += 1
            else:
                assert name not in errors, errors[name]
                assert after == before[station] | rows_of(verdict), f"{name} is not whole"
                days = await conn.fetchval(
                    "SELECT coalesce(sum(days), 0) FROM yearly_stats WHERE station_id = $1",
                    station,
                )
                assert days == len(after), "yearly stats do not count the stored rows"
                digest = await conn.fetchval(
                    "SELECT sha256 FROM source_files WHERE key = $1", station
                )
                assert digest == hashlib.sha256(named[station]).hexdigest()
                TALLY.loaded += 1
        assert await others_checksum(conn, stations) == others, "another station changed"
    finally:
        await conn.close()
        shutil.rmtree(root)
    TALLY.files += len(named)
    TALLY.runs += 1
    record(
        "loader fuzzing",
        load_runs=TALLY.runs,
        files=TALLY.files,
        loaded_whole=TALLY.loaded,
        rejected_whole=TALLY.rejected,
    )
