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
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from weather_api.db.climate import (
    MONTHLY_AGGREGATE_SQL,
    MONTHLY_UPSERT_SQL,
    monthly_refresh_params,
)
from weather_api.db.models import YearlyStats
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
