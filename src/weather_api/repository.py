"""Queries behind the API: each repository takes a session and builds ``select()``s.

``select_*`` methods return the filtered, ordered statement (JSON pages and CSV exports
share it); ``page`` methods add keyset or offset paging and the total."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from weather_api.models import CornYield, Observation, Station, YearlyStats
from weather_api.pagination import Key, PageRequest
from weather_api.units import celsius, millimetres

Rows = list[dict[str, Any]]
AnySelect = Select[*tuple[Any, ...]]


def _float(value: SQLColumnExpression[Any], digits: int | None = None) -> ColumnElement[Any]:
    return cast(func.round(value, digits) if digits is not None else value, Float)


async def _page(
    session: AsyncSession, stmt: AnySelect, key: Sequence[Any], paging: PageRequest
) -> tuple[Rows, int]:
    """Offset or keyset paging for the small tables (stats, stations, yield)."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    if paging.after is not None:
        stmt = stmt.where(tuple_(*key) > tuple_(*paging.after))
    else:
        stmt = stmt.offset(paging.offset)
    rows = (await session.execute(stmt.limit(paging.size))).mappings().all()
    return [dict(r) for r in rows], int(total or 0)


class WeatherRepository:
    KEY_TYPES = (str, dt.date.fromisoformat)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _where(
        station_ids: Sequence[str], start: dt.date | None, end: dt.date | None
    ) -> list[ColumnElement[bool]]:
        obs = Observation
        where: list[ColumnElement[bool]] = []
        if station_ids:
            where.append(obs.station_id.in_(station_ids))
        if start:
            where.append(obs.date >= start)
        if end:
            where.append(obs.date <= end)
        return where

    def select_items(
        self, station_ids: Sequence[str], start: dt.date | None, end: dt.date | None
    ) -> AnySelect:
        obs = Observation
        return (
            select(
                obs.station_id,
                obs.date,
                _float(celsius(obs.max_temp)).label("max_temp_c"),
                _float(celsius(obs.min_temp)).label("min_temp_c"),
                _float(millimetres(obs.precipitation)).label("precipitation_mm"),
            )
            .where(*self._where(station_ids, start, end))
            .order_by(obs.station_id, obs.date)
        )

    async def _locate(
        self, station_ids: Sequence[str], start: dt.date | None, end: dt.date | None, offset: int
    ) -> tuple[int, tuple[str, dt.date, int] | None]:
        """The total, and where row ``offset`` lies: (station, first day, rows to skip).

        Yearly stats hold each station-year's row count and commit with the data, so a
        window over at most a few thousand of them replaces counting and skipping millions
        of observations. Years cut by the date range are counted in observations."""
        ys = YearlyStats
        lo, hi = start or dt.date.min, end or dt.date.max
        first_day, last_day = func.make_date(ys.year, 1, 1), func.make_date(ys.year, 12, 31)
        cut_count = (
            select(func.count())
            .where(
                Observation.station_id == ys.station_id,
                Observation.date.between(func.greatest(first_day, lo), func.least(last_day, hi)),
            )
            .scalar_subquery()
        )
        whole_year = and_(first_day >= lo, last_day <= hi)
        buckets = select(
            ys.station_id,
            func.greatest(first_day, lo).label("first_day"),
            case((whole_year, ys.days), else_=cut_count).label("n"),
        ).where(ys.year.between(lo.year, hi.year))
        if station_ids:
            buckets = buckets.where(ys.station_id.in_(station_ids))
        b = buckets.subquery()
        order = (b.c.station_id, b.c.first_day)
        ranked = select(
            b.c.station_id,
            b.c.first_day,
            b.c.n,
            (func.sum(b.c.n).over(order_by=order) - b.c.n).label("before"),
            func.sum(b.c.n).over().label("total"),
        ).subquery()
        at = literal(offset, BigInteger)
        holds = and_(ranked.c.before <= at, at < ranked.c.before + ranked.c.n)
        row = (
            await self.session.execute(
                select(ranked, holds.label("holds"))
                .order_by(holds.desc(), ranked.c.station_id, ranked.c.first_day)
                .limit(1)
            )
        ).one_or_none()
        if row is None:
            return 0, None
        position = (row.station_id, row.first_day, offset - row.before) if row.holds else None
        return int(row.total), position

    async def page(
        self,
        station_ids: Sequence[str],
        start: dt.date | None,
        end: dt.date | None,
        paging: PageRequest,
    ) -> tuple[Rows, int]:
        total, position = await self._locate(station_ids, start, end, paging.offset)
        stmt = self.select_items(station_ids, start, end).limit(paging.size)
        key = tuple_(Observation.station_id, Observation.date)
        if paging.after is not None:
            stmt = stmt.where(key > tuple_(*paging.after))
        elif position is None:
            return [], total
        else:
            station_id, first_day, skip = position
            stmt = stmt.where(key >= tuple_(station_id, first_day)).offset(skip)
        rows = (await self.session.execute(stmt)).mappings().all()
        return [dict(r) for r in rows], total


