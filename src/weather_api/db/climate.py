"""Period summaries, degree days, normals and anomalies, aggregated in PostgreSQL.

``monthly_stats`` holds per station and month the sums (in stored tenths), the days each
stands on and the degree days with default parameters; the loader refreshes it with the
yearly stats. ``season_stats`` holds the same per station and default season, kept by a
trigger on ``monthly_stats``. A summary whose periods are whole months and whose
degree-day parameters are the defaults adds monthly rows (the default season: season
rows); any other one aggregates observations, in SQL.

Missing days of a variable in a period are its calendar days without a value for it, so
they are ``days - <variable>_days``: days with no row count as missing."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql

from weather_api.db.paging import PageRequest, key_date, key_str, key_year
from weather_api.db.queries import (
    _SIZE,
    _SKIP,
    _TOTAL,
    AnySelect,
    Filters,
    ListRepository,
    Reader,
    Rows,
    _page,
    _Paged,
)
from weather_api.db.units import Units, measure, served_name, served_names

Period = Literal["month", "year", "season", "all"]
# What a summary adds up: days, monthly rows, or the default season's rows.
Source = Literal["observations", "months", "seasons"]
GDD_BASE_C, GDD_CAP_C, EDD_THRESHOLD_C = 10.0, 30.0, 29.0
SEASON = ((4, 1), (9, 30))  # season_stats sums it (migration 0006)
_SEASON_DAYS = (dt.date(2001, *SEASON[1]) - dt.date(2001, *SEASON[0])).days + 1
NORMALS_MAX_MISSING = 5
NORMALS_MIN_SHARE = 0.8  # WMO: a normal needs 80% of its years


def default_degree_day_params() -> dict[str, Any]:
    return DegreeDays().params()


# Per day, in stored tenths and double precision (GDD of integer tenths are multiples of a
# half, exact in binary; EDD needs asin and cos): the larger of the two temperatures is
# the maximum (737 days of the data have min > max). Both formulas scale with the
# temperatures, so sums in tenths divide by 10 once.
_HI = "CAST(greatest(o.max_temp, o.min_temp) AS float8)"
_LO = "CAST(least(o.max_temp, o.min_temp) AS float8)"
_BOTH = "o.max_temp IS NOT NULL AND o.min_temp IS NOT NULL"
_BASE, _CAP, _B = (
    "CAST(:gdd_base_t AS float8)",
    "CAST(:gdd_cap_t AS float8)",
    "CAST(:edd_t AS float8)",
)
# Modified (86/50) growing degree days: each temperature clamped to [base, cap]. The sum
# of the two clamped values does not depend on which is the maximum, so GDD skips the swap.
_MAX, _MIN = "CAST(o.max_temp AS float8)", "CAST(o.min_temp AS float8)"
_GDD = (
    f"(least(greatest({_MAX}, {_BASE}), {_CAP}) + least(greatest({_MIN}, {_BASE}), {_CAP})) / 2"
    f" - {_BASE}"
)
# Single sine (Baskerville and Emin, 1969) above the threshold b, with M the mean and A
# the half range; between the two first cases hi > b > lo, so A > 0.
_M, _A = f"({_HI} + {_LO}) / 2", f"({_HI} - {_LO}) / 2"
_THETA = f"asin(({_B} - {_M}) / ({_A}))"
_EDD = (
    f"CASE WHEN {_HI} <= {_B} THEN 0 WHEN {_LO} >= {_B} THEN {_M} - {_B} "
    f"ELSE (({_M} - {_B}) * (pi() / 2 - {_THETA}) + {_A} * cos({_THETA})) / pi() END"
)
# The aggregates of a station's observations over some days, by name.
_AGGREGATES = (
    ("max_sum", "sum(o.max_temp)"),
    ("max_n", "count(o.max_temp)"),
    ("min_sum", "sum(o.min_temp)"),
    ("min_n", "count(o.min_temp)"),
    ("prcp_sum", "sum(o.precipitation)"),
    ("prcp_n", "count(o.precipitation)"),
    ("gdd", f"sum({_GDD}) FILTER (WHERE {_BOTH}) / 10"),
    ("edd", f"sum({_EDD}) FILTER (WHERE {_BOTH}) / 10"),
    ("dd_n", f"count(*) FILTER (WHERE {_BOTH})"),
)
_FROM_OBSERVATIONS = (
    ", ".join(f"{expr} AS {name}" for name, expr in _AGGREGATES) + " FROM observations AS o"
)
_FROM_MONTHS = (
    "sum(m.max_temp_sum) AS max_sum, sum(m.max_temp_days) AS max_n, "
    "sum(m.min_temp_sum) AS min_sum, sum(m.min_temp_days) AS min_n, "
    "sum(m.precipitation_sum) AS prcp_sum, sum(m.precipitation_days) AS prcp_n, "
    "sum(m.gdd) AS gdd, sum(m.edd) AS edd, sum(m.degree_days_days) AS dd_n "
    "FROM monthly_stats AS m"
)
_MONTHLY_COLUMNS = (
    "max_temp_sum",
    "max_temp_days",
    "min_temp_sum",
    "min_temp_days",
    "precipitation_sum",
    "precipitation_days",
    "gdd",
    "edd",
    "degree_days_days",
)  # in the order of _AGGREGATES
# Per station and month: the aggregates by name and the row count (the yearly stats'
# days). The month is truncated as a timestamp: a date passed to date_trunc becomes a
# timestamptz, whose time-zone arithmetic cost a third of this aggregate.
MONTHLY_AGGREGATE_SQL = (
    "SELECT o.station_id, CAST(date_trunc('month', CAST(o.date AS timestamp)) AS date) AS month, "
    + ", ".join(f"{expr} AS {name}" for name, expr in _AGGREGATES)
    + ", count(*) AS days FROM observations AS o {stations} GROUP BY 1, 2"
)
# Named columns: the INSERT follows the names, never the table's column order. Rows are
# written in key order, so that a read in key order (a summary of all stations) finds each
# station's months together on a few pages instead of one page per row.
MONTHLY_UPSERT_SQL = (
    f"INSERT INTO monthly_stats (station_id, month, {', '.join(_MONTHLY_COLUMNS)}) "
    "SELECT station_id, month, "
    + ", ".join(name for name, _ in _AGGREGATES)
    + " FROM months ORDER BY station_id, month ON CONFLICT (station_id, month) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _MONTHLY_COLUMNS)
)
MONTHLY_REFRESH_SQL = f"WITH months AS ({MONTHLY_AGGREGATE_SQL}) {MONTHLY_UPSERT_SQL}"


def monthly_refresh_params(station_ids: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """The where-clause of MONTHLY_AGGREGATE_SQL's ``{stations}`` and the parameters."""
    params: dict[str, Any] = default_degree_day_params()
    if station_ids is None:
        return "", params
    params["station_ids"] = list(station_ids)
    return "WHERE o.station_id = ANY(CAST(:station_ids AS text[]))", params


