"""Yearly statistics per station, aggregated in the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Numeric, SmallInteger, cast, func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from weather_api.db.models import Observation, StationSummary, YearlyStats
from weather_api.db.units import celsius, centimetres


def _mean(tenths: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """avg(), computed as avg() over smallint does it, numeric sum / count, but a third
    faster (avg's array transition state is the slow part). The sum is NULL exactly when
    the count is 0, so the mean is then NULL, not a division error."""
    return cast(func.sum(tenths), Numeric) / func.count(tenths)


async def refresh_yearly_stats(
    conn: AsyncConnection, *, station_ids: Sequence[str] | None = None
) -> int:
    """Recompute the yearly stats of the given stations (all when None); returns the row count.

    Missing values are NULL in observations, so sum/count skip them and a statistic
    with no value to stand on comes out NULL. Observations are never deleted, so a
    station-year once present stays: one upsert replaces delete-then-insert."""
    obs = Observation
    # date_part as an integer groups faster than extract(), which yields numeric.
    year = cast(func.date_part("year", obs.date), SmallInteger)
    ys = YearlyStats
    # Named, so that the INSERT's columns follow the names, never the model's column order.
    values = {
        ys.station_id: obs.station_id,
        ys.year: year,
        ys.avg_max_temp_c: celsius(_mean(obs.max_temp)),
        ys.avg_min_temp_c: celsius(_mean(obs.min_temp)),
        ys.total_precipitation_cm: centimetres(func.sum(obs.precipitation)),
        ys.max_temp_days: func.count(obs.max_temp),
        ys.min_temp_days: func.count(obs.min_temp),
        ys.precipitation_days: func.count(obs.precipitation),
        ys.days: func.count(),
    }
    aggregate = select(*values.values()).group_by(obs.station_id, year)
    if station_ids is not None:
        aggregate = aggregate.where(obs.station_id.in_(station_ids))
    table = YearlyStats.__table__
    columns = [column.key for column in values]
    upsert = insert(YearlyStats).from_select(columns, aggregate)
    keys = [c.name for c in table.primary_key]
    upsert = upsert.on_conflict_do_update(
        index_elements=keys,
        set_={name: upsert.excluded[name] for name in columns if name not in keys},
    )
    result = await conn.execute(upsert)
    return int(result.rowcount)


def station_summaries_upsert(
    station_ids: Sequence[str] | None = None, *, stale: bool = False
) -> Insert:
    """The upsert that recomputes the summaries of the given stations (all when None) from
    their yearly stats, which must be current; with ``stale``, only of those whose summary
    is missing or counts other days than their yearly stats."""
    ys, obs, su = YearlyStats, Observation, StationSummary
    counts = ("days", "max_temp_days", "min_temp_days", "precipitation_days")
    sums = select(ys.station_id, *(func.sum(ys.__table__.c[n]).label(n) for n in counts))
    if station_ids is not None:
        sums = sums.where(ys.station_id.in_(station_ids))
    fresh = sums.group_by(ys.station_id).subquery()
    # min/max of the primary key's second column: two index probes per station.
    first = select(func.min(obs.date)).where(obs.station_id == fresh.c.station_id)
    last = select(func.max(obs.date)).where(obs.station_id == fresh.c.station_id)
    rows = select(
        fresh.c.station_id,
        first.scalar_subquery(),
        last.scalar_subquery(),
        *(fresh.c[n] for n in counts),
    )
    if stale:
        same = [su.__table__.c[n] == fresh.c[n] for n in counts]
        rows = rows.where(
            ~select(su.station_id).where(su.station_id == fresh.c.station_id, *same).exists()
        )
    columns = ["station_id", "first_date", "last_date", *counts]
    upsert = insert(su).from_select(columns, rows)
    return upsert.on_conflict_do_update(
        index_elements=[su.station_id],
        set_={name: upsert.excluded[name] for name in columns if name != "station_id"},
    )


async def refresh_station_summaries(
    conn: AsyncConnection, *, station_ids: Sequence[str] | None = None
) -> None:
    """Recompute the summaries of the given stations (all when None) from their yearly
    stats: refresh those first. Stations never lose observations, so never a summary."""
    await conn.execute(station_summaries_upsert(station_ids))


async def repair_station_summaries(conn: AsyncConnection) -> int:
    """Recompute the summaries that do not match their yearly stats, returning how many:
    after a rollback, the previous release loads without keeping them. Observations are
    never deleted, so a summary whose four day counts match is current."""
    result = await conn.execute(station_summaries_upsert(stale=True))
    return int(result.rowcount)
