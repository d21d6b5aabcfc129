"""db.units: a daily value served in metric units, divided in double precision, is the float
of the exact numeric quotient for every value a smallint column can store."""

from __future__ import annotations

from sqlalchemy import Float, Numeric, SmallInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.db.units import daily


async def test_daily_metric_values_are_the_exact_quotients(session: AsyncSession) -> None:
    series = select(func.generate_series(-32768, 32767).label("n")).subquery()
    tenths = cast(series.c.n, SmallInteger)
    exact = cast(cast(tenths, Numeric) / 10, Float)
    differ = daily("max_temp_c", tenths, "metric").is_distinct_from(exact)
    stmt = select(func.count(), func.count().filter(differ)).select_from(series)
    values, different = (await session.execute(stmt)).one()
    assert (values, different) == (65536, 0)


async def test_daily_values_in_metric_and_imperial(session: AsyncSession) -> None:
    tenths = cast(-22, SmallInteger)
    stmt = select(daily("max_temp_c", tenths, "metric"), daily("max_temp_c", tenths, "imperial"))
    row = (await session.execute(stmt)).one()
    assert row._mapping == {"max_temp_c": -2.2, "max_temp_f": 28.0}
