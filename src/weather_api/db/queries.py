"""Queries behind the API: each repository takes a ``Reader`` and runs ``select()``s.

``select_*`` methods return the filtered, ordered statement (JSON pages and CSV exports
share it); ``page`` methods add keyset or offset paging and the total.

Statements are built once per shape of filters (which filters are present), with bind
parameters for the values, and reused: building a statement with SQLAlchemy costs more
than PostgreSQL takes to run a page of it, and a reused one hits the compiled cache at
once."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import accumulate, chain, repeat
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Double,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Select,
    SmallInteger,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.expression import ClauseElement, SelectBase

from weather_api.db.models import (
    CornYield,
    LoadRun,
    Observation,
    Station,
    StationSummary,
    YearlyStats,
)
from weather_api.db.paging import (
    Key,
    PageRequest,
    key_date,
    key_distance,
    key_id,
    key_str,
    key_year,
)
from weather_api.db.units import Units, daily, measure

Rows = list[dict[str, Any]]
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class _Buckets:
    """Station-years in key order, as flat arrays (about 14 bytes each): the rows before
    each (``starts``, one more entry: the total), its year, and its station's index in
    ``station_ids``."""

    starts: array[int]
    years: array[int]
    stations: array[int]
    station_ids: list[str]

    @property
    def total(self) -> int:
        return self.starts[-1]

    def __len__(self) -> int:
        return len(self.years)


def _int16s(packed: bytes) -> array[int]:
    """Two-byte integers as ``int2send`` writes them: big-endian."""
    values = array("h", packed)
    if sys.byteorder == "little":
        values.byteswap()
    return values


class _BucketCache:
    """Least recently used buckets, bounded by their number. A key's buckets are built by
    one request at a time: concurrent requests for them (a new data version meets every
    connection at once) wait for that build instead of each running their own."""

    MAX_BUCKETS = 2_000_000

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, _Buckets] = OrderedDict()
        self._size = 0
        self._building: dict[Hashable, asyncio.Lock] = {}

    def get(self, key: Hashable) -> _Buckets | None:
        if (buckets := self._entries.get(key)) is not None:
            self._entries.move_to_end(key)
        return buckets

    def put(self, key: Hashable, buckets: _Buckets) -> None:
        if (old := self._entries.pop(key, None)) is not None:
            self._size -= len(old)
        self._entries[key] = buckets
        self._size += len(buckets)
        while self._size > self.MAX_BUCKETS and len(self._entries) > 1:
            self._size -= len(self._entries.popitem(last=False)[1])

    async def get_or_build(
        self, key: Hashable, build: Callable[[], Awaitable[_Buckets]]
    ) -> _Buckets:
        if (buckets := self.get(key)) is not None:
            return buckets
        # Each request builds on its own connection: a waiter whose builder fails or is
        # cancelled takes the lock and builds in turn.
        lock = self._building.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                if (buckets := self.get(key)) is None:
                    buckets = await build()
                    self.put(key, buckets)
            finally:
                if self._building.get(key) is lock:
                    del self._building[key]
        return buckets


class _TotalCache:
    """Totals of list pages by data version, statement and parameters, least recently used
    out first, bounded by their number. A total counts every row its filters select, which
    grows with the data (16,700 stations at 100x), and changes only when a load commits."""

    MAX_TOTALS = 10_000

    def __init__(self) -> None:
        self._totals: OrderedDict[Hashable, int] = OrderedDict()

    def get(self, key: Hashable) -> int | None:
        if (total := self._totals.get(key)) is not None:
            self._totals.move_to_end(key)
        return total

    def put(self, key: Hashable, total: int) -> None:
        self._totals[key] = total
        self._totals.move_to_end(key)
        if len(self._totals) > self.MAX_TOTALS:
            self._totals.popitem(last=False)


class Reader:
    """A request's reads: SQLAlchemy statements, each compiled once, run by asyncpg.

    SQLAlchemy's execution (its session, greenlets, result objects) cost more than the query
    of a small page (docs/benchmarks.md, Request path). Statements are still built with
    SQLAlchemy; their rows come from the driver. The connection is taken at the first read
    (a 304 takes none) from ``checkout``, which gives it with the call that returns it.
    ``caches`` hold what depends on the data version only, per database; ``watched``: the
    reads see committed data only, so the process's version watch stands for theirs (a
    test's transaction sees its own writes: it is asked)."""

    def __init__(
        self,
        checkout: Callable[[], Awaitable[tuple[Any, Callable[[], Awaitable[None]]]]],
        dialect: Dialect,
        caches: Caches,
        *,
        watched: bool = True,
    ) -> None:
        self._checkout = checkout
        self._dialect = dialect
        self._connection: Any = None
        self._release: Callable[[], Awaitable[None]] | None = None
        self.caches = caches
        self.watched = watched

    async def rows(self, stmt: SelectBase, params: Params) -> Rows:
        """The rows as dicts, keyed as ``stmt``'s selected columns."""
        keys = tuple(stmt.selected_columns.keys())
        return list(map(dict, map(zip, repeat(keys), await self._fetch(stmt, params))))

    async def scalar(self, stmt: ClauseElement, params: Params) -> Any:
        """The first row's first value, or None without a row."""
        records = await self._fetch(stmt, params)
        return records[0][0] if records else None

    async def _fetch(self, stmt: ClauseElement, params: Params) -> list[Any]:
        state = _compile(stmt, self._dialect).construct_expanded_state(dict(params))
        args = state.positional_parameters
        if processors := state.processors:  # as SQLAlchemy's execution converts them
            values = state.parameters
            args = tuple(
                processors[name](values[name]) if name in processors else values[name]
                for name in state.positiontup or ()
            )
        if self._connection is None:
            self._connection, self._release = await self._checkout()
        return await self._connection.fetch(state.statement, *args)  # type: ignore[no-any-return]

    async def close(self) -> None:
        """Give the connection back (a CSV export streams on one of its own)."""
        release, self._connection, self._release = self._release, None, None
        if release is not None:
            await release()


