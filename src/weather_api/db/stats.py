"""Yearly statistics per station, aggregated in the database with the monthly ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Numeric,
    SmallInteger,
    Text,
    cast,
    column,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from weather_api.db.climate import (
    MONTHLY_AGGREGATE_SQL,
    MONTHLY_UPSERT_SQL,
    monthly_refresh_params,
)
from weather_api.db.models import Observation, StationSummary, YearlyStats
from weather_api.db.units import celsius, centimetres


def _mean(total: ColumnElement[Any], count: ColumnElement[Any]) -> ColumnElement[Any]:
    """avg() of the days' values, from their sum and count: numeric sum / count, as avg()
    over smallint computes it. The sum is NULL exactly when the count is 0, so the mean is
    then NULL, not a division error."""
    return cast(total, Numeric) / count


async def refresh_stats(conn: AsyncConnection, *, station_ids: Sequence[str] | None = None) -> int:
    """Recompute the monthly and yearly stats of the given stations (all when None) in one
    statement and one scan of their observations: the months are aggregated, stored, and
    summed into years. Returns the number of station-years.

    Missing values are NULL in observations, so sum/count skip them and a statistic
    with no value to stand on comes out NULL. Observations are never deleted, so a
    station-month or -year once present stays: upserts replace delete-then-insert."""
    stations, params = monthly_refresh_params(station_ids)
    months = (
        text(MONTHLY_AGGREGATE_SQL.format(stations=stations))
        .columns(
            column("station_id", Text),
            column("month", Date),
            *(column(name) for name in ("max_sum", "max_n", "min_sum", "min_n")),
            *(column(name) for name in ("prcp_sum", "prcp_n", "days")),
        )
        .cte("months")
    )
    m = months.c
    year = cast(func.date_part("year", m.month), SmallInteger)
    ys = YearlyStats
    # Named, so that the INSERT's columns follow the names, never the model's column order.
    values = {
        ys.station_id: m.station_id,
        ys.year: year,
        ys.avg_max_temp_c: celsius(_mean(func.sum(m.max_sum), func.sum(m.max_n))),
        ys.avg_min_temp_c: celsius(_mean(func.sum(m.min_sum), func.sum(m.min_n))),
        ys.total_precipitation_cm: centimetres(func.sum(m.prcp_sum)),
        ys.max_temp_days: func.sum(m.max_n),
        ys.min_temp_days: func.sum(m.min_n),
        ys.precipitation_days: func.sum(m.prcp_n),
        ys.days: func.sum(m.days),
    }
    columns = [column.key for column in values]
    aggregate = select(*values.values()).group_by(m.station_id, year)
    upsert = insert(YearlyStats).from_select(columns, aggregate)
    keys = [c.name for c in YearlyStats.__table__.primary_key]
    upsert = upsert.on_conflict_do_update(
        index_elements=keys,
        set_={name: upsert.excluded[name] for name in columns if name not in keys},
    )
    # Both named in the order the statement's WITH needs them: the monthly upsert reads months.
    monthly = text(MONTHLY_UPSERT_SQL).columns().cte("monthly")
    result = await conn.execute(upsert.add_cte(months, monthly), params)
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
