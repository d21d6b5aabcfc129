"""Queries behind the API: each repository takes a session and runs ``select()``s.

``select_*`` methods return the filtered, ordered statement (JSON pages and CSV exports
share it); ``page`` methods add keyset or offset paging and the total.

Statements are built once per shape of filters (which filters are present), with bind
parameters for the values, and reused: building a statement with SQLAlchemy costs more
than PostgreSQL takes to run a page of it, and a reused one hits the compiled cache at
once."""

from __future__ import annotations

import datetime as dt
import weakref
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from weather_api.db.models import CornYield, LoadRun, Observation, Station, YearlyStats
from weather_api.db.paging import Key, PageRequest, key_date, key_id, key_str, key_year
from weather_api.db.units import celsius, millimetres

Rows = list[dict[str, Any]]
AnySelect = Select[*tuple[Any, ...]]


@dataclass
class _Buckets:
    """Station-years in key order: their first key and how many rows come before them."""

    starts: list[int] = field(default_factory=list)
    keys: list[tuple[str, dt.date]] = field(default_factory=list)
    total: int = 0


class _BucketCache:
    """Least recently used buckets, bounded by their number (about 100 bytes each)."""

    MAX_BUCKETS = 200_000

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, _Buckets] = OrderedDict()
        self._size = 0

    def get(self, key: Hashable) -> _Buckets | None:
        if (buckets := self._entries.get(key)) is not None:
            self._entries.move_to_end(key)
        return buckets

    def put(self, key: Hashable, buckets: _Buckets) -> None:
        if (old := self._entries.pop(key, None)) is not None:
            self._size -= len(old.starts)
        self._entries[key] = buckets
        self._size += len(buckets.starts)
        while self._size > self.MAX_BUCKETS and len(self._entries) > 1:
            self._size -= len(self._entries.popitem(last=False)[1].starts)


# One cache per engine: data versions count per database.
_bucket_caches: weakref.WeakKeyDictionary[Engine, _BucketCache] = weakref.WeakKeyDictionary()


def _bucket_cache(session: AsyncSession) -> _BucketCache | None:
    if session.bind is None:
        return None
    engine = session.bind.sync_engine
    if (cache := _bucket_caches.get(engine)) is None:
        cache = _bucket_caches[engine] = _BucketCache()
    return cache


def _float(value: SQLColumnExpression[Any], digits: int | None = None) -> ColumnElement[Any]:
    return cast(func.round(value, digits) if digits is not None else value, Float)


Params = Mapping[str, Any]
_TOTAL = "_total"
_SIZE = bindparam("page_size", type_=Integer())
# bigint: page 10,000,000 of 1,000 rows is an offset past int4.
_SKIP = bindparam("page_offset", type_=BigInteger())


def _bound(prefix: str, key: Sequence[QueryableAttribute[Any]]) -> ColumnElement[Any]:
    """Bind parameters ``<prefix>_0``, ``<prefix>_1``... for a key's values."""
    return tuple_(*(bindparam(f"{prefix}_{i}", type_=c.type) for i, c in enumerate(key)))


def _key_params(prefix: str, values: Key) -> dict[str, Any]:
    return {f"{prefix}_{i}": value for i, value in enumerate(values)}


class _Paged(NamedTuple):
    """A filtered, ordered statement and its pages: by offset, carrying the total as a
    window over the filtered rows, or after a key; and the count alone."""

    items: AnySelect
    by_offset: AnySelect
    after_key: AnySelect
    count_all: AnySelect

    @classmethod
    def of(cls, items: AnySelect, key: Sequence[QueryableAttribute[Any]]) -> _Paged:
        return cls(
            items,
            items.add_columns(func.count().over().label(_TOTAL)).offset(_SKIP).limit(_SIZE),
            items.where(tuple_(*key) > _bound("after", key)).limit(_SIZE),
            select(func.count()).select_from(items.order_by(None).subquery()),
        )


