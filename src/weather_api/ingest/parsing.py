"""Validation of the raw data files, turning each into a COPY payload.

Runs in a worker process (see ``loader``), so it imports only the standard library.
A file is accepted whole or rejected whole: any bad line raises ``DataFileError``
naming the file and the line, and nothing of that file reaches the database.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import multiprocessing
import os
import re
import stat
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MISSING = -9999
STATION_ID_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{9}")
YIELD_FILE = "US_corn_grain_yield.txt"
# Values are tenths of a unit; four digits keep them inside smallint and cover -9999 (missing).
_TENTHS = (rb" *-?\d{1,4}", "an integer in tenths of at most 4 digits, -9999 for missing")
_FIELDS: dict[str, dict[str, tuple[bytes, str]]] = {
    "station": {
        "date": (rb"\d{8}", "a date as YYYYMMDD"),
        "max temperature": _TENTHS,
        "min temperature": _TENTHS,
        "precipitation": _TENTHS,
    },
    "yield": {
        "year": (rb"\d{4}", "a year as YYYY"),
        "corn grain yield": (rb" *\d{1,9}", "a whole number of thousand metric tons"),
    },
}
_LINE_RE = {k: re.compile(rb"\t".join(p for p, _ in f.values())) for k, f in _FIELDS.items()}
_FILE_RE = {k: re.compile(rb"(?:" + p.pattern + rb"\n)*") for k, p in _LINE_RE.items()}


class DataFileError(ValueError):
    """A data file that cannot be loaded; ``line`` is 1-based, None for the whole file."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
        self.file, self.line, self.message = file, line, message

    def __reduce__(self) -> tuple[type[DataFileError], tuple[str, int | None, str]]:
        return type(self), (self.file, self.line, self.message)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated file: ``payload`` is tab-separated text ready for COPY, NULL written as \\N."""

    kind: str
    key: str
    sha256: str
    records: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Unchanged:
    key: str
    sha256: str


def start_worker() -> ProcessPoolExecutor:
    """The worker process that parses a load's files, started now: it boots while the
    caller does other work (imports, the migration check, resolving sources). Spawned,
    not forked: a fork of a process running an event loop and threads is unsafe."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(int)  # a pool starts its process with the first task
    return pool


def station_id_for(name: str) -> str:
    """The station id a station file is named after, e.g. ``USC00110072.txt``."""
    stem = Path(name).name.removesuffix(".txt")
    if not STATION_ID_RE.fullmatch(stem):
        raise DataFileError(
            name, None, "file name is not a station id (expected e.g. USC00110072.txt)"
        )
    return stem


def open_regular(path: str | Path) -> io.BufferedReader:
    """Open a regular file for reading. A symlink (say, swapped in after the source was
    scanned) is not followed, and a FIFO or a device does not block: both are refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(
                errno.ELOOP, "a symbolic link, which is not followed", str(path)
            ) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_key(name: str, kind: str) -> str:
    """The key a file's rows and checksum are stored under: its station id, or its kind."""
    return station_id_for(name) if kind == "station" else GHCND_KEY if kind == "ghcnd" else kind


def prepare(path: str | Path, name: str, kind: str, known: str | None) -> Prepared | Unchanged:
    """Read, checksum and validate one file; ``kind`` is ``station``, ``yield`` or ``ghcnd``.

    ``known`` is the checksum of the file's last successful load, if any: a file that still
    has it is reported unchanged without being parsed."""
    try:
        with open_regular(path) as stream:
            raw = stream.read()
    except OSError as exc:
        raise DataFileError(name, None, f"cannot read: {exc.strerror}") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    key = file_key(name, kind)
    if sha256 == known:
        return Unchanged(key, sha256)
    text = raw.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    if text and not text.endswith(b"\n"):
        text += b"\n"
    if kind in _FILE_RE and not _FILE_RE[kind].fullmatch(text):
        raise _first_bad_line(name, kind, text)
    if kind == "ghcnd":
        return Prepared(kind, key, sha256, text.count(b"\n"), ghcnd_payload(name, text))
    records = text.count(b"\n")
    if kind == "station":
        _check_dates(name, text)
        missing = b"%d" % MISSING
        rows = text.replace(b" ", b"").replace(b"\t" + missing, b"\t\\N")
        # Prefix every line with the station id: COPY then needs no per-row work.
        prefix = key.encode() + b"\t"
        payload = prefix + rows.replace(b"\n", b"\n" + prefix)[: -len(prefix)] if rows else b""
    else:
        _check_unique(name, re.findall(rb"^\d{4}", text, re.M), "year")
        payload = text.replace(b" ", b"")
    return Prepared(kind, key, sha256, records, payload)