@dataclass
class Caches:
    """What a database's reads keep between requests, by data version."""

    buckets: _BucketCache = field(default_factory=_BucketCache)
    totals: _TotalCache = field(default_factory=_TotalCache)


@lru_cache(maxsize=1024)
def _compile(stmt: ClauseElement, dialect: Dialect) -> SQLCompiler:
    """Statements are built once per shape and reused, so compiling is once per shape too;
    the bound is for those built per use (the buckets'), compiled once per data version."""
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def _float(value: SQLColumnExpression[Any], digits: int | None = None) -> ColumnElement[Any]:
    return cast(func.round(value, digits) if digits is not None else value, Float)


Params = Mapping[str, Any]
# Filters by query parameter name; None or empty means not given.
Filters = Mapping[str, Any]
Shape = frozenset[str]
_TOTAL = "_total"
_SIZE = bindparam("page_size", type_=Integer())
# bigint: page 10,000,000 of 1,000 rows is an offset past int4.
_SKIP = bindparam("page_offset", type_=BigInteger())


KeyColumns = Sequence[QueryableAttribute[Any] | ColumnElement[Any]]


def _bound(prefix: str, key: KeyColumns) -> ColumnElement[Any]:
    """Bind parameters ``<prefix>_0``, ``<prefix>_1``... for a key's values."""
    return tuple_(*(bindparam(f"{prefix}_{i}", type_=c.type) for i, c in enumerate(key)))


def _key_params(prefix: str, values: Key) -> dict[str, Any]:
    return {f"{prefix}_{i}": value for i, value in enumerate(values)}


class _Paged(NamedTuple):
    """A filtered, ordered statement and its pages: by offset, carrying the total (``of``:
    as a window over the filtered rows) or not (the total known), or after a key; and the
    count alone."""

    items: AnySelect
    by_offset: AnySelect
    by_offset_only: AnySelect
    after_key: AnySelect
    count_all: AnySelect

    @classmethod
    def of(cls, items: AnySelect, key: KeyColumns) -> _Paged:
        return cls(
            items,
            items.add_columns(func.count().over().label(_TOTAL)).offset(_SKIP).limit(_SIZE),
            items.offset(_SKIP).limit(_SIZE),
            items.where(tuple_(*key) > _bound("after", key)).limit(_SIZE),
            select(func.count()).select_from(items.order_by(None).subquery()),
        )


