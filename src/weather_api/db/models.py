"""Database schema. Raw values are stored exactly as the files give them (integer tenths);
``units`` holds the one conversion to the units the API serves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class State(StrEnum):
    """The states of the dataset's stations."""

    IA = "IA"
    IL = "IL"
    IN = "IN"
    NE = "NE"
    OH = "OH"


# COOP station ids (USC00SSnnnn) carry their state as a two-digit code.
STATE_CODES = {"11": State.IL, "12": State.IN, "13": State.IA, "25": State.NE, "33": State.OH}


class JobStatus(StrEnum):
    """A load run's life: queued, running, then one of the three ends."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Station(Base):
    __tablename__ = "stations"
    __table_args__ = (Index("ix_stations_latitude_longitude", "latitude", "longitude"),)

    station_id: Mapped[str] = mapped_column(Text, primary_key=True, comment="GHCN/COOP station id")
    state: Mapped[str | None] = mapped_column(Text, comment="US state from the COOP state code")
    # From NOAA's ghcnd-stations.txt; NULL until a station list naming the station is loaded.
    name: Mapped[str | None] = mapped_column(Text, comment="NOAA station name")
    latitude: Mapped[float | None] = mapped_column(Double, comment="decimal degrees, WGS 84")
    longitude: Mapped[float | None] = mapped_column(Double, comment="decimal degrees, WGS 84")
    elevation: Mapped[Decimal | None] = mapped_column(Numeric(6, 1), comment="metres")
    gsn: Mapped[bool | None] = mapped_column(Boolean, comment="in the GCOS Surface Network")
    hcn_crn: Mapped[str | None] = mapped_column(Text, comment="HCN or CRN network flag")
    wmo_id: Mapped[str | None] = mapped_column(Text, comment="World Meteorological Org. id")


class Observation(Base):
    """One station-day. No foreign key to stations: the loader writes the station row in the
    same transaction, and a per-row RI check would double the cost of COPY."""

    __tablename__ = "observations"

    station_id: Mapped[str] = mapped_column(Text, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    max_temp: Mapped[int | None] = mapped_column(SmallInteger, comment="tenths of °C")
    min_temp: Mapped[int | None] = mapped_column(SmallInteger, comment="tenths of °C")
    precipitation: Mapped[int | None] = mapped_column(SmallInteger, comment="tenths of mm")


class YearlyStats(Base):
    __tablename__ = "yearly_stats"

    station_id: Mapped[str] = mapped_column(Text, primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    avg_max_temp_c: Mapped[Decimal | None] = mapped_column(Numeric, comment="°C")
    avg_min_temp_c: Mapped[Decimal | None] = mapped_column(Numeric, comment="°C")
    total_precipitation_cm: Mapped[Decimal | None] = mapped_column(Numeric, comment="cm")
    max_temp_days: Mapped[int] = mapped_column(SmallInteger, comment="days with a max temperature")
    min_temp_days: Mapped[int] = mapped_column(SmallInteger, comment="days with a min temperature")
    precipitation_days: Mapped[int] = mapped_column(
        SmallInteger, comment="days with a precipitation value"
    )
    days: Mapped[int] = mapped_column(SmallInteger, comment="observation rows, any value missing")


def _share(days: str) -> Computed:
    """A share of a station's days, to four decimals (exact: rounded in numeric)."""
    return Computed(
        f"round({days} / nullif(days, 0)::numeric, 4)::double precision", persisted=True
    )


class StationSummary(Base):
    """Per station with observations, what the stations list shows of them: their period
    and their days with each value. Committed with the observations, like the yearly stats
    it sums, so a page of the list reads a row per station; a station with no row has no
    observation."""

    __tablename__ = "station_summaries"

    station_id: Mapped[str] = mapped_column(Text, primary_key=True)
    first_date: Mapped[dt.date] = mapped_column(Date, comment="first day observed")
    last_date: Mapped[dt.date] = mapped_column(Date, comment="last day observed")
    days: Mapped[int] = mapped_column(Integer, comment="observation rows, any value missing")
    max_temp_days: Mapped[int] = mapped_column(Integer, comment="days with a max temperature")
    min_temp_days: Mapped[int] = mapped_column(Integer, comment="days with a min temperature")
    precipitation_days: Mapped[int] = mapped_column(
        Integer, comment="days with a precipitation value"
    )
    # Stored by the database, whoever writes the counts (migration 0008): computing them in
    # numeric for every listed row cost PostgreSQL a third of a stations page.
    max_temp_share: Mapped[float | None] = mapped_column(
        Double, _share("max_temp_days"), comment="share of days with a max temperature"
    )
    min_temp_share: Mapped[float | None] = mapped_column(
        Double, _share("min_temp_days"), comment="share of days with a min temperature"
    )
    precipitation_share: Mapped[float | None] = mapped_column(
        Double, _share("precipitation_days"), comment="share of days with a precipitation value"
    )