class StatsRepository:
    KEY_TYPES = (str, int)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select_items(
        self, station_ids: Sequence[str], first: int | None, last: int | None
    ) -> AnySelect:
        ys = YearlyStats
        stmt = select(
            ys.station_id,
            ys.year,
            _float(ys.avg_max_temp_c, 2).label("avg_max_temp_c"),
            _float(ys.avg_min_temp_c, 2).label("avg_min_temp_c"),
            _float(ys.total_precipitation_cm, 2).label("total_precipitation_cm"),
            ys.max_temp_days,
            ys.min_temp_days,
            ys.precipitation_days,
        ).order_by(ys.station_id, ys.year)
        if station_ids:
            stmt = stmt.where(ys.station_id.in_(station_ids))
        if first:
            stmt = stmt.where(ys.year >= first)
        if last:
            stmt = stmt.where(ys.year <= last)
        return stmt

    async def page(
        self,
        station_ids: Sequence[str],
        first: int | None,
        last: int | None,
        paging: PageRequest,
    ) -> tuple[Rows, int]:
        key = (YearlyStats.station_id, YearlyStats.year)
        return await _page(self.session, self.select_items(station_ids, first, last), key, paging)


class StationRepository:
    KEY_TYPES = (str,)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select_items(self, states: Sequence[str] = (), station_id: str | None = None) -> AnySelect:
        st, ys, obs = Station, YearlyStats, Observation
        days = func.coalesce(func.sum(ys.days), 0)

        def share(column: SQLColumnExpression[Any]) -> ColumnElement[Any]:
            return _float(func.sum(column) / func.nullif(func.sum(ys.days), 0), 4)

        # min/max of the primary key's second column: two index probes per station.
        first = select(func.min(obs.date)).where(obs.station_id == st.station_id)
        last = select(func.max(obs.date)).where(obs.station_id == st.station_id)
        stmt = (
            select(
                st.station_id,
                st.state,
                first.scalar_subquery().label("first_date"),
                last.scalar_subquery().label("last_date"),
                days.label("days"),
                share(ys.max_temp_days).label("max_temp_share"),
                share(ys.min_temp_days).label("min_temp_share"),
                share(ys.precipitation_days).label("precipitation_share"),
            )
            .outerjoin(ys, ys.station_id == st.station_id)
            .group_by(st.station_id)
            .order_by(st.station_id)
        )
        if states:
            stmt = stmt.where(st.state.in_(states))
        if station_id is not None:
            stmt = stmt.where(st.station_id == station_id)
        return stmt

    async def page(self, states: Sequence[str], paging: PageRequest) -> tuple[Rows, int]:
        return await _page(self.session, self.select_items(states), (Station.station_id,), paging)

    async def get(self, station_id: str) -> dict[str, Any] | None:
        row = (
            (await self.session.execute(self.select_items(station_id=station_id)))
            .mappings()
            .one_or_none()
        )
        return dict(row) if row else None


class YieldRepository:
    KEY_TYPES = (int,)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select_items(self, first: int | None, last: int | None, *, weather: bool) -> AnySelect:
        cy, ys = CornYield, YearlyStats
        columns: list[Any] = [cy.year, cy.corn_grain_yield_kt]
        stmt = select(*columns).order_by(cy.year)
        if weather:
            means = (
                select(
                    ys.year,
                    func.count().label("stations"),
                    _float(func.avg(ys.avg_max_temp_c), 2).label("avg_max_temp_c"),
                    _float(func.avg(ys.avg_min_temp_c), 2).label("avg_min_temp_c"),
                    _float(func.avg(ys.total_precipitation_cm), 2).label(
                        "avg_total_precipitation_cm"
                    ),
                )
                .group_by(ys.year)
                .subquery()
            )
            stmt = stmt.add_columns(
                func.coalesce(means.c.stations, 0).label("stations"),
                means.c.avg_max_temp_c,
                means.c.avg_min_temp_c,
                means.c.avg_total_precipitation_cm,
            ).outerjoin(means, means.c.year == cy.year)
        if first:
            stmt = stmt.where(cy.year >= first)
        if last:
            stmt = stmt.where(cy.year <= last)
        return stmt

    async def page(
        self, first: int | None, last: int | None, paging: PageRequest, *, weather: bool
    ) -> tuple[Rows, int]:
        stmt = self.select_items(first, last, weather=weather)
        return await _page(self.session, stmt, (CornYield.year,), paging)


def last_key(rows: Rows, names: Sequence[str]) -> Key | None:
    return tuple(rows[-1][n] for n in names) if rows else None