# -- parameters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DegreeDays:
    gdd_base_c: float = GDD_BASE_C
    gdd_cap_c: float = GDD_CAP_C
    edd_threshold_c: float = EDD_THRESHOLD_C

    @property
    def default(self) -> bool:
        return self == DegreeDays()

    def params(self) -> dict[str, float]:
        """In tenths, as the observations are stored."""
        return {
            "gdd_base_t": self.gdd_base_c * 10,
            "gdd_cap_t": self.gdd_cap_c * 10,
            "edd_t": self.edd_threshold_c * 10,
        }


@dataclass(frozen=True)
class Season:
    start: tuple[int, int] = SEASON[0]  # (month, day)
    end: tuple[int, int] = SEASON[1]

    @property
    def whole_months(self) -> bool:
        (_, start_day), (end_month, end_day) = self.start, self.end
        # February ends on the 28th or the 29th: never whole months for every year.
        month_end = calendar.monthrange(2001, end_month)[1]
        return start_day == 1 and end_month != 2 and end_day == month_end

    def params(self) -> dict[str, int]:
        return {
            "season_start_month": self.start[0],
            "season_start_day": self.start[1],
            "season_end_month": self.end[0],
            "season_end_day": self.end[1],
        }


_FIRST = "(SELECT coalesce(CAST(:start_date AS date), min(month)) FROM monthly_stats)"
_LAST = (
    "(SELECT coalesce(CAST(:end_date AS date), "
    "CAST(max(month) + interval '1 month - 1 day' AS date)) FROM monthly_stats)"
)
_S_START = "make_date(y, CAST(:season_start_month AS int), CAST(:season_start_day AS int))"
_S_END = "make_date(y, CAST(:season_end_month AS int), CAST(:season_end_day AS int))"
_PERIODS = {
    unit: (
        f"SELECT greatest(CAST(p AS date), b.lo) AS period_start, "
        f"least(CAST(p + interval '1 {unit} - 1 day' AS date), b.hi) AS period_end "
        f"FROM bounds AS b, generate_series(date_trunc('{unit}', CAST(b.lo AS timestamp)), "
        f"CAST(b.hi AS timestamp), interval '1 {unit}') AS p"
    )
    for unit in ("month", "year")
} | {
    "season": (
        f"SELECT greatest({_S_START}, b.lo) AS period_start, "
        f"least({_S_END}, b.hi) AS period_end "
        "FROM bounds AS b, generate_series(CAST(extract(year FROM b.lo) AS int), "
        "CAST(extract(year FROM b.hi) AS int)) AS y "
        f"WHERE {_S_START} <= b.hi AND {_S_END} >= b.lo"
    ),
    "all": "SELECT b.lo AS period_start, b.hi AS period_end FROM bounds AS b WHERE b.lo <= b.hi",
}