async def _rows(session: AsyncSession, stmt: AnySelect, params: Params) -> Rows:
    """The rows as dicts, run on the session's connection: Core execution skips the ORM's
    per-row loading, which costs more than the query itself for a page of plain columns."""
    result = await (await session.connection()).execute(stmt, dict(params))
    return list(map(dict, map(zip, repeat(tuple(result.keys())), result)))


async def _page(
    session: AsyncSession, paged: _Paged, params: Params, paging: PageRequest
) -> tuple[Rows, int]:
    """Offset or keyset paging for the small tables (stats, stations, yield).

    An offset page carries the total in the same query; only a page past the end, or a
    keyset page, counts separately."""

    async def count() -> int:
        return int(await (await session.connection()).scalar(paged.count_all, dict(params)) or 0)

    sized = {**params, "page_size": paging.size}
    if paging.after is not None:
        after = sized | _key_params("after", paging.after)
        return await _rows(session, paged.after_key, after), await count()
    rows = await _rows(session, paged.by_offset, sized | {"page_offset": paging.offset})
    if not rows:
        return rows, await count()
    total = rows[0][_TOTAL]
    for row in rows:
        del row[_TOTAL]
    return rows, int(total)


def _weather_columns() -> tuple[SQLColumnExpression[Any], ...]:
    obs = Observation
    return (
        obs.station_id,
        obs.date,
        _float(celsius(obs.max_temp)).label("max_temp_c"),
        _float(celsius(obs.min_temp)).label("min_temp_c"),
        _float(millimetres(obs.precipitation)).label("precipitation_mm"),
    )


class _WeatherStatements(NamedTuple):
    items: AnySelect
    at_key: AnySelect  # from a key on, skipping some rows
    after_key: AnySelect


@cache
def _weather_statements(stations: bool, start: bool, end: bool) -> _WeatherStatements:
    obs = Observation
    items = select(*_weather_columns()).order_by(obs.station_id, obs.date)
    if stations:
        items = items.where(obs.station_id.in_(bindparam("station_ids", expanding=True)))
    if start:
        items = items.where(obs.date >= bindparam("start"))
    if end:
        items = items.where(obs.date <= bindparam("end"))
    key = (obs.station_id, obs.date)
    return _WeatherStatements(
        items,
        items.where(tuple_(*key) >= _bound("at", key)).offset(_SKIP).limit(_SIZE),
        items.where(tuple_(*key) > _bound("after", key)).limit(_SIZE),
    )


