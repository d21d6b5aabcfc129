"""The file validator: accepted files become COPY payloads, bad ones name file and line."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weather_api.ingest.parsing import DataFileError, Prepared, Unchanged, prepare, station_id_for

NAME = "USC00110072.txt"


def run(tmp_path: Path, content: bytes, name: str = NAME, kind: str = "station") -> Prepared:
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    result = prepare(path, name, kind, None)
    assert isinstance(result, Prepared)
    return result


def error(tmp_path: Path, content: bytes, name: str = NAME) -> DataFileError:
    with pytest.raises(DataFileError) as info:
        run(tmp_path, content, name)
    return info.value


def test_missing_values_become_null_and_padding_goes(tmp_path: Path) -> None:
    prepared = run(tmp_path, b"19850101\t  -22\t -128\t   94\n19850102\t-9999\t   -5\t-9999\n")
    assert prepared.records == 2
    assert prepared.payload == (
        b"USC00110072\t19850101\t-22\t-128\t94\nUSC00110072\t19850102\t\\N\t-5\t\\N\n"
    )


def test_bom_crlf_and_missing_final_newline_are_accepted(tmp_path: Path) -> None:
    prepared = run(tmp_path, b"\xef\xbb\xbf19850101\t1\t2\t3\r\n19850102\t4\t5\t6")
    assert prepared.records == 2
    assert prepared.payload.endswith(b"19850102\t4\t5\t6\n")


def test_empty_file_has_no_records(tmp_path: Path) -> None:
    prepared = run(tmp_path, b"")
    assert (prepared.records, prepared.payload) == (0, b"")


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"19850101\t1\t2\t3\n19850102\t1\t2\n", 2, "expected 4 tab-separated fields, found 3"),
        (b"19850101\t1\t2\t3\t4\n", 1, "found 5"),
        (b"19850101\t1\tx2\t3\n", 1, "min temperature 'x2' is not valid"),
        (b"19850101\t1\t2\t3.5\n", 1, "precipitation '3.5' is not valid"),
        (b"19850101\t1\t2\t123456\n", 1, "at most 4 digits"),
        (b"19850101\t1\t2\t3\n19850230\t1\t2\t3\n", 2, "19850230 is not a valid date"),
        (b"1985011\t1\t2\t3\n", 1, "date '1985011' is not valid"),
        (b"19850101\t1\t2\t3\n19850101\t4\t5\t6\n", 2, "duplicate date 19850101"),
        (b"19850101\t1\t2\t3\n\n19850102\t1\t2\t3\n", 2, "found 1"),
    ],
)
def test_bad_lines_name_the_line(tmp_path: Path, content: bytes, line: int, fragment: str) -> None:
    exc = error(tmp_path, content)
    assert (exc.file, exc.line) == (NAME, line)
    assert fragment in exc.message


def test_file_name_must_be_a_station_id(tmp_path: Path) -> None:
    exc = error(tmp_path, b"19850101\t1\t2\t3\n", name="wx_data/notes.txt")
    assert exc.line is None
    assert "not a station id" in exc.message
    assert station_id_for("wx_data/USC00338769.txt") == "USC00338769"


def test_unchanged_checksum_is_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(b"not even valid\n")
    with pytest.raises(DataFileError):
        prepare(path, NAME, "station", None)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert prepare(path, NAME, "station", digest) == Unchanged("USC00110072", digest)


def test_yield_file(tmp_path: Path) -> None:
    prepared = run(tmp_path, b"1985\t225447\n1986\t 208944\n", "yld.txt", "yield")
    assert (prepared.key, prepared.records) == ("yield", 2)
    assert prepared.payload == b"1985\t225447\n1986\t208944\n"
    with pytest.raises(DataFileError, match="duplicate year 1985"):
        run(tmp_path, b"1985\t1\n1985\t2\n", "yld.txt", "yield")


value = st.one_of(st.just(-9999), st.integers(-9999, 9999))


days = st.dates(min_value=dt.date(1000, 1, 1))


@given(st.lists(st.tuples(days, value, value, value), unique_by=lambda r: r[0]))
@settings(max_examples=60, deadline=None)
def test_valid_rows_round_trip(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[object, int, int, int]]
) -> None:
    content = "".join(f"{d:%Y%m%d}\t{a:5d}\t{b:5d}\t{c:5d}\n" for d, a, b, c in rows)
    prepared = run(tmp_path_factory.mktemp("h"), content.encode())
    assert prepared.records == len(rows)
    lines = prepared.payload.decode().splitlines()
    for (d, *values), line in zip(rows, lines, strict=True):
        fields = line.split("\t")
        assert fields[:2] == ["USC00110072", f"{d:%Y%m%d}"]
        assert fields[2:] == ["\\N" if v == -9999 else str(v) for v in values]


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_random_bytes_load_or_fail_with_a_line(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / NAME
    path.write_bytes(content)
    outcome: Prepared | Unchanged | DataFileError
    try:
        outcome = prepare(path, NAME, "station", None)
    except DataFileError as exc:
        outcome = exc
    if isinstance(outcome, DataFileError):
        assert outcome.file == NAME
        assert outcome.line is None or outcome.line >= 1
    else:
        assert isinstance(outcome, Prepared)
        assert outcome.payload.count(b"\n") == outcome.records
