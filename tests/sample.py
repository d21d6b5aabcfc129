"""Small station and yield files the tests write themselves, and an independent reading of
them that tests compare the service's answers with."""

from __future__ import annotations

import datetime as dt
import random
import tarfile
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

STATIONS = ("USC00110072", "USC00257715", "USC00338769")
FIRST, LAST = dt.date(1985, 1, 1), dt.date(1986, 12, 31)
YIELDS = {1985: 225447, 1986: 208944}


def station_text(station_id: str) -> str:
    """Two years of days; some values missing, station 3 has no precipitation in 1986."""
    rng = random.Random(station_id)
    lines = []
    day = FIRST
    while day <= LAST:
        tmax = rng.randint(-150, 350)
        tmin = tmax - rng.randint(-20, 150)  # now and then min > max, as in the real data
        prcp = rng.choice([0, 0, 0, rng.randint(1, 400)])
        if day.day == 17:
            tmax = -9999
        if day.month == 2 and day.day < 4:
            tmin = -9999
        if station_id == STATIONS[2] and day.year == 1986:
            prcp = -9999
        lines.append(f"{day:%Y%m%d}\t{tmax:5d}\t{tmin:5d}\t{prcp:5d}")
        day += dt.timedelta(days=1)
    return "\n".join(lines) + "\n"


def write_sample(root: Path) -> Path:
    (root / "wx_data").mkdir(parents=True)
    (root / "yld_data").mkdir()
    for station_id in STATIONS:
        (root / "wx_data" / f"{station_id}.txt").write_text(station_text(station_id))
    yields = "".join(f"{year}\t{value}\n" for year, value in YIELDS.items())
    (root / "yld_data" / "US_corn_grain_yield.txt").write_text(yields)
    return root


@dataclass(frozen=True)
class Day:
    station_id: str
    date: dt.date
    max_temp: int | None
    min_temp: int | None
    precipitation: int | None


def read_days(root: Path) -> list[Day]:
    """Every observation under root/wx_data, sorted by station and date."""
    days = []
    for path in sorted((root / "wx_data").glob("*.txt")):
        for line in path.read_text().splitlines():
            date, *values = (field.strip() for field in line.split("\t"))
            parsed = [None if v == "-9999" else int(v) for v in values]
            days.append(Day(path.stem, dt.datetime.strptime(date, "%Y%m%d").date(), *parsed))
    return days


def yearly(days: list[Day], station_id: str, year: int) -> dict[str, object]:
    """The yearly stats of one station-year, computed in Python with exact decimals."""
    rows = [d for d in days if d.station_id == station_id and d.date.year == year]
    maxes = [d.max_temp for d in rows if d.max_temp is not None]
    mins = [d.min_temp for d in rows if d.min_temp is not None]
    prcps = [d.precipitation for d in rows if d.precipitation is not None]

    def avg(values: list[int]) -> float | None:
        if not values:
            return None
        return float(round(Decimal(sum(values)) / len(values) / 10, 2))

    return {
        "station_id": station_id,
        "year": year,
        "avg_max_temp_c": avg(maxes),
        "avg_min_temp_c": avg(mins),
        "total_precipitation_cm": float(round(Decimal(sum(prcps)) / 100, 2)) if prcps else None,
        "max_temp_days": len(maxes),
        "min_temp_days": len(mins),
        "precipitation_days": len(prcps),
    }


def pack_archive(sample: Path, archive: Path) -> Path:
    """The sample as a .zip or .tar.gz, inside a top folder as GitHub archives have."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(sample.rglob("*.txt")):
                zf.write(path, f"repo-main/{path.relative_to(sample)}")
    else:
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(sample, arcname="repo-main")
    return archive