def _tenths(value: str) -> str:
    return f"CAST({value} AS float8) / 10"


def _figure(value: str, n: str, missing: str, max_missing: bool) -> str:
    """A figure, NULL when it stands on no day or (given ``max_missing``) its missing days
    exceed max_missing. A sum over no day is already NULL, and so is ``value``: without
    max_missing the figure is ``value`` itself, with no test per row."""
    if not max_missing:
        return value
    return f"CASE WHEN {n} > 0 AND {missing} <= CAST(:max_missing AS int) THEN {value} END"


# With whole months: each monthly row's period, as the periods CTE has it (clipped).
_MONTH_PERIOD = {
    "month": "m.month",
    "year": "greatest(CAST(date_trunc('year', m.month) AS date), b.lo)",
    "season": (
        "greatest(make_date(CAST(date_part('year', m.month) AS int), "
        "CAST(:season_start_month AS int), 1), b.lo)"
    ),
    "all": "b.lo",
}
_IN_SEASON = (
    "AND CAST(date_part('month', m.month) AS int) BETWEEN CAST(:season_start_month AS int) "
    "AND CAST(:season_end_month AS int)"
)


# The stations with observations, as /api/stations lists them: one summary row each, where
# a station list may name 130,000 the data has no day of. Their states by primary key: a
# join would let the planner scan the whole list.
_OBSERVED = (
    "(SELECT su.station_id, (SELECT st.state FROM stations AS st "
    "WHERE st.station_id = su.station_id) AS state FROM station_summaries AS su) AS s"
)