class WeatherRepository:
    KEY_TYPES = (key_str, key_date)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _statements(
        station_ids: Sequence[str], start: dt.date | None, end: dt.date | None
    ) -> tuple[_WeatherStatements, dict[str, Any]]:
        params = {"station_ids": list(station_ids), "start": start, "end": end}
        shape = _weather_statements(bool(station_ids), start is not None, end is not None)
        return shape, {k: v for k, v in params.items() if v}

    def select_items(
        self, station_ids: Sequence[str], start: dt.date | None, end: dt.date | None
    ) -> AnySelect:
        statements, params = self._statements(station_ids, start, end)
        return statements.items.params(params)

    async def _buckets(
        self, station_ids: Sequence[str], start: dt.date | None, end: dt.date | None
    ) -> _Buckets:
        """Every non-empty station-year the filters select, in key order, with its first
        day and the rows before it.

        Yearly stats hold each station-year's row count and commit with the data, so a few
        thousand of them replace counting and skipping millions of observations. Years cut
        by the date range are counted in observations."""
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
        stmt = (
            select(
                ys.station_id,
                func.greatest(first_day, lo),
                case((whole_year, ys.days), else_=cut_count),
            )
            .where(ys.year.between(lo.year, hi.year))
            .order_by(ys.station_id, ys.year)  # the primary key: no sort
        )
        if station_ids:
            stmt = stmt.where(ys.station_id.in_(station_ids))
        buckets = _Buckets()
        for station_id, day, n in await (await self.session.connection()).execute(stmt):
            if n:  # an empty bucket would share its start with the next one
                buckets.starts.append(buckets.total)
                buckets.keys.append((station_id, day))
                buckets.total += n
        return buckets

    async def _locate(
        self,
        station_ids: Sequence[str],
        start: dt.date | None,
        end: dt.date | None,
        offset: int,
        data_version: Hashable,
    ) -> tuple[int, tuple[str, dt.date, int] | None]:
        """The total, and where row ``offset`` lies: (station, first day, rows to skip).

        The buckets only change when a load commits, which changes ``data_version``: they
        are kept per version (and engine), so a page at any depth costs a binary search
        here and one short index scan."""
        key = (data_version, tuple(sorted(set(station_ids))), start, end)
        cache = _bucket_cache(self.session) if data_version is not None else None
        buckets = cache.get(key) if cache is not None else None
        if buckets is None:
            buckets = await self._buckets(station_ids, start, end)
            if cache is not None:
                cache.put(key, buckets)
        if offset >= buckets.total:
            return buckets.total, None
        at = bisect_right(buckets.starts, offset) - 1
        station_id, first_day = buckets.keys[at]
        return buckets.total, (station_id, first_day, offset - buckets.starts[at])

    async def page(
        self,
        station_ids: Sequence[str],
        start: dt.date | None,
        end: dt.date | None,
        paging: PageRequest,
        data_version: Hashable = None,
    ) -> tuple[Rows, int]:
        total, position = await self._locate(station_ids, start, end, paging.offset, data_version)
        statements, params = self._statements(station_ids, start, end)
        params["page_size"] = paging.size
        if paging.after is not None:
            params |= _key_params("after", paging.after)
            return await _rows(self.session, statements.after_key, params), total
        if position is None:
            return [], total
        station_id, first_day, skip = position
        params |= _key_params("at", (station_id, first_day)) | {"page_offset": skip}
        return await _rows(self.session, statements.at_key, params), total


class StatsRepository:
    KEY_TYPES = (key_str, key_year)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _statements(
        station_ids: Sequence[str], first: int | None, last: int | None
    ) -> tuple[_Paged, dict[str, Any]]:
        params = {"station_ids": list(station_ids), "first": first, "last": last}
        params = {k: v for k, v in params.items() if v}
        return _stats_statements(*(k in params for k in ("station_ids", "first", "last"))), params

    def select_items(
        self, station_ids: Sequence[str], first: int | None, last: int | None
    ) -> AnySelect:
        statements, params = self._statements(station_ids, first, last)
        return statements.items.params(params)

    async def page(
        self,
        station_ids: Sequence[str],
        first: int | None,
        last: int | None,
        paging: PageRequest,
    ) -> tuple[Rows, int]:
        statements, params = self._statements(station_ids, first, last)
        return await _page(self.session, statements, params, paging)


@cache
def _stats_statements(stations: bool, first: bool, last: bool) -> _Paged:
    ys = YearlyStats
    items = select(
        ys.station_id,
        ys.year,
        _float(ys.avg_max_temp_c, 2).label("avg_max_temp_c"),
        _float(ys.avg_min_temp_c, 2).label("avg_min_temp_c"),
        _float(ys.total_precipitation_cm, 2).label("total_precipitation_cm"),
        ys.max_temp_days,
        ys.min_temp_days,
        ys.precipitation_days,
    ).order_by(ys.station_id, ys.year)
    if stations:
        items = items.where(ys.station_id.in_(bindparam("station_ids", expanding=True)))
    if first:
        items = items.where(ys.year >= bindparam("first"))
    if last:
        items = items.where(ys.year <= bindparam("last"))
    return _Paged.of(items, (ys.station_id, ys.year))