# Every station file repeats the same few thousand dates: each is checked once per worker.
_VALID_DATES: set[bytes] = set()


def _check_dates(name: str, text: bytes) -> None:
    # The file already matched the line pattern, so every line starts with 8 digits.
    dates = [line[:8] for line in text.split(b"\n")[:-1]]
    distinct = set(dates)
    for value in distinct - _VALID_DATES:
        try:
            dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            line = dates.index(value) + 1
            raise DataFileError(name, line, f"{value.decode()} is not a valid date") from None
        _VALID_DATES.add(value)
    _check_unique(name, dates, "date", distinct)


def _check_unique(
    name: str, keys: list[bytes], what: str, distinct: set[bytes] | None = None
) -> None:
    if len(distinct if distinct is not None else set(keys)) == len(keys):
        return
    seen: set[bytes] = set()
    for line, key in enumerate(keys, 1):
        if key in seen:
            raise DataFileError(name, line, f"duplicate {what} {key.decode()}")
        seen.add(key)


def _first_bad_line(name: str, kind: str, text: bytes) -> DataFileError:
    """Explain the first line that does not match the file's line pattern."""
    fields = _FIELDS[kind]
    for number, line in enumerate(text.split(b"\n"), 1):
        if _LINE_RE[kind].fullmatch(line):
            continue
        parts = line.split(b"\t")
        if len(parts) != len(fields):
            shown = line[:80].decode("utf-8", "replace")
            message = f"expected {len(fields)} tab-separated fields, found {len(parts)}: {shown!r}"
        else:
            field, (_, rule), value = next(
                (f, spec, v)
                for (f, spec), v in zip(fields.items(), parts, strict=True)
                if not re.fullmatch(spec[0], v)
            )
            shown = value[:40].decode("utf-8", "replace").strip()
            message = f"{field} {shown!r} is not valid: expected {rule}"
        return DataFileError(name, number, message)
    return DataFileError(name, None, "malformed file")


# NOAA's station list, ghcnd-stations.txt: fixed-width columns as the GHCN-Daily readme
# documents them, 1-based and inclusive, each with the pattern it must match and the rule
# an error quotes. Blank optional fields are NULL.
GHCND_FILE = "ghcnd-stations.txt"
GHCND_KEY = "ghcnd-stations"
_GHCND_WIDTH = 85
_GHCND_COLUMNS: tuple[tuple[str, int, int, str, str], ...] = (
    ("id", 1, 11, STATION_ID_RE.pattern, "a station id, e.g. USC00110072"),
    (
        "latitude",
        13,
        20,
        r" *-?(?:[0-8]?\d\.\d{1,4}|90\.0{1,4})",
        "decimal degrees from -90 to 90",
    ),
    (
        "longitude",
        22,
        30,
        r" *-?(?:(?:1[0-7]\d|\d{1,2})\.\d{1,4}|180\.0{1,4})",
        "decimal degrees from -180 to 180",
    ),
    ("elevation", 32, 37, r" *-?\d{1,4}\.\d", "metres with one decimal, -999.9 for missing"),
    ("state", 39, 40, r"[A-Z]{2}| {2}", "a 2-letter code or blank"),
    ("name", 42, 71, r"[ -~]*[!-~][ -~]*", "printable ASCII, not blank"),
    ("GSN flag", 73, 75, r"GSN| {3}", "GSN or blank"),
    ("HCN/CRN flag", 77, 79, r"HCN|CRN| {3}", "HCN, CRN or blank"),
    ("WMO id", 81, 85, r"\d{5}| {5}", "5 digits or blank"),
)
_GHCND_FIELDS = tuple(
    (slice(first - 1, last), re.compile(pattern.encode()))
    for _, first, last, pattern, _ in _GHCND_COLUMNS
)
_GHCND_BLANKS = tuple(last for _, _, last, _, _ in _GHCND_COLUMNS[:-1])
_MISSING_ELEVATION = b"-999.9"