class MonthlyStats(Base):
    """Per station and month, what the period summaries need with default parameters: sums
    in stored tenths and the days each stands on, and the default degree days. Committed
    with the observations, like the yearly stats; a month with no row has no observation."""

    __tablename__ = "monthly_stats"

    station_id: Mapped[str] = mapped_column(Text, primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True, comment="1st day")
    max_temp_sum: Mapped[int | None] = mapped_column(Integer, comment="tenths of °C")
    min_temp_sum: Mapped[int | None] = mapped_column(Integer, comment="tenths of °C")
    precipitation_sum: Mapped[int | None] = mapped_column(Integer, comment="tenths of mm")
    max_temp_days: Mapped[int] = mapped_column(SmallInteger, comment="days with a max temperature")
    min_temp_days: Mapped[int] = mapped_column(SmallInteger, comment="days with a min temperature")
    precipitation_days: Mapped[int] = mapped_column(
        SmallInteger, comment="days with a precipitation value"
    )
    degree_days_days: Mapped[int] = mapped_column(SmallInteger, comment="days with both temps")
    gdd: Mapped[Decimal | None] = mapped_column(Numeric, comment="GDD 10/30 °C, °C·days")
    edd: Mapped[float | None] = mapped_column(Double, comment="EDD above 29 °C, °C·days")


class SeasonStats(Base):
    """Per station and year, ``monthly_stats`` summed over the default season (April to
    September): what the default season's summaries and the yield beside them read. A
    trigger on ``monthly_stats`` keeps it right (migration 0006)."""

    __tablename__ = "season_stats"

    station_id: Mapped[str] = mapped_column(Text, primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True, index=True)
    max_temp_sum: Mapped[int | None] = mapped_column(Integer, comment="tenths of °C")
    max_temp_days: Mapped[int] = mapped_column(SmallInteger)
    min_temp_sum: Mapped[int | None] = mapped_column(Integer, comment="tenths of °C")
    min_temp_days: Mapped[int] = mapped_column(SmallInteger)
    precipitation_sum: Mapped[int | None] = mapped_column(Integer, comment="tenths of mm")
    precipitation_days: Mapped[int] = mapped_column(SmallInteger)
    gdd: Mapped[Decimal | None] = mapped_column(Numeric, comment="GDD 10/30 °C, °C·days")
    edd: Mapped[float | None] = mapped_column(Double, comment="EDD above 29 °C, °C·days")
    degree_days_days: Mapped[int] = mapped_column(SmallInteger)


class CornYield(Base):
    __tablename__ = "corn_yields"

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    corn_grain_yield_kt: Mapped[int] = mapped_column(
        Integer, comment="US corn grain yield, thousand metric tons"
    )


class LoadRun(Base):
    """One run of the loader, from the CLI, the API or the start-up autoload."""

    __tablename__ = "load_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')",
            name="status",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(Text, comment="cli, api or autoload")
    status: Mapped[str] = mapped_column(Text, server_default=JobStatus.QUEUED.value)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    files_total: Mapped[int] = mapped_column(Integer, server_default="0")
    files_done: Mapped[int] = mapped_column(Integer, server_default="0")
    files_loaded: Mapped[int] = mapped_column(Integer, server_default="0")
    files_skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    files_failed: Mapped[int] = mapped_column(Integer, server_default="0")
    records_read: Mapped[int] = mapped_column(BigInteger, server_default="0")
    inserted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated: Mapped[int] = mapped_column(BigInteger, server_default="0")
    unchanged: Mapped[int] = mapped_column(BigInteger, server_default="0")
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    message: Mapped[str | None] = mapped_column(Text, comment="why a run failed as a whole")


class SourceFile(Base):
    """Checksum of each file's last successful load, so an unchanged file is skipped unread."""

    __tablename__ = "source_files"

    key: Mapped[str] = mapped_column(Text, primary_key=True, comment="station id, or 'yield'")
    sha256: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, comment="file name as last loaded")
    records: Mapped[int] = mapped_column(Integer)
    load_run_id: Mapped[int] = mapped_column(BigInteger)
    loaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DataVersion(Base):
    """A single row whose version grows with every commit that changes data: the ETag source."""

    __tablename__ = "data_version"
    __table_args__ = (CheckConstraint("singleton", name="singleton"),)

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Durable, not per process: readiness and the start-up autoload both read it.
    complete: Mapped[bool] = mapped_column(
        Boolean,
        server_default=text("false"),
        comment="a load has run to its end: no initial load is left half done",
    )


class SchemaCompatibility(Base):
    """The code revisions that can serve this schema (alembic/versions/0005 has the rule):
    readiness of an image older than the schema looks its own head up here."""

    __tablename__ = "schema_compatibility"

    revision: Mapped[str] = mapped_column(Text, primary_key=True)