async def _page(
    reader: Reader,
    paged: _Paged,
    params: Params,
    paging: PageRequest,
    data_version: Hashable = None,
) -> tuple[Rows, int]:
    """Offset or keyset paging for the tables of aggregates (stats, stations, yield).

    An offset page carries the total in the same query; only a page past the end, or a
    keyset page, counts separately. Given the ``data_version`` the rows come from, and a
    statement built once (its identity is in the key), a total is counted once per
    version: later pages of the same filters read it from memory."""
    caches = reader.caches if data_version is not None else None
    key = (data_version, paged.count_all, *sorted(_hashable(params)))
    known = caches.totals.get(key) if caches is not None else None

    def keep(total: int) -> int:
        if caches is not None:
            caches.totals.put(key, total)
        return total

    async def count() -> int:
        if known is not None:
            return known
        return keep(int(await reader.scalar(paged.count_all, params) or 0))

    sized = {**params, "page_size": paging.size}
    if paging.after is not None:
        after = sized | _key_params("after", paging.after)
        return await reader.rows(paged.after_key, after), await count()
    offset = sized | {"page_offset": paging.offset}
    if known is not None:
        return await reader.rows(paged.by_offset_only, offset), known
    rows = await reader.rows(paged.by_offset, offset)
    if not rows:
        return rows, await count()
    total = rows[0][_TOTAL]
    for row in rows:
        del row[_TOTAL]
    return rows, keep(int(total))