class StationRepository:
    KEY_TYPES = (key_str,)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select_items(self, states: Sequence[str] = (), station_id: str | None = None) -> AnySelect:
        params = {"states": list(states), "station_id": station_id}
        params = {k: v for k, v in params.items() if v}
        return _station_statements(bool(states), bool(station_id)).items.params(params)

    async def page(self, states: Sequence[str], paging: PageRequest) -> tuple[Rows, int]:
        params = {"states": list(states)} if states else {}
        return await _page(self.session, _station_statements(bool(states), False), params, paging)

    async def get(self, station_id: str) -> dict[str, Any] | None:
        stmt = _station_statements(False, True).items
        rows = await _rows(self.session, stmt, {"station_id": station_id})
        return rows[0] if rows else None


@cache
def _station_statements(states: bool, one: bool) -> _Paged:
    st, ys, obs = Station, YearlyStats, Observation
    days = func.coalesce(func.sum(ys.days), 0)

    def share(column: SQLColumnExpression[Any]) -> ColumnElement[Any]:
        return _float(func.sum(column) / func.nullif(func.sum(ys.days), 0), 4)

    # min/max of the primary key's second column: two index probes per station.
    first = select(func.min(obs.date)).where(obs.station_id == st.station_id)
    last = select(func.max(obs.date)).where(obs.station_id == st.station_id)
    items = (
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
        items = items.where(st.state.in_(bindparam("states", expanding=True)))
    if one:
        items = items.where(st.station_id == bindparam("station_id"))
    return _Paged.of(items, (st.station_id,))


class YieldRepository:
    KEY_TYPES = (key_year,)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select_items(self, first: int | None, last: int | None, *, weather: bool) -> AnySelect:
        params = {k: v for k, v in (("first", first), ("last", last)) if v}
        return _yield_statements(bool(first), bool(last), weather).items.params(params)

    async def page(
        self, first: int | None, last: int | None, paging: PageRequest, *, weather: bool
    ) -> tuple[Rows, int]:
        params = {k: v for k, v in (("first", first), ("last", last)) if v}
        statements = _yield_statements(bool(first), bool(last), weather)
        return await _page(self.session, statements, params, paging)


@cache
def _yield_statements(first: bool, last: bool, weather: bool) -> _Paged:
    cy, ys = CornYield, YearlyStats
    columns: list[Any] = [cy.year, cy.corn_grain_yield_kt]
    items = select(*columns).order_by(cy.year)
    if weather:
        means = (
            select(
                ys.year,
                func.count().label("stations"),
                _float(func.avg(ys.avg_max_temp_c), 2).label("avg_max_temp_c"),
                _float(func.avg(ys.avg_min_temp_c), 2).label("avg_min_temp_c"),
                _float(func.avg(ys.total_precipitation_cm), 2).label("avg_total_precipitation_cm"),
            )
            .group_by(ys.year)
            .subquery()
        )
        items = items.add_columns(
            func.coalesce(means.c.stations, 0).label("stations"),
            means.c.avg_max_temp_c,
            means.c.avg_min_temp_c,
            means.c.avg_total_precipitation_cm,
        ).outerjoin(means, means.c.year == cy.year)
    if first:
        items = items.where(cy.year >= bindparam("first"))
    if last:
        items = items.where(cy.year <= bindparam("last"))
    return _Paged.of(items, (cy.year,))


def last_key(rows: Rows, names: Sequence[str]) -> Key | None:
    return tuple(rows[-1][n] for n in names) if rows else None


class LoadRepository:
    """Load runs, newest first."""

    KEY_TYPES = (key_id,)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(self, paging: PageRequest) -> tuple[Rows, int]:
        stmt = select(*LoadRun.__table__.columns).order_by(LoadRun.id.desc()).limit(paging.size)
        if paging.after is not None:
            stmt = stmt.where(LoadRun.id < paging.after[0])
        else:
            stmt = stmt.offset(literal(paging.offset, BigInteger()))  # may be past int4
        total = await self.session.scalar(select(func.count()).select_from(LoadRun)) or 0
        rows = [dict(row) for row in (await self.session.execute(stmt)).mappings()]
        return rows, total