@cache
def _figures_sql(
    period: Period,
    summed: Source,
    stations: bool,
    max_missing: bool,
    *,
    ordered: bool = False,
    listed: bool = True,
) -> str:
    """Per station and period: the unrounded figures (°C, mm, °C·days) and day counts,
    ``ordered`` by station and period; every station and period when ``listed``, else
    only those with data (from monthly or season rows: the others' figures are NULL);
    ``max_missing``: whether :max_missing is given (see ``_figure``).

    From monthly rows, one pass groups them by period (an index range scan by station or
    by month); from season rows, one row per whole season; from observations, each
    station-period is an index range scan."""
    in_stations = "s.station_id = ANY(CAST(:station_id AS text[]))"
    where_station = f"WHERE {in_stations}" if stations else ""
    months = summed == "months"
    if months and period == "month":
        # A month is its own period: its row, by primary key. Ordered, the grid and the
        # table's key merge in one pass (a few stations: a lookup per month).
        source = (
            "SELECT m.station_id, m.month, m.max_temp_sum AS max_sum, "
            "m.max_temp_days AS max_n, m.min_temp_sum AS min_sum, m.min_temp_days AS min_n, "
            "m.precipitation_sum AS prcp_sum, m.precipitation_days AS prcp_n, m.gdd, m.edd, "
            "m.degree_days_days AS dd_n FROM monthly_stats AS m"
            + (f" WHERE {in_stations.replace('s.', 'm.')}" if stations else "")
        )
        join = (
            f"LEFT JOIN ({source}) AS a ON a.station_id = g.station_id AND a.month = g.period_start"
        )
    elif summed == "seasons":
        # A whole season is its season_stats row; one the range clips (the first or the
        # last) adds its monthly rows.
        length = "p.days"
        row = ", ".join(
            f"t.{c} AS {name}" for c, (name, _) in zip(_MONTHLY_COLUMNS, _AGGREGATES, strict=True)
        )
        source = (
            f"SELECT t.station_id, p.period_start, {row} FROM periods AS p "
            "JOIN season_stats AS t ON t.year = CAST(date_part('year', p.period_start) AS int) "
            f"WHERE {length} = {_SEASON_DAYS}"
            + (f" AND {in_stations.replace('s.', 't.')}" if stations else "")
            + f" UNION ALL SELECT m.station_id, p.period_start, {_FROM_MONTHS} "
            "JOIN periods AS p ON m.month BETWEEN p.period_start AND p.period_end "
            f"WHERE {length} < {_SEASON_DAYS}"
            + (f" AND {in_stations.replace('s.', 'm.')}" if stations else "")
            + " GROUP BY 1, 2"
        )
        join = (
            f"LEFT JOIN ({source}) AS a ON a.station_id = g.station_id "
            "AND a.period_start = g.period_start"
        )
    elif months:
        source = (
            f"SELECT m.station_id, {_MONTH_PERIOD[period]} AS period_start, {_FROM_MONTHS}, "
            "bounds AS b WHERE m.month BETWEEN b.lo AND b.hi "
            + (_IN_SEASON if period == "season" else "")
            + (f" AND {in_stations.replace('s.', 'm.')}" if stations else "")
            + " GROUP BY 1, 2"
        )
        join = (
            f"LEFT JOIN ({source}) AS a ON a.station_id = g.station_id "
            "AND a.period_start = g.period_start"
        )
    else:
        source = (
            f"SELECT {_FROM_OBSERVATIONS} WHERE o.station_id = g.station_id "
            "AND o.date BETWEEN g.period_start AND g.period_end"
        )
        join = f"CROSS JOIN LATERAL ({source}) AS a"
    n = {k: f"coalesce(a.{k}, 0)" for k in ("max_n", "min_n", "prcp_n", "dd_n")}

    def figure(value: str, count: str) -> str:
        return _figure(value, n[count], f"g.days - a.{count}", max_missing)

    max_c = figure(_tenths("a.max_sum") + " / a.max_n", "max_n")
    min_c = figure(_tenths("a.min_sum") + " / a.min_n", "min_n")
    prcp_mm = figure(_tenths("a.prcp_sum"), "prcp_n")
    # The grid sorted on its own, narrow: a join that keeps its order meets the ORDER BY
    # without sorting anything wide. The list's own ORDER BY, outside this WITH query, does
    # not see that order: hence this one.
    grid = (
        "(SELECT s.station_id, s.state, p.period_start, p.period_end, p.days "
        f"FROM {_OBSERVED} CROSS JOIN periods AS p {where_station} ORDER BY 1, 3) AS g {join}"
    )
    if not listed:
        # Stations with data are observed ones: a station list's 130,000 others would only
        # swell the join.
        grid = (
            f"({source}) AS a JOIN (SELECT s.station_id, s.state, p.period_start, "
            f"p.period_end, p.days FROM {_OBSERVED} CROSS JOIN periods AS p) AS g "
            "ON g.station_id = a.station_id AND g.period_start = a.period_start"
        )
    # The periods, with their lengths, computed once rather than per station.
    periods = (
        "periods AS MATERIALIZED (SELECT p.period_start, p.period_end, "
        f"p.period_end - p.period_start + 1 AS days FROM ({_PERIODS[period]}) AS p)"
    )
    return (
        f"WITH bounds AS (SELECT {_FIRST} AS lo, {_LAST} AS hi), {periods} "
        "SELECT g.station_id, g.state, g.period_start, g.period_end, g.days, "
        f"{n['max_n']} AS max_temp_days, {n['min_n']} AS min_temp_days, "
        f"{n['prcp_n']} AS precipitation_days, "
        f"{max_c} AS max_c, {min_c} AS min_c, {prcp_mm} AS prcp_mm, "
        f"{figure('a.gdd', 'dd_n')} AS gdd, {figure('a.edd', 'dd_n')} AS edd, "
        f"{n['dd_n']} AS degree_days_days FROM {grid}"
        + (" ORDER BY g.station_id, g.period_start" if ordered else "")
    )