def _hashable(params: Params) -> list[tuple[str, Hashable]]:
    return [(k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()]


def _where(items: AnySelect, filters: Mapping[str, ColumnElement[bool]], shape: Shape) -> AnySelect:
    """``items`` with the where-clause of each filter in ``shape``."""
    if unknown := shape - filters.keys():
        raise ValueError(f"no such filter: {', '.join(sorted(unknown))}")
    return items.where(*(filters[name] for name in sorted(shape)))


def _given(filters: Filters) -> tuple[Shape, dict[str, Any]]:
    """The filters that were given (not None, not empty) and their values."""
    values = {name: value for name, value in filters.items() if value not in (None, [])}
    return frozenset(values), values


class ListRepository:
    """A list endpoint's rows: filtered by parameter name, ordered by ``KEY``, paged.

    ``FILTERS`` maps each filter parameter to its where-clause, whose bind parameter has the
    parameter's name: adding a filter to a list is one entry here and one field in its query
    model. Statements are built once per shape (which filters are present) and reused:
    building a statement costs more than PostgreSQL takes to run a page of it."""

    KEY: tuple[str, ...]
    KEY_TYPES: tuple[Callable[[Any], Any], ...]
    FILTERS: Mapping[str, ColumnElement[bool]]

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def statements(self, shape: Shape) -> _Paged:
        raise NotImplementedError

    def given(self, filters: Filters) -> tuple[Shape, dict[str, Any]]:
        """The shape and bind parameters of ``filters``; a repository with options of its
        own (say, a point to measure distances from) adds their parameters."""
        return _given(filters)

    def select_items(self, filters: Filters) -> AnySelect:
        shape, params = self.given(filters)
        return self.statements(shape).items.params(params)

    async def page(
        self, filters: Filters, paging: PageRequest, data_version: Hashable = None
    ) -> tuple[Rows, int]:
        """A page and the total; ``data_version``, the version the reader reads, lets
        the total be kept for that version."""
        shape, params = self.given(filters)
        return await _page(self.reader, self.statements(shape), params, paging, data_version)


def _weather_columns(units: Units) -> tuple[SQLColumnExpression[Any], ...]:
    obs = Observation
    return (
        obs.station_id,
        obs.date,
        daily("max_temp_c", obs.max_temp, units),
        daily("min_temp_c", obs.min_temp, units),
        daily("precipitation_mm", obs.precipitation, units),
    )


class _WeatherStatements(NamedTuple):
    items: AnySelect
    at_key: AnySelect  # from a key on, skipping some rows
    after_key: AnySelect


_WEATHER_FILTERS = {
    "station_id": Observation.station_id.in_(bindparam("station_id", expanding=True)),
    "start_date": Observation.date >= bindparam("start_date"),
    "end_date": Observation.date <= bindparam("end_date"),
}


@cache
def _weather_statements(shape: Shape, units: Units) -> _WeatherStatements:
    obs = Observation
    items = _where(select(*_weather_columns(units)), _WEATHER_FILTERS, shape)
    items = items.order_by(obs.station_id, obs.date)
    key = (obs.station_id, obs.date)
    return _WeatherStatements(
        items,
        items.where(tuple_(*key) >= _bound("at", key)).offset(_SKIP).limit(_SIZE),
        items.where(tuple_(*key) > _bound("after", key)).limit(_SIZE),
    )


class WeatherRepository(ListRepository):
    """Daily observations. Offset pages are located through the yearly stats' row counts
    (see ``_locate``), so this list pages without counting or skipping observations; its
    filters are the ones the locator understands."""

    KEY = ("station_id", "date")
    KEY_TYPES = (key_str, key_date)
    FILTERS = _WEATHER_FILTERS

    def __init__(self, reader: Reader, *, units: Units = "metric") -> None:
        super().__init__(reader)
        self.units = units

    def select_items(self, filters: Filters) -> AnySelect:
        shape, params = _given(filters)
        return _weather_statements(shape, self.units).items.params(params)

    async def _buckets(
        self, station_ids: Sequence[str], start: dt.date | None, end: dt.date | None
    ) -> _Buckets:
        """Every non-empty station-year the filters select, in key order, with the rows
        before it.

        Yearly stats hold each station-year's row count and commit with the data, so a few
        thousand of them replace counting and skipping millions of observations. Years cut
        by the date range are counted in observations. The database packs each station's
        years and counts into bytes (``int2send``: two bytes each, big-endian): a row per
        station to decode, and no Python object per station-year, which at 100x (500,000
        of them) held the server's memory 50 MB above its size at 1x."""
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
        years = (
            select(
                ys.station_id,
                ys.year,
                case((whole_year, ys.days), else_=cut_count).label("n"),
            )
            .where(ys.year.between(lo.year, hi.year))
            .order_by(ys.station_id, ys.year)  # the primary key: no sort
        )
        if station_ids:
            years = years.where(ys.station_id.in_(station_ids))
        by_year = years.subquery()
        # An empty bucket would share its start with the next one.
        not_empty = by_year.c.n > 0

        def packed(column: ColumnElement[Any]) -> ColumnElement[Any]:
            """The station's values of ``column`` in year order, two bytes each."""
            two_bytes = func.int2send(cast(column, SmallInteger))
            in_order = aggregate_order_by(literal(b"", LargeBinary), by_year.c.year)
            return func.string_agg(two_bytes, in_order, type_=LargeBinary).filter(not_empty)

        stmt = (
            select(
                by_year.c.station_id,
                packed(by_year.c.year).label("years"),
                packed(by_year.c.n).label("n"),
            )
            .group_by(by_year.c.station_id)
            .order_by(by_year.c.station_id)
        )
        rows = [row for row in await self.reader.rows(stmt, {}) if row["years"] is not None]
        year_values, counts = (_int16s(b"".join(row[n] for row in rows)) for n in ("years", "n"))
        return _Buckets(
            starts=array("q", accumulate(counts, initial=0)),
            years=year_values,
            stations=array(
                "i",
                chain.from_iterable(
                    repeat(i, len(row["years"]) // 2) for i, row in enumerate(rows)
                ),
            ),
            station_ids=[row["station_id"] for row in rows],
        )

    async def _locate(
        self, params: Mapping[str, Any], offset: int, data_version: Hashable
    ) -> tuple[int, tuple[str, dt.date, int] | None]:
        """The total, and where row ``offset`` lies: (station, first day, rows to skip).

        The buckets only change when a load commits, which changes ``data_version``: they
        are kept per version (and engine), so a page at any depth, and its total, cost a
        binary search here and one short index scan."""
        station_ids = params.get("station_id", [])
        start, end = params.get("start_date"), params.get("end_date")

        async def build() -> _Buckets:
            return await self._buckets(station_ids, start, end)

        if data_version is None:
            buckets = await build()
        else:
            key = (data_version, tuple(sorted(set(station_ids))), start, end)
            buckets = await self.reader.caches.buckets.get_or_build(key, build)
        if offset >= buckets.total:
            return buckets.total, None
        at = bisect_right(buckets.starts, offset) - 1
        first_day = max(dt.date(buckets.years[at], 1, 1), start or dt.date.min)
        station_id = buckets.station_ids[buckets.stations[at]]
        return buckets.total, (station_id, first_day, offset - buckets.starts[at])

    async def page(
        self, filters: Filters, paging: PageRequest, data_version: Hashable = None
    ) -> tuple[Rows, int]:
        shape, params = _given(filters)
        statements = _weather_statements(shape, self.units)
        total, position = await self._locate(params, paging.offset, data_version)
        params["page_size"] = paging.size
        if paging.after is not None:
            params |= _key_params("after", paging.after)
            return await self.reader.rows(statements.after_key, params), total
        if position is None:
            return [], total
        station_id, first_day, skip = position
        params |= _key_params("at", (station_id, first_day)) | {"page_offset": skip}
        return await self.reader.rows(statements.at_key, params), total


_STATS_FILTERS = {
    "station_id": YearlyStats.station_id.in_(bindparam("station_id", expanding=True)),
    "start_year": YearlyStats.year >= bindparam("start_year"),
    "end_year": YearlyStats.year <= bindparam("end_year"),
}


@cache
def _stats_statements(shape: Shape, units: Units) -> _Paged:
    ys = YearlyStats
    items = select(
        ys.station_id,
        ys.year,
        measure("avg_max_temp_c", ys.avg_max_temp_c, units, count=ys.max_temp_days),
        measure("avg_min_temp_c", ys.avg_min_temp_c, units, count=ys.min_temp_days),
        measure("total_precipitation_cm", ys.total_precipitation_cm, units),
        ys.max_temp_days,
        ys.min_temp_days,
        ys.precipitation_days,
    )
    items = _where(items, _STATS_FILTERS, shape).order_by(ys.station_id, ys.year)
    return _Paged.of(items, (ys.station_id, ys.year))


class StatsRepository(ListRepository):
    KEY = ("station_id", "year")
    KEY_TYPES = (key_str, key_year)
    FILTERS = _STATS_FILTERS

    def __init__(self, reader: Reader, *, units: Units = "metric") -> None:
        super().__init__(reader)
        self.units = units

    def statements(self, shape: Shape) -> _Paged:
        return _stats_statements(shape, self.units)


# Great-circle distances on a sphere of the IUGG mean radius, in km.
EARTH_RADIUS_KM = 6371.0088


# Points as bound arrays, subscripted in SQL: near = [lat, lon]; bbox = [min lon, min lat,
# max lon, max lat], RFC 7946's order. One parameter per query parameter, by its name.
def _point_array(name: str) -> ColumnElement[Any]:
    # Parenthesised: PostgreSQL reads CAST(...)[1] as a syntax error.
    return type_coerce(Grouping(cast(bindparam(name), ARRAY(Double))), ARRAY(Double))


_NEAR = _point_array("near")
_BBOX = _point_array("bbox")


def _distance_km(latitude: Any, longitude: Any) -> ColumnElement[Any]:
    """Haversine distance from ``near``, rounded to 0.1 km as served: ordering, keyset
    cursors and ``radius_km`` all use the value the client sees."""
    lat1, lon1 = func.radians(_NEAR[1]), func.radians(_NEAR[2])
    lat2, lon2 = func.radians(latitude), func.radians(longitude)
    half = func.power(func.sin((lat2 - lat1) / 2), 2) + func.cos(lat1) * func.cos(
        lat2
    ) * func.power(func.sin((lon2 - lon1) / 2), 2)
    # least(): rounding can push the haversine a hair past 1 for antipodal points.
    radians = 2 * func.asin(func.sqrt(func.least(half, 1.0)))
    return _float(cast(radians * EARTH_RADIUS_KM, Numeric), 1)


_DISTANCE = _distance_km(Station.latitude, Station.longitude)
_RADIUS: BindParameter[float] = bindparam("radius_km", type_=Double())
# Every point within a distance lies within that distance's angle of latitude: a band the
# (latitude, longitude) index finds before any distance is computed. +0.05: the distance
# compared is rounded.
_BAND_DEG = func.degrees((_RADIUS + 0.05) / EARTH_RADIUS_KM)

_STATION_FILTERS = {
    "state": Station.state.in_(bindparam("state", expanding=True)),
    "station_id": Station.station_id == bindparam("station_id"),
    "bbox": and_(
        Station.longitude.between(_BBOX[1], _BBOX[3]),
        Station.latitude.between(_BBOX[2], _BBOX[4]),
    ),
    "radius_km": and_(
        Station.latitude.between(_NEAR[1] - _BAND_DEG, _NEAR[1] + _BAND_DEG),
        _DISTANCE <= _RADIUS,
    ),
}


@cache
def _station_statements(shape: Shape, near: bool, units: Units) -> _Paged:
    """Stations with observations (those with a summary; a station list also names
    stations without any), their metadata and completeness; with ``near``, their distance
    from it, nearest first.

    The loader keeps a summary row per station with observations, so a page joins its own
    stations' rows by key, whatever the number of stations and years stored."""
    if "radius_km" in shape and not near:
        raise ValueError("radius_km needs near")
    st, su = Station, StationSummary
    items = select(
        st.station_id,
        st.name,
        st.state,
        st.latitude,
        st.longitude,
        measure("elevation_m", st.elevation, units),
        st.gsn,
        st.hcn_crn,
        st.wmo_id,
        su.first_date,
        su.last_date,
        su.days,
        su.max_temp_share,
        su.min_temp_share,
        su.precipitation_share,
    ).join(su, su.station_id == st.station_id)
    items = _where(items, _STATION_FILTERS, shape)
    # Without a filter of the stations, the summaries alone: a station list may hold
    # 130,000 stations without observations.
    count_all = select(func.count()).select_from(su)
    if shape:
        count_all = _where(
            count_all.join(st, st.station_id == su.station_id), _STATION_FILTERS, shape
        )
    key: KeyColumns = (st.station_id,)
    if near:
        items = items.add_columns(_DISTANCE.label("distance_km"))
        key = (_DISTANCE, st.station_id)
    items = items.order_by(*key)
    return _Paged(
        items,
        # The total counted beside the page, not as a window over the rows: a window
        # builds every filtered row before the first of the page.
        items.add_columns(count_all.scalar_subquery().label(_TOTAL)).offset(_SKIP).limit(_SIZE),
        items.offset(_SKIP).limit(_SIZE),
        items.where(tuple_(*key) > _bound("after", key)).limit(_SIZE),
        count_all,
    )


class StationRepository(ListRepository):
    """Stations. Options that shape the rows rather than filter them: ``near``, a
    (latitude, longitude) to measure ``distance_km`` from and order by, and ``units``."""

    KEY: tuple[str, ...] = ("station_id",)
    KEY_TYPES: tuple[Callable[[Any], Any], ...] = (key_str,)
    FILTERS = _STATION_FILTERS

    def __init__(
        self,
        reader: Reader,
        *,
        near: tuple[float, float] | None = None,
        units: Units = "metric",
    ) -> None:
        super().__init__(reader)
        self.near = near
        self.units = units
        if near is not None:
            self.KEY, self.KEY_TYPES = ("distance_km", "station_id"), (key_distance, key_str)

    def given(self, filters: Filters) -> tuple[Shape, dict[str, Any]]:
        shape, params = _given(filters)
        if self.near is not None:
            params["near"] = list(self.near)
        return shape, params

    def statements(self, shape: Shape) -> _Paged:
        return _station_statements(shape, self.near is not None, self.units)

    async def features(self, filters: Filters) -> Rows:
        """The items with their elevation in metres as ``geometry_elevation_m``, whatever
        the units: GeoJSON coordinates are metres (RFC 7946, 4)."""
        shape, params = self.given(filters)
        return await self.reader.rows(_with_elevation(self.statements(shape).items), params)


GEOMETRY_ELEVATION = "geometry_elevation_m"


@cache
def _with_elevation(items: AnySelect) -> AnySelect:
    elevation = measure("elevation_m", Station.elevation, "metric")
    return items.add_columns(elevation.label(GEOMETRY_ELEVATION))


_YIELD_FILTERS = {
    "start_year": CornYield.year >= bindparam("start_year"),
    "end_year": CornYield.year <= bindparam("end_year"),
}


@cache
def _yield_statements(shape: Shape, weather: bool, units: Units) -> _Paged:
    cy, ys = CornYield, YearlyStats
    items = select(cy.year, cy.corn_grain_yield_kt)
    if weather:
        means = (
            select(
                ys.year,
                func.count().label("stations"),
                measure("avg_max_temp_c", func.avg(ys.avg_max_temp_c), units),
                measure("avg_min_temp_c", func.avg(ys.avg_min_temp_c), units),
                measure("avg_total_precipitation_cm", func.avg(ys.total_precipitation_cm), units),
            )
            .group_by(ys.year)
            .subquery()
        )
        items = items.add_columns(
            func.coalesce(means.c.stations, 0).label("stations"),
            *(column for column in means.c if column.name not in ("year", "stations")),
        ).outerjoin(means, means.c.year == cy.year)
    items = _where(items, _YIELD_FILTERS, shape).order_by(cy.year)
    return _Paged.of(items, (cy.year,))


class YieldRepository(ListRepository):
    """The yield per year; with ``weather``, beside the mean over stations of its stats."""

    KEY = ("year",)
    KEY_TYPES = (key_year,)
    FILTERS = _YIELD_FILTERS

    def __init__(self, reader: Reader, *, weather: bool = False, units: Units = "metric") -> None:
        super().__init__(reader)
        self.weather = weather
        self.units = units

    def statements(self, shape: Shape) -> _Paged:
        return _yield_statements(shape, self.weather, self.units)


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
