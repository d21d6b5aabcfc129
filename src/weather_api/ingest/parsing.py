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
import os
import re
import stat
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


def station_id_for(name: str) -> str:
    """The station id a station file is named after, e.g. ``USC00110072.txt``."""
    stem = Path(name).name.removesuffix(".txt")
    if not STATION_ID_RE.fullmatch(stem):
        raise DataFileError(
            name, None, "file name is not a station id (expected e.g. USC00110072.txt)"
        )
    return stem


def open_regular(path: Path) -> io.BufferedReader:
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


def prepare(path: Path, name: str, kind: str, known: dict[str, str]) -> Prepared | Unchanged:
    """Read, checksum and validate one file; ``kind`` is ``station`` or ``yield``.

    ``known`` maps file keys to the checksum of their last successful load: a file that
    still has it is reported unchanged without being parsed."""
    try:
        with open_regular(path) as stream:
            raw = stream.read()
    except OSError as exc:
        raise DataFileError(name, None, f"cannot read: {exc.strerror}") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    key = station_id_for(name) if kind == "station" else "yield"
    if sha256 == known.get(key):
        return Unchanged(key, sha256)
    text = raw.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    if text and not text.endswith(b"\n"):
        text += b"\n"
    if not _FILE_RE[kind].fullmatch(text):
        raise _first_bad_line(name, kind, text)
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