def _r2(value: str) -> str:
    return f"round(CAST({value} AS float8) * 100) / 100"


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _served(name: str, value: str, units: Units, count: str | None = None) -> str:
    """The figure ``name`` (its metric name) from ``value``, its unrounded metric SQL, as
    served in ``units``: rounded to 2 decimals and labelled. Imperial converts in
    ``db.units``, in numeric; ``count``: the days a mean temperature stands on (see
    ``fahrenheit_mean``)."""
    if units == "metric":
        return f"{_r2(value)} AS {name}"
    n: ColumnElement[Any] | None = None if count is None else literal_column(count)
    converted = measure(name, literal_column(value), units, count=n)
    sql = converted.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
    return f"{sql} AS {served_name(name, units)}"


def _normals_sql(stations: bool) -> str:
    """Per station and calendar month: the mean over qualifying years of the month's
    figures, and how many years each stands on (NULL below 80% of the years)."""
    where_station = "AND m.station_id = ANY(CAST(:station_id AS text[]))" if stations else ""
    dim = "(CAST(m.month + interval '1 month' AS date) - m.month)"

    def ok(n: str) -> str:
        return f"{n} > 0 AND {dim} - {n} <= CAST(:normals_max_missing AS int)"

    def normal(value: str, n: str, name: str) -> str:
        return (
            f"CASE WHEN count(*) FILTER (WHERE {ok(n)}) >= {NORMALS_MIN_SHARE} * "
            f"(SELECT y1 - y0 + 1 FROM years) THEN avg({value}) FILTER (WHERE {ok(n)}) END "
            f"AS {name}, count(*) FILTER (WHERE {ok(n)}) AS {name}_years"
        )

    return (
        "SELECT m.station_id, CAST(extract(month FROM m.month) AS int) AS month, "
        + ", ".join(
            (
                normal("m.max_temp_sum / 10.0 / m.max_temp_days", "m.max_temp_days", "max_c"),
                normal("m.min_temp_sum / 10.0 / m.min_temp_days", "m.min_temp_days", "min_c"),
                normal("m.precipitation_sum / 10.0", "m.precipitation_days", "prcp_mm"),
            )
        )
        + " FROM monthly_stats AS m, years "
        "WHERE m.month >= make_date(years.y0, 1, 1) AND m.month < make_date(years.y1 + 1, 1, 1) "
        f"{where_station} GROUP BY 1, 2"
    )


