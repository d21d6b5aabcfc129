"""Yearly statistics per station, aggregated in the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Numeric, SmallInteger, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from weather_api.db.models import Observation, YearlyStats
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
