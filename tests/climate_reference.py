"""The climate figures computed in plain Python from the raw days, independently of the
service's SQL: what the summary, normals and season-yield tests compare with."""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.sample import Day

Values = tuple[int | None, int | None, int | None]  # tenths: max, min, precipitation


# Every figure of a summary item, in the API's order.
FIGURES = (
    "days",
    "max_temp_days",
    "min_temp_days",
    "precipitation_days",
    "avg_max_temp_c",
    "avg_min_temp_c",
    "total_precipitation_mm",
    "gdd",
    "edd",
    "degree_days_days",
)


def by_station(days: Iterable[Day]) -> dict[str, dict[dt.date, Values]]:
    stations: dict[str, dict[dt.date, Values]] = defaultdict(dict)
    for d in days:
        stations[d.station_id][d.date] = (d.max_temp, d.min_temp, d.precipitation)
    return dict(stations)


def read_stations(root: Path) -> dict[str, dict[dt.date, Values]]:
    """Every station file under root/wx_data, read directly (faster than tests.sample's
    read_days on the 1.7 million days of the full data): -9999 is missing."""
    stations = {}
    for path in sorted((root / "wx_data").glob("*.txt")):
        days: dict[dt.date, Values] = {}
        for line in path.read_text().splitlines():
            date, *fields = line.split("\t")
            tmax, tmin, prcp = (None if v.strip() == "-9999" else int(v) for v in fields)
            days[dt.date(int(date[:4]), int(date[4:6]), int(date[6:8]))] = (tmax, tmin, prcp)
        stations[path.stem] = days
    return stations


@dataclass(frozen=True)
class Params:
    base: float = 10.0
    cap: float = 30.0
    threshold: float = 29.0
    max_missing: int | None = None


def gdd(hi: float, lo: float, base: float, cap: float) -> float:
    return (min(max(hi, base), cap) + min(max(lo, base), cap)) / 2 - base


def edd(hi: float, lo: float, b: float) -> float:
    if hi <= b:
        return 0.0
    m, a = (hi + lo) / 2, (hi - lo) / 2
    if lo >= b:
        return m - b
    theta = math.asin((b - m) / a)
    return ((m - b) * (math.pi / 2 - theta) + a * math.cos(theta)) / math.pi


def dates(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def summary(
    station: dict[dt.date, Values], start: dt.date, end: dt.date, p: Params | None = None
) -> dict[str, object]:
    """One station-period's item, unrounded."""
    p = p or Params()
    days = (end - start).days + 1
    maxes: list[int] = []
    mins: list[int] = []
    prcps: list[int] = []
    gdds: list[float] = []
    edds: list[float] = []
    for day in dates(start, end):
        tmax, tmin, prcp = station.get(day, (None, None, None))
        if tmax is not None:
            maxes.append(tmax)
        if tmin is not None:
            mins.append(tmin)
        if prcp is not None:
            prcps.append(prcp)
        if tmax is not None and tmin is not None:
            hi, lo = max(tmax, tmin) / 10, min(tmax, tmin) / 10
            gdds.append(gdd(hi, lo, p.base, p.cap))
            edds.append(edd(hi, lo, p.threshold))

    def figure(values: Sequence[float], n: int, scale: float = 1.0) -> float | None:
        if not n or (p.max_missing is not None and days - n > p.max_missing):
            return None
        return sum(values) * scale

    return {
        "period_start": start,
        "period_end": end,
        "days": days,
        "max_temp_days": len(maxes),
        "min_temp_days": len(mins),
        "precipitation_days": len(prcps),
        "avg_max_temp_c": figure(maxes, len(maxes), 0.1 / len(maxes) if maxes else 0),
        "avg_min_temp_c": figure(mins, len(mins), 0.1 / len(mins) if mins else 0),
        "total_precipitation_mm": figure(prcps, len(prcps), 0.1),
        "gdd": figure(gdds, len(gdds)),
        "edd": figure(edds, len(edds)),
        "degree_days_days": len(gdds),
    }


def months(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    out = []
    for year in range(first.year, last.year + 1):
        for month in range(1, 13):
            start = dt.date(year, month, 1)
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
            if start <= last and end >= first:
                out.append((max(start, first), min(end, last)))
    return out


def normals(
    station: dict[dt.date, Values], first_year: int, last_year: int, max_missing: int = 5
) -> dict[int, dict[str, Any]]:
    """Per calendar month: the mean over the years whose month misses at most
    ``max_missing`` days of a variable, and those years' count; None below 80%."""
    out: dict[int, dict[str, Any]] = {}
    years = last_year - first_year + 1
    for month in range(1, 13):
        counted: dict[str, list[float]] = {"max": [], "min": [], "prcp": []}
        for year in range(first_year, last_year + 1):
            start = dt.date(year, month, 1)
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
            s = summary(station, start, end, Params(max_missing=max_missing))
            for name, key in (
                ("max", "avg_max_temp_c"),
                ("min", "avg_min_temp_c"),
                ("prcp", "total_precipitation_mm"),
            ):
                if s[key] is not None:
                    counted[name].append(s[key])  # type: ignore[arg-type]

        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if len(values) >= 0.8 * years else None

        out[month] = {
            "month": month,
            "avg_max_temp_c": mean(counted["max"]),
            "avg_min_temp_c": mean(counted["min"]),
            "total_precipitation_mm": mean(counted["prcp"]),
            "max_temp_years": len(counted["max"]),
            "min_temp_years": len(counted["min"]),
            "precipitation_years": len(counted["prcp"]),
        }
    return out


def close(expected: object, actual: object, tolerance: float = 0.01) -> bool:
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, float):
        return isinstance(actual, int | float) and abs(expected - actual) <= tolerance
    return expected == actual


# units=imperial: each metric name's imperial name and conversion, written here from the
# definitions (°F = °C * 1.8 + 32; a difference or degree days * 1.8; in = mm / 25.4),
# not taken from the service.
IMPERIAL: dict[str, tuple[str, Any]] = {
    "avg_max_temp_c": ("avg_max_temp_f", lambda c: c * 1.8 + 32),
    "avg_min_temp_c": ("avg_min_temp_f", lambda c: c * 1.8 + 32),
    "total_precipitation_mm": ("total_precipitation_in", lambda mm: mm / 25.4),
    "gdd": ("gdd_f", lambda dd: dd * 1.8),
    "edd": ("edd_f", lambda dd: dd * 1.8),
    "avg_max_temp_anomaly_c": ("avg_max_temp_anomaly_f", lambda c: c * 1.8),
    "avg_min_temp_anomaly_c": ("avg_min_temp_anomaly_f", lambda c: c * 1.8),
    "total_precipitation_anomaly_mm": ("total_precipitation_anomaly_in", lambda mm: mm / 25.4),
}


def imperial(figures: dict[str, Any]) -> dict[str, Any]:
    """Metric figures (an item, unrounded) as units=imperial serves them: renamed, converted."""
    out = {}
    for name, value in figures.items():
        if name in IMPERIAL:
            name, convert = IMPERIAL[name]
            value = None if value is None else convert(value)
        out[name] = value
    return out