def ghcnd_payload(name: str, text: bytes) -> bytes:
    """Validate a ghcnd-stations.txt and turn it into COPY rows of ``station_id, state,
    name, latitude, longitude, elevation, gsn, hcn_crn, wmo_id``. Trailing blanks may be
    trimmed from a line; anything past column 85 is an error.

    Each column is checked by one regular expression over all its values (the full NOAA
    list is 130,000 lines); only a file that fails is walked line by line to name the
    first bad one."""
    lines = [line.ljust(_GHCND_WIDTH) for line in text.split(b"\n")[:-1]]
    columns = [[line[where] for line in lines] for where, _ in _GHCND_FIELDS]
    ids = columns[0]
    valid = (
        all(len(line) == _GHCND_WIDTH for line in lines)
        and all(
            re.fullmatch(b"(?:(?:" + pattern.pattern + b")\n)*", b"\n".join(values) + b"\n")
            for (_, pattern), values in zip(_GHCND_FIELDS, columns, strict=True)
        )
        and not bytes(line[i] for line in lines for i in _GHCND_BLANKS).strip()
        and len(set(ids)) == len(ids)
    )
    if not valid:
        raise _first_bad_ghcnd_line(name, lines)
    station, state, title, lat, lon, elevation, gsn, network, wmo = (
        columns[0],
        _nullable(columns[4]),
        # COPY's text format escapes backslashes.
        [v.strip().replace(b"\\", b"\\\\") for v in columns[5]],
        [v.strip() for v in columns[1]],
        [v.strip() for v in columns[2]],
        [b"\\N" if v.strip() == _MISSING_ELEVATION else v.strip() for v in columns[3]],
        [b"t" if v.strip() else b"f" for v in columns[6]],
        _nullable(columns[7]),
        _nullable(columns[8]),
    )
    rows = zip(station, state, title, lat, lon, elevation, gsn, network, wmo, strict=True)
    return b"".join(b"\t".join(row) + b"\n" for row in rows)


def _nullable(values: list[bytes]) -> list[bytes]:
    return [v.strip() or b"\\N" for v in values]


def _first_bad_ghcnd_line(name: str, lines: list[bytes]) -> DataFileError:
    seen: set[bytes] = set()
    for number, line in enumerate(lines, 1):
        if len(line) > _GHCND_WIDTH:
            message = f"line has {len(line)} characters, expected at most {_GHCND_WIDTH}"
            return DataFileError(name, number, message)
        if (error := _bad_ghcnd_line(name, number, line)) is not None:
            return error
        if line[:11] in seen:
            return DataFileError(name, number, f"duplicate station {line[:11].decode()}")
        seen.add(line[:11])
    return DataFileError(name, None, "malformed file")


def _bad_ghcnd_field(name: str, number: int, index: int, value: bytes) -> DataFileError:
    field, first, last, _, rule = _GHCND_COLUMNS[index]
    shown = value.decode("ascii", "replace").strip()
    return DataFileError(
        name, number, f"{field} {shown!r} (columns {first}-{last}) is not valid: expected {rule}"
    )


def _bad_ghcnd_line(name: str, number: int, line: bytes) -> DataFileError | None:
    """Name the first column that does not match, or the separator that is not blank."""
    for index, (where, pattern) in enumerate(_GHCND_FIELDS):
        if not pattern.fullmatch(line[where]):
            return _bad_ghcnd_field(name, number, index, line[where])
        if where.stop in _GHCND_BLANKS and line[where.stop] != 0x20:
            return DataFileError(name, number, f"column {where.stop + 1} must be blank")
    return None