_YEARS = (
    "years AS (SELECT coalesce(CAST(:start_year AS int), "
    "CAST(extract(year FROM min(month)) AS int)) AS y0, coalesce(CAST(:end_year AS int), "
    "CAST(extract(year FROM max(month)) AS int)) AS y1 FROM monthly_stats)"
)


@cache
def _summary_sql(
    period: Period, source: Source, stations: bool, max_missing: bool, anomalies: bool, units: Units
) -> str:
    columns = [
        "f.station_id",
        "f.period_start",
        "f.period_end",
        "f.days",
        "f.max_temp_days",
        "f.min_temp_days",
        "f.precipitation_days",
        _served("avg_max_temp_c", "f.max_c", units, count="f.max_temp_days"),
        _served("avg_min_temp_c", "f.min_c", units, count="f.min_temp_days"),
        _served("total_precipitation_mm", "f.prcp_mm", units),
        _served("gdd", "f.gdd", units),
        _served("edd", "f.edd", units),
        "f.degree_days_days",
    ]
    figures = _figures_sql(period, source, stations, max_missing, ordered=True)
    if not anomalies:
        return f"SELECT {', '.join(columns)} FROM ({figures}) AS f"
    columns += [
        _served("avg_max_temp_anomaly_c", "f.max_c - n.max_c", units),
        _served("avg_min_temp_anomaly_c", "f.min_c - n.min_c", units),
        _served("total_precipitation_anomaly_mm", "f.prcp_mm - n.prcp_mm", units),
    ]
    # The normals of the whole data (start_year and end_year are bound NULL).
    return (
        f"WITH {_YEARS}, normals AS ({_normals_sql(stations)}) "
        f"SELECT {', '.join(columns)} FROM ({figures}) AS f "
        "LEFT JOIN normals AS n ON n.station_id = f.station_id "
        "AND n.month = extract(month FROM f.period_start)"
    )


def _text_select(sql: str, names: Sequence[str], key: Sequence[str]) -> tuple[AnySelect, Any]:
    textual = text(sql).columns(*(column(name) for name in names)).subquery("q")
    ordered = select(*textual.c).order_by(*(textual.c[k] for k in key))
    return ordered, textual


def _paged(sql: str, names: Sequence[str], key: Sequence[str]) -> _Paged:
    items, q = _text_select(sql, names, key)
    after: ColumnElement[Any] = tuple_(*(bindparam(f"after_{i}") for i in range(len(key))))
    return _Paged(
        items,
        items.add_columns(func.count().over().label(_TOTAL)).offset(_SKIP).limit(_SIZE),
        items.offset(_SKIP).limit(_SIZE),
        items.where(tuple_(*(q.c[k] for k in key)) > after).limit(_SIZE),
        select(func.count()).select_from(q),
    )


SUMMARY_COLUMNS = (
    "station_id",
    "period_start",
    "period_end",
    "days",
    "max_temp_days",
    "min_temp_days",
    "precipitation_days",
    "avg_max_temp_c",
    "avg_min_temp_c",
    "total_precipitation_mm",
    "gdd",
    "edd",
    "degree_days_days",
)
ANOMALY_COLUMNS = (
    "avg_max_temp_anomaly_c",
    "avg_min_temp_anomaly_c",
    "total_precipitation_anomaly_mm",
)


@cache
def _summary_paged(
    period: Period, source: Source, stations: bool, max_missing: bool, anomalies: bool, units: Units
) -> _Paged:
    names = served_names(SUMMARY_COLUMNS + (ANOMALY_COLUMNS if anomalies else ()), units)
    sql = _summary_sql(period, source, stations, max_missing, anomalies, units)
    return _paged(sql, names, ("station_id", "period_start"))


def _month_start(day: dt.date | None) -> bool:
    return day is None or day.day == 1


def _month_end(day: dt.date | None) -> bool:
    return day is None or day.day == calendar.monthrange(day.year, day.month)[1]


def _source(
    period: Period,
    degree_days: DegreeDays,
    season: Season,
    start_date: dt.date | None,
    end_date: dt.date | None,
) -> Source:
    """Monthly rows answer periods of whole months with default degree days; season rows,
    the default season."""
    months = (
        degree_days.default
        and _month_start(start_date)
        and _month_end(end_date)
        and (period != "season" or season.whole_months)
    )
    if not months:
        return "observations"
    return "seasons" if period == "season" and season == Season() else "months"


class _ParamRepository(ListRepository):
    """A list whose statement depends on more than which filters are given: ``filters``
    holds every parameter, ``_statement`` picks the statement and binds them; ``units``
    shapes the figures (see ``db.units``)."""

    def __init__(self, reader: Reader, *, units: Units = "metric") -> None:
        super().__init__(reader)
        self.units = units

    def _statement(self, filters: Filters) -> tuple[_Paged, dict[str, Any]]:
        raise NotImplementedError

    def select_items(self, filters: Filters) -> AnySelect:
        paged, params = self._statement(filters)
        return paged.items.params(params)

    async def page(
        self, filters: Filters, paging: PageRequest, data_version: Hashable = None
    ) -> tuple[Rows, int]:
        paged, params = self._statement(filters)
        return await _page(self.reader, paged, params, paging, data_version)


class SummaryRepository(_ParamRepository):
    """Per station and period (month, year, season or all): figures with their day counts."""

    KEY = ("station_id", "period_start")
    KEY_TYPES = (key_str, key_date)
    FILTERS: Mapping[str, ColumnElement[bool]] = {}

    def _statement(self, filters: Filters) -> tuple[_Paged, dict[str, Any]]:
        f = filters
        period: Period = f["period"]
        degree_days: DegreeDays = f["degree_days"]
        season: Season = f["season"]
        source = _source(period, degree_days, season, f["start_date"], f["end_date"])
        stations = bool(f["station_id"])
        max_missing = f["max_missing"] is not None
        paged = _summary_paged(
            period, source, stations, max_missing, bool(f["anomalies"]), self.units
        )
        params = {
            "start_date": f["start_date"],
            "end_date": f["end_date"],
            "max_missing": f["max_missing"],
            "station_id": list(f["station_id"]),
            "start_year": None,
            "end_year": None,
            "normals_max_missing": NORMALS_MAX_MISSING,
            **degree_days.params(),
            **season.params(),
        }
        return paged, params


NORMALS_COLUMNS = (
    "station_id",
    "month",
    "avg_max_temp_c",
    "avg_min_temp_c",
    "total_precipitation_mm",
    "max_temp_years",
    "min_temp_years",
    "precipitation_years",
)


@cache
def _normals_paged(stations: bool, units: Units) -> _Paged:
    where_station = "WHERE s.station_id = ANY(CAST(:station_id AS text[]))" if stations else ""
    sql = (
        f"WITH {_YEARS}, normals AS ({_normals_sql(stations)}) "
        f"SELECT s.station_id, c.month, {_served('avg_max_temp_c', 'n.max_c', units)}, "
        f"{_served('avg_min_temp_c', 'n.min_c', units)}, "
        f"{_served('total_precipitation_mm', 'n.prcp_mm', units)}, "
        "coalesce(n.max_c_years, 0) AS max_temp_years, "
        "coalesce(n.min_c_years, 0) AS min_temp_years, "
        "coalesce(n.prcp_mm_years, 0) AS precipitation_years "
        f"FROM {_OBSERVED} CROSS JOIN generate_series(1, 12) AS c(month) "
        "LEFT JOIN normals AS n ON n.station_id = s.station_id AND n.month = c.month "
        f"{where_station}"
    )
    return _paged(sql, served_names(NORMALS_COLUMNS, units), ("station_id", "month"))


class NormalsRepository(_ParamRepository):
    KEY = ("station_id", "month")
    KEY_TYPES = (key_str, key_year)
    FILTERS: Mapping[str, ColumnElement[bool]] = {}

    def _statement(self, filters: Filters) -> tuple[_Paged, dict[str, Any]]:
        f = filters
        return _normals_paged(bool(f["station_id"]), self.units), {
            "station_id": list(f["station_id"]),
            "start_year": f["start_year"],
            "end_year": f["end_year"],
            "normals_max_missing": f["max_missing"],
        }


SEASON_YIELD_COLUMNS = (
    "year",
    "corn_grain_yield_kt",
    "gdd",
    "gdd_stations",
    "edd",
    "edd_stations",
    "total_precipitation_mm",
    "precipitation_stations",
    "avg_max_temp_c",
    "max_temp_stations",
    "avg_min_temp_c",
    "min_temp_stations",
)


@cache
def _season_yield_paged(source: Source, states: bool, max_missing: bool, units: Units) -> _Paged:
    # A station-season without data adds nothing to a mean.
    figures = _figures_sql("season", source, False, max_missing, listed=source == "observations")
    state = "AND f.state = ANY(CAST(:state AS text[]))" if states else ""

    def mean(value: str, name: str, count: str) -> str:
        return f"{_served(name, f'avg(f.{value})', units)}, count(f.{value}) AS {count}"

    means = ", ".join(
        (
            mean("gdd", "gdd", "gdd_stations"),
            mean("edd", "edd", "edd_stations"),
            mean("prcp_mm", "total_precipitation_mm", "precipitation_stations"),
            mean("max_c", "avg_max_temp_c", "max_temp_stations"),
            mean("min_c", "avg_min_temp_c", "min_temp_stations"),
        )
    )
    sql = (
        f"SELECT y.year, y.corn_grain_yield_kt, {means} FROM corn_yields AS y "
        f"LEFT JOIN ({figures}) AS f "
        f"ON CAST(date_part('year', f.period_start) AS int) = y.year {state} "
        "WHERE (CAST(:start_year AS int) IS NULL OR y.year >= CAST(:start_year AS int)) "
        "AND (CAST(:end_year AS int) IS NULL OR y.year <= CAST(:end_year AS int)) "
        "GROUP BY y.year ORDER BY y.year"
    )
    return _paged(sql, served_names(SEASON_YIELD_COLUMNS, units), ("year",))


class SeasonYieldRepository(_ParamRepository):
    """Each year's corn yield beside the mean over stations of that year's season figures,
    each counting only the stations whose season has at most ``max_missing`` missing days
    for it."""

    KEY = ("year",)
    KEY_TYPES = (key_year,)
    FILTERS: Mapping[str, ColumnElement[bool]] = {}

    def _statement(self, filters: Filters) -> tuple[_Paged, dict[str, Any]]:
        f = filters
        degree_days: DegreeDays = f["degree_days"]
        season: Season = f["season"]
        source = _source("season", degree_days, season, None, None)
        max_missing = f["max_missing"] is not None
        paged = _season_yield_paged(source, bool(f["state"]), max_missing, self.units)
        params = {
            "start_year": f["start_year"],
            "end_year": f["end_year"],
            "start_date": None,
            "end_date": None,
            "max_missing": f["max_missing"],
            "state": [str(s) for s in f["state"]],
            **degree_days.params(),
            **season.params(),
        }
        return paged, params
