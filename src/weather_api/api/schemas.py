"""Request and response models: they validate input and write the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from weather_api.api import examples
from weather_api.api.errors import ApiError
from weather_api.db.climate import (
    EDD_THRESHOLD_C,
    GDD_BASE_C,
    GDD_CAP_C,
    NORMALS_MAX_MISSING,
    DegreeDays,
    Season,
)
from weather_api.db.models import JobStatus, State
from weather_api.db.units import UNITS, Units
from weather_api.ingest.parsing import STATION_ID_RE
from weather_api.settings import DEFAULT_DATA_SOURCE

Format = Literal["json", "csv"]


def _station_id(value: str) -> str:
    if not STATION_ID_RE.fullmatch(value):
        raise ValueError(
            f"{value[:40]!r} is not a station id: expected 2 capital letters then 9 capital "
            "letters or digits, e.g. USC00110072"
        )
    return value


# The pattern documents in OpenAPI what _station_id checks (with a friendlier message), so
# that clients and schema-based fuzzers know a valid id when they see one.
StationId = Annotated[
    str,
    AfterValidator(_station_id),
    Field(json_schema_extra={"pattern": f"^{STATION_ID_RE.pattern}$"}),
]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    # Left to itself pydantic also reads "0" or "1700000000" as Unix time.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


# A date in a query: YYYY-MM-DD only, as documented.
QueryDate = Annotated[dt.date, BeforeValidator(_iso_date)]
T = TypeVar("T")


def _reject(pairs: list[tuple[str, str]]) -> ApiError:
    detail = "; ".join(f"{param}: {message}" for param, message in pairs)
    return ApiError(
        422,
        f"invalid request: {detail}",
        errors=[{"param": p, "message": m} for p, m in pairs],
    )


def _cursor(example: str) -> Any:
    return Field(
        None,
        max_length=200,
        description="Opaque position from a `next` link; replaces `page` for fast deep paging.",
        examples=[example],
    )


class PagingQuery(BaseModel):
    """Paging, shared by every list."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1, le=10_000_000, description="1-based page number.", examples=[1])
    page_size: int = Field(
        100, ge=1, le=1000, description="Items per page, 1 to 1000.", examples=[100]
    )
    # Each list has its own cursors: the example is one its `next` links carry.
    cursor: str | None = _cursor("WzIsIFsyXV0")  # after job 2, with page_size=1


class PageQuery(PagingQuery):
    """Paging and output format, shared by the data lists; every other field of a list's
    query is a filter, handed to its repository by name (``filters``)."""

    # Fields that are not filters: paging, the format, and shortcuts such as ``date``
    # that the validators turn into the filters they stand for.
    # ``units`` shapes the measurements, it selects no rows.
    _NOT_FILTERS: ClassVar[frozenset[str]] = frozenset(
        {"page", "page_size", "cursor", "format", "units"}
    )

    format: Format | None = Field(
        None,
        description="`csv` streams the whole filtered result as CSV (also chosen by "
        "`Accept: text/csv`); default JSON, one page.",
        examples=["json"],
    )
    units: Units = Field(
        "metric",
        description="`metric` (°C, mm, cm, m) or `imperial` (°F, inches, feet); each "
        "measurement's name ends with its unit, e.g. `max_temp_c` or `max_temp_f`.",
        examples=["imperial"],
    )

    @property
    def filters(self) -> dict[str, Any]:
        skip = self._NOT_FILTERS
        return {name: getattr(self, name) for name in type(self).model_fields if name not in skip}


class WeatherQuery(PageQuery):
    # The cursor of the next link of GET /api/weather.
    cursor: str | None = _cursor("WzIsIFsiVVNDMDAxMTAwNzIiLCAiMTk4NS0wNC0xMCJdXQ")

    _NOT_FILTERS = PageQuery._NOT_FILTERS | {"date"}

    station_id: list[StationId] = Field(
        default_factory=list,
        max_length=200,
        description="Station id; repeat the parameter for several stations.",
        examples=[["USC00110072"]],
    )
    date: QueryDate | None = Field(
        None, description="One day, YYYY-MM-DD.", examples=["1990-07-04"]
    )
    start_date: QueryDate | None = Field(
        None, description="First day, inclusive, YYYY-MM-DD.", examples=["1990-01-01"]
    )
    end_date: QueryDate | None = Field(
        None, description="Last day, inclusive, YYYY-MM-DD.", examples=["1990-12-31"]
    )

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        ranged = [p for p in ("start_date", "end_date") if getattr(self, p)]
        if self.date and ranged:
            message = "use date alone, or start_date/end_date"
            raise _reject([(p, message) for p in ["date", *ranged]])
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise _reject([("start_date", "must not be after end_date")])
        if self.date:
            self.start_date = self.end_date = self.date
        return self


class StatsQuery(PageQuery):
    # The cursor of the next link of GET /api/weather/stats.
    cursor: str | None = _cursor("WzIsIFsiVVNDMDAxMTEyODAiLCAxOTk1XV0")

    _NOT_FILTERS = PageQuery._NOT_FILTERS | {"year", "date"}

    station_id: list[StationId] = Field(
        default_factory=list,
        max_length=200,
        description="Station id; repeat the parameter for several stations.",
        examples=[["USC00110072"]],
    )
    year: int | None = Field(None, ge=1800, le=2200, description="One year.", examples=[1990])
    start_year: int | None = Field(
        None, ge=1800, le=2200, description="First year, inclusive.", examples=[1985]
    )
    end_year: int | None = Field(
        None, ge=1800, le=2200, description="Last year, inclusive.", examples=[2014]
    )
    date: QueryDate | None = Field(
        None,
        description="Any day, YYYY-MM-DD: selects the year containing it.",
        examples=["1990-07-04"],
    )

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        _check_years(self.year, self.start_year, self.end_year, self.date)
        if year := self.year or (self.date.year if self.date else None):
            self.start_year = self.end_year = year
        return self


def _check_years(
    year: int | None, start: int | None, end: int | None, date: dt.date | None = None
) -> None:
    single = [name for name, value in (("year", year), ("date", date)) if value]
    ranged = [name for name, value in (("start_year", start), ("end_year", end)) if value]
    if len(single) > 1 or (single and ranged):
        message = "use one of year, date, or start_year/end_year"
        raise _reject([(p, message) for p in single + ranged])
    if start and end and start > end:
        raise _reject([("start_year", "must not be after end_year")])


_NUMBER = r"-?\d{1,3}(?:\.\d+)?"
_PAIR = re.compile(f"({_NUMBER}),({_NUMBER})")
_BOX = re.compile(f"({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})")


def _check_point(lat: float, lon: float) -> None:
    if not -90 <= lat <= 90:
        raise ValueError(f"latitude {lat:g} is outside [-90, 90]")
    if not -180 <= lon <= 180:
        raise ValueError(f"longitude {lon:g} is outside [-180, 180]")


class StationsQuery(PageQuery):
    # The cursor of the next link of GET /api/stations.
    cursor: str | None = _cursor("WzIsIFsiVVNDMDAyNTA0MzUiXV0")

    # near shapes the rows (a distance column, nearest first) rather than selecting them.
    _NOT_FILTERS = PageQuery._NOT_FILTERS | {"near"}

    format: Literal["json", "csv", "geojson"] | None = Field(  # type: ignore[assignment]
        None,
        description="`csv` streams the whole filtered result as CSV (also chosen by "
        "`Accept: text/csv`), `geojson` as an RFC 7946 FeatureCollection (also chosen by "
        "`Accept: application/geo+json`); default JSON, one page.",
        examples=["geojson"],
    )
    state: list[State] = Field(
        default_factory=list,
        description="US state code; repeat for several.",
        examples=[["IA"]],
    )
    near: str | None = Field(
        None,
        description="`LAT,LON` in decimal degrees: adds `distance_km` (great-circle, on a "
        "sphere of 6,371.0088 km, to 0.1 km) and orders by it, then by station id.",
        examples=["41.88,-87.63"],
        json_schema_extra={"pattern": f"^{_PAIR.pattern}$"},
    )
    radius_km: float | None = Field(
        None,
        gt=0,
        le=40_075,
        allow_inf_nan=False,
        description="With `near`: only stations within this distance, km.",
        examples=[100],
        json_schema_extra={"x-with": "near=41.88,-87.63"},  # the example needs a near
    )
    bbox: str | None = Field(
        None,
        description="`MIN_LON,MIN_LAT,MAX_LON,MAX_LAT` (RFC 7946's order): only stations "
        "inside the box, edges included.",
        examples=["-91,40,-87,42.5"],
        json_schema_extra={"pattern": f"^{_BOX.pattern}$"},
    )

    @field_validator("near")
    @classmethod
    def _check_near(cls, value: str | None) -> str | None:
        if value is not None:
            if not (match := _PAIR.fullmatch(value)):
                raise ValueError("expected LAT,LON in decimal degrees, e.g. 41.88,-87.63")
            _check_point(float(match[1]), float(match[2]))
        return value

    @field_validator("bbox")
    @classmethod
    def _check_bbox(cls, value: str | None) -> str | None:
        if value is not None:
            if not (match := _BOX.fullmatch(value)):
                raise ValueError(
                    "expected MIN_LON,MIN_LAT,MAX_LON,MAX_LAT in decimal degrees, "
                    "e.g. -91,40,-87,42.5"
                )
            min_lon, min_lat, max_lon, max_lat = map(float, match.groups())
            _check_point(min_lat, min_lon)
            _check_point(max_lat, max_lon)
            if min_lon > max_lon:
                raise ValueError("the minimum longitude is greater than the maximum")
            if min_lat > max_lat:
                raise ValueError("the minimum latitude is greater than the maximum")
        return value

    @model_validator(mode="after")
    def _check_radius(self) -> Self:
        if self.radius_km is not None and self.near is None:
            raise _reject([("radius_km", "needs near (LAT,LON) to measure from")])
        return self

    @property
    def point(self) -> tuple[float, float] | None:
        """``near`` as (latitude, longitude)."""
        if self.near is None:
            return None
        lat, lon = map(float, self.near.split(","))
        return lat, lon

    @property
    def filters(self) -> dict[str, Any]:
        return super().filters | {
            "bbox": [float(v) for v in self.bbox.split(",")] if self.bbox else None
        }


_MM_DD = re.compile(r"(\d{2})-(\d{2})")


def _month_day(value: str) -> tuple[int, int]:
    """MM-DD as (month, day); a day of every year, so not 02-29."""
    match = _MM_DD.fullmatch(value)
    try:
        if match is None:
            raise ValueError
        month, day = int(match[1]), int(match[2])
        dt.date(2001, month, day)  # 2001: not a leap year
    except ValueError:
        message = f"{value[:20]!r} is not a day of every year as MM-DD, e.g. 04-01"
        raise ValueError(message) from None
    return month, day


MonthDay = Annotated[str, AfterValidator(lambda v: _month_day(v) and v)]
_SEASON_FIELDS = ("season_start", "season_end")
_DEGREE_DAY_FIELDS = ("gdd_base_c", "gdd_cap_c", "edd_threshold_c")


class SeasonParams(BaseModel):
    """The growing season and the degree-day parameters, shared by summaries and yield."""

    season_start: MonthDay = Field(
        "04-01", description="First day of the season in each year, MM-DD.", examples=["04-01"]
    )
    season_end: MonthDay = Field(
        "09-30", description="Last day of the season in each year, MM-DD.", examples=["09-30"]
    )
    gdd_base_c: float = Field(
        GDD_BASE_C,
        ge=-50,
        le=50,
        description="Growing degree days: base, °C (each temperature is clamped to it), "
        "°C also with `units=imperial` (the default, 10 °C, is 50 °F).",
        examples=[10.0],
    )
    gdd_cap_c: float = Field(
        GDD_CAP_C,
        ge=-50,
        le=60,
        description="Growing degree days: cap, °C, above the base; °C also with "
        "`units=imperial` (the default, 30 °C, is 86 °F).",
        examples=[30.0],
    )
    edd_threshold_c: float = Field(
        EDD_THRESHOLD_C,
        ge=-50,
        le=60,
        description="Extreme degree days: threshold, °C; °C also with `units=imperial` "
        "(the default, 29 °C, is 84.2 °F).",
        examples=[29.0],
    )

    def _check_season(self) -> None:
        if _month_day(self.season_end) < _month_day(self.season_start):
            raise _reject([("season_end", "must not be before season_start")])
        if self.gdd_cap_c <= self.gdd_base_c:
            raise _reject([("gdd_cap_c", "must be above gdd_base_c")])

    @property
    def season(self) -> Season:
        return Season(_month_day(self.season_start), _month_day(self.season_end))

    @property
    def degree_days(self) -> DegreeDays:
        return DegreeDays(self.gdd_base_c, self.gdd_cap_c, self.edd_threshold_c)


_DEFINITIONS = """
Definitions:

- A day's values are the stored ones; missing values (-9999 in the files) and days with no
  row at all are both missing.
- **Missing days** of a variable in a period: the calendar days of the period (clipped to the
  requested dates) on which that variable has no value.
- **Growing degree days** (`gdd`, the modified or 86/50 method): clamp the day's maximum and
  minimum temperature each to [`gdd_base_c`, `gdd_cap_c`], then GDD = (clamped max + clamped
  min) / 2 - `gdd_base_c`; summed over the days that have both temperatures.
- **Extreme degree days** (`edd`) above `edd_threshold_c`, single-sine method (Baskerville and
  Emin, 1969): with M = (max + min) / 2, A = (max - min) / 2 and b the threshold: 0 if
  max <= b; M - b if min >= b; otherwise ((M - b)(π/2 - θ) + A cos θ) / π with
  θ = asin((b - M) / A); summed over the days that have both temperatures.
- On days whose minimum exceeds the maximum (737 in the data), both take the larger value as
  the day's maximum.
- A figure is `null` when its variable's missing days in the period exceed `max_missing`, or
  when it stands on no day. Degree days count a day as missing when either temperature is.
"""


class SummaryQuery(PageQuery, SeasonParams):
    # The cursor of the next link of GET /api/weather/summary.
    cursor: str | None = _cursor("WzIsIFsiVVNDMDAxMTAwNzIiLCAiMTk5My0wNC0wMSJdXQ")

    station_id: list[StationId] = Field(
        default_factory=list,
        max_length=200,
        description="Station id; repeat the parameter for several; none: all stations.",
        examples=[["USC00110072"]],
    )
    start_date: QueryDate | None = Field(
        None,
        description="First day, inclusive, YYYY-MM-DD; default the first month of the data.",
        examples=["1985-01-01"],
    )
    end_date: QueryDate | None = Field(
        None,
        description="Last day, inclusive, YYYY-MM-DD; default the last month of the data.",
        examples=["2014-12-31"],
    )
    period: Literal["month", "year", "season", "all"] = Field(
        "month",
        description="`month`, `year`, `season` (season_start to season_end in each year) or "
        "`all` (the whole range).",
        examples=["month"],
    )
    max_missing: int | None = Field(
        None,
        ge=0,
        le=366,
        description="Blank a figure whose variable misses more days than this in the period; "
        "default no limit.",
        examples=[5],
    )
    anomalies: bool = Field(
        False,
        description="With period=month: each figure's departure from the station's normal "
        "for that month over the whole data (see /api/weather/normals, max_missing 5).",
        examples=[False],
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise _reject([("start_date", "must not be after end_date")])
        self._check_season()
        if self.anomalies and self.period != "month":
            raise _reject([("anomalies", "only with period=month")])
        return self

    @property
    def filters(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "period": self.period,
            "max_missing": self.max_missing,
            "anomalies": self.anomalies,
            "season": self.season,
            "degree_days": self.degree_days,
        }


class NormalsQuery(PageQuery):
    # The cursor of the next link of GET /api/weather/normals.
    cursor: str | None = _cursor("WzIsIFsiVVNDMDAxMTI0ODMiLCA0XV0")

    station_id: list[StationId] = Field(
        default_factory=list,
        max_length=200,
        description="Station id; repeat the parameter for several; none: all stations.",
        examples=[["USC00110072"]],
    )
    start_year: int | None = Field(
        None,
        ge=1800,
        le=2200,
        description="First year, inclusive; default the data's first.",
        examples=[1985],
    )
    end_year: int | None = Field(
        None,
        ge=1800,
        le=2200,
        description="Last year, inclusive; default the data's last.",
        examples=[2014],
    )
    max_missing: int = Field(
        NORMALS_MAX_MISSING,
        ge=0,
        le=31,
        description="A year's month counts for a figure when it misses at most this many days "
        "of that variable.",
        examples=[5],
    )

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        _check_years(None, self.start_year, self.end_year)
        return self


class StationQuery(BaseModel):
    """The representation of one station."""

    model_config = ConfigDict(extra="forbid")

    units: Units = Field(
        UNITS[0],
        description="`metric` (elevation in m) or `imperial` (elevation in ft).",
        examples=["imperial"],
    )
    format: Literal["json", "geojson"] | None = Field(
        None,
        description="`geojson`: a GeoJSON Feature (also `Accept: application/geo+json`).",
        examples=["geojson"],
    )


class YieldQuery(PageQuery, SeasonParams):
    # The cursor of the next link of GET /api/yield?page_size=10.
    cursor: str | None = _cursor("WzIsIFsxOTk0XV0")

    _SEASON_ONLY: ClassVar[frozenset[str]] = frozenset(
        {*_SEASON_FIELDS, *_DEGREE_DAY_FIELDS, "max_missing", "state"}
    )
    _NOT_FILTERS = PageQuery._NOT_FILTERS | {"year", "include"} | _SEASON_ONLY

    year: int | None = Field(None, ge=1800, le=2200, description="One year.", examples=[1990])
    start_year: int | None = Field(
        None, ge=1800, le=2200, description="First year, inclusive.", examples=[1985]
    )
    end_year: int | None = Field(
        None, ge=1800, le=2200, description="Last year, inclusive.", examples=[2014]
    )
    include: Literal["weather", "season"] | None = Field(
        None,
        description="`weather` adds, per year, the mean over stations of the yearly stats; "
        "`season` the mean over stations of the growing season's figures (see "
        "/api/weather/summary), with the season and degree-day parameters below.",
        examples=["weather"],
    )
    max_missing: int = Field(
        10,
        ge=0,
        le=366,
        description="With include=season: a station counts for a figure when its season "
        "misses at most this many days of that variable.",
        examples=[10],
    )
    state: list[State] = Field(
        default_factory=list,
        description="With include=season: average only these states' stations; repeatable.",
        examples=[["IA"]],
        json_schema_extra={"x-with": "include=season"},  # the example needs the season
    )

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        _check_years(self.year, self.start_year, self.end_year)
        if self.year:
            self.start_year = self.end_year = self.year
        # A default value is no request for a season (generated clients send every default).
        fields = type(self).model_fields
        given = sorted(
            name
            for name in self._SEASON_ONLY & self.model_fields_set
            if getattr(self, name) != fields[name].get_default(call_default_factory=True)
        )
        if self.include != "season" and given:
            raise _reject([(p, "only with include=season") for p in given])
        self._check_season()
        return self

    @property
    def filters(self) -> dict[str, Any]:
        if self.include != "season":
            return super().filters
        return {
            "start_year": self.start_year,
            "end_year": self.end_year,
            "max_missing": self.max_missing,
            "state": self.state,
            "season": self.season,
            "degree_days": self.degree_days,
        }


class Links(BaseModel):
    self: str = Field(description="This page.")
    first: str = Field(description="The first page.")
    prev: str | None = Field(description="Null on the first page.")
    next: str | None = Field(
        description="Null on the last page; carries a keyset cursor.",
    )
    last: str | None = Field(description="Null when the result is empty.")


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int = Field(description="Items matching the filters.")
    pages: int
    links: Links


class WeatherItem(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.WEATHER_ITEM)

    station_id: str
    date: dt.date
    max_temp_c: float | None = Field(description="Maximum temperature, °C.")
    min_temp_c: float | None = Field(description="Minimum temperature, °C.")
    precipitation_mm: float | None = Field(description="Precipitation, mm.")


class ImperialWeatherItem(BaseModel):
    """A day with `units=imperial`."""

    station_id: str
    date: dt.date
    max_temp_f: float | None = Field(description="Maximum temperature, °F, 0.1.")
    min_temp_f: float | None = Field(description="Minimum temperature, °F, 0.1.")
    precipitation_in: float | None = Field(description="Precipitation, inches, 0.01.")


class StatsItem(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.STATS_ITEM)

    station_id: str
    year: int
    avg_max_temp_c: float | None = Field(
        description="Mean of the daily maximum temperatures, °C, 2 decimals."
    )
    avg_min_temp_c: float | None = Field(
        description="Mean of the daily minimum temperatures, °C, 2 decimals."
    )
    total_precipitation_cm: float | None = Field(
        description="Sum of daily precipitation, cm, 2 decimals."
    )
    max_temp_days: int = Field(description="Days with a maximum temperature.")
    min_temp_days: int = Field(description="Days with a minimum temperature.")
    precipitation_days: int = Field(description="Days with a precipitation value.")


class ImperialStatsItem(BaseModel):
    """A station-year with `units=imperial`."""

    station_id: str
    year: int
    avg_max_temp_f: float | None = Field(
        description="Mean of the daily maximum temperatures, °F, 2 decimals."
    )
    avg_min_temp_f: float | None = Field(
        description="Mean of the daily minimum temperatures, °F, 2 decimals."
    )
    total_precipitation_in: float | None = Field(
        description="Sum of daily precipitation, inches, 2 decimals."
    )
    max_temp_days: int = Field(description="Days with a maximum temperature.")
    min_temp_days: int = Field(description="Days with a minimum temperature.")
    precipitation_days: int = Field(description="Days with a precipitation value.")


class _StationFields(BaseModel):
    station_id: str
    name: str | None = Field(description="NOAA's station name.")
    state: str | None = Field(description="US state from the COOP state code.")
    latitude: float | None = Field(description="Decimal degrees, WGS 84.")
    longitude: float | None = Field(description="Decimal degrees, WGS 84.")
    gsn: bool | None = Field(description="In the GCOS Surface Network.")
    hcn_crn: Literal["HCN", "CRN"] | None = Field(
        description="US Historical Climatology Network or Climate Reference Network station.",
    )
    wmo_id: str | None = Field(description="World Meteorological Organization id.")
    first_date: dt.date | None
    last_date: dt.date | None
    days: int = Field(description="Days with an observation row.")
    max_temp_share: float | None = Field(
        description="Share of days with a maximum temperature, 0 to 1."
    )
    min_temp_share: float | None = Field(
        description="Share of days with a minimum temperature, 0 to 1."
    )
    precipitation_share: float | None = Field(
        description="Share of days with a precipitation value, 0 to 1."
    )
    distance_km: float | None = Field(
        None,
        description="With `near`: great-circle distance from it, km, 0.1.",
    )


class StationItem(_StationFields):
    """Metadata (from NOAA's ghcnd-stations.txt; `null` where unknown) and completeness."""

    model_config = ConfigDict(json_schema_extra=examples.STATION_ITEM)

    elevation_m: float | None = Field(description="Elevation, metres.")


class ImperialStationItem(_StationFields):
    """A station with `units=imperial`."""

    elevation_ft: float | None = Field(description="Elevation, feet, 0.1.")


class ImperialYieldWeather(BaseModel):
    """The year's station means with `units=imperial`."""

    stations: int = Field(description="Stations with yearly stats that year.")
    avg_max_temp_f: float | None = Field(description="Mean over stations of avg_max_temp_f.")
    avg_min_temp_f: float | None = Field(description="Mean over stations of avg_min_temp_f.")
    avg_total_precipitation_in: float | None = Field(
        description="Mean over stations of total_precipitation_in."
    )


class YieldWeather(BaseModel):
    stations: int = Field(description="Stations with yearly stats that year.")
    avg_max_temp_c: float | None = Field(description="Mean over stations of avg_max_temp_c.")
    avg_min_temp_c: float | None = Field(description="Mean over stations of avg_min_temp_c.")
    avg_total_precipitation_cm: float | None = Field(
        description="Mean over stations of total_precipitation_cm."
    )


class YieldItem(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples.YIELD_ITEM)

    year: int
    corn_grain_yield_kt: int = Field(description="US corn grain yield, thousand metric tons.")
    weather: YieldWeather | ImperialYieldWeather | None = Field(
        None, description="Present with include=weather: the year's station means."
    )
    season: SeasonWeather | ImperialSeasonWeather | None = Field(
        None, description="Present with include=season: the season's station means."
    )


class SummaryItem(BaseModel):
    station_id: str
    period_start: dt.date = Field(description="First day of the period, clipped to start_date.")
    period_end: dt.date = Field(description="Last day of the period, clipped to end_date.")
    days: int = Field(description="Calendar days of the period.")
    max_temp_days: int = Field(description="Days with a maximum temperature.")
    min_temp_days: int = Field(description="Days with a minimum temperature.")
    precipitation_days: int = Field(description="Days with a precipitation value.")
    avg_max_temp_c: float | None = Field(
        description="Mean of the daily maximum temperatures, °C, 2 decimals."
    )
    avg_min_temp_c: float | None = Field(
        description="Mean of the daily minimum temperatures, °C, 2 decimals."
    )
    total_precipitation_mm: float | None = Field(description="Sum of daily precipitation, mm.")
    gdd: float | None = Field(description="Growing degree days, °C·days.")
    edd: float | None = Field(description="Extreme degree days above the threshold, °C·days.")
    degree_days_days: int = Field(description="Days with both temperatures.")
    avg_max_temp_anomaly_c: float | None = Field(
        None, description="With anomalies=true: avg_max_temp_c minus its normal."
    )
    avg_min_temp_anomaly_c: float | None = Field(
        None, description="With anomalies=true: avg_min_temp_c minus its normal."
    )
    total_precipitation_anomaly_mm: float | None = Field(
        None,
        description="With anomalies=true: total_precipitation_mm minus its normal.",
    )


class ImperialSummaryItem(BaseModel):
    """A station-period with `units=imperial`."""

    station_id: str
    period_start: dt.date = Field(description="First day of the period, clipped to start_date.")
    period_end: dt.date = Field(description="Last day of the period, clipped to end_date.")
    days: int = Field(description="Calendar days of the period.")
    max_temp_days: int = Field(description="Days with a maximum temperature.")
    min_temp_days: int = Field(description="Days with a minimum temperature.")
    precipitation_days: int = Field(description="Days with a precipitation value.")
    avg_max_temp_f: float | None = Field(
        description="Mean of the daily maximum temperatures, °F, 2 decimals."
    )
    avg_min_temp_f: float | None = Field(
        description="Mean of the daily minimum temperatures, °F, 2 decimals."
    )
    total_precipitation_in: float | None = Field(
        description="Sum of daily precipitation, inches, 2 decimals."
    )
    gdd_f: float | None = Field(
        description="Growing degree days, °F·days: 1.8 times gdd (base and cap in °F)."
    )
    edd_f: float | None = Field(
        description="Extreme degree days above the threshold, °F·days: 1.8 times edd."
    )
    degree_days_days: int = Field(description="Days with both temperatures.")
    avg_max_temp_anomaly_f: float | None = Field(
        None, description="With anomalies=true: avg_max_temp_f minus its normal, °F."
    )
    avg_min_temp_anomaly_f: float | None = Field(
        None, description="With anomalies=true: avg_min_temp_f minus its normal, °F."
    )
    total_precipitation_anomaly_in: float | None = Field(
        None,
        description="With anomalies=true: total_precipitation_in minus its normal, inches.",
    )


class NormalsItem(BaseModel):
    station_id: str
    month: int = Field(description="Calendar month, 1 to 12.")
    avg_max_temp_c: float | None = Field(
        description="Mean over the counted years of the month's mean maximum, °C.",
    )
    avg_min_temp_c: float | None = Field(
        description="Mean over the counted years of the month's mean minimum, °C.",
    )
    total_precipitation_mm: float | None = Field(
        description="Mean over the counted years of the month's precipitation total, mm.",
    )
    max_temp_years: int = Field(description="Years avg_max_temp_c stands on.")
    min_temp_years: int = Field(description="Years avg_min_temp_c stands on.")
    precipitation_years: int = Field(description="Years total_precipitation_mm stands on.")


class ImperialNormalsItem(BaseModel):
    """A station's calendar month with `units=imperial`."""

    station_id: str
    month: int = Field(description="Calendar month, 1 to 12.")
    avg_max_temp_f: float | None = Field(
        description="Mean over the counted years of the month's mean maximum, °F.",
    )
    avg_min_temp_f: float | None = Field(
        description="Mean over the counted years of the month's mean minimum, °F.",
    )
    total_precipitation_in: float | None = Field(
        description="Mean over the counted years of the month's precipitation total, inches.",
    )
    max_temp_years: int = Field(description="Years avg_max_temp_f stands on.")
    min_temp_years: int = Field(description="Years avg_min_temp_f stands on.")
    precipitation_years: int = Field(description="Years total_precipitation_in stands on.")


class SeasonWeather(BaseModel):
    gdd: float | None = Field(description="Mean over stations of season gdd.")
    gdd_stations: int = Field(description="Stations the gdd mean stands on.")
    edd: float | None = Field(description="Mean over stations of season edd.")
    edd_stations: int
    total_precipitation_mm: float | None = Field(
        description="Mean over stations of the season's precipitation total."
    )
    precipitation_stations: int
    avg_max_temp_c: float | None = Field(
        description="Mean over stations of the season's mean maximum."
    )
    max_temp_stations: int
    avg_min_temp_c: float | None = Field(
        description="Mean over stations of the season's mean minimum."
    )
    min_temp_stations: int


class ImperialSeasonWeather(BaseModel):
    """The season's station means with `units=imperial`."""

    gdd_f: float | None = Field(description="Mean over stations of season gdd_f, °F·days.")
    gdd_stations: int = Field(description="Stations the gdd_f mean stands on.")
    edd_f: float | None = Field(description="Mean over stations of season edd_f, °F·days.")
    edd_stations: int
    total_precipitation_in: float | None = Field(
        description="Mean over stations of the season's precipitation total, inches."
    )
    precipitation_stations: int
    avg_max_temp_f: float | None = Field(
        description="Mean over stations of the season's mean maximum, °F."
    )
    max_temp_stations: int
    avg_min_temp_f: float | None = Field(
        description="Mean over stations of the season's mean minimum, °F."
    )
    min_temp_stations: int


class ParamError(BaseModel):
    param: str = Field(examples=["start_date"])
    message: str = Field(examples=["must not be after end_date"])


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["invalid request: start_date: must not be after end_date"])
    errors: list[ParamError] | None = Field(None, description="The parameters at fault.")


class LoadRequest(BaseModel):
    """What to load; no body, or no ``source``, loads the configured WEATHER_DATA_SOURCE."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="A directory, station or yield file, or .zip/.tar.gz archive inside the "
        "server's data root (WEATHER_DATA_ROOT), absolute or relative to it; or an http(s) "
        "URL of a file or archive on a host in WEATHER_ALLOWED_SOURCE_HOSTS.",
        examples=[
            "wx_data",
            DEFAULT_DATA_SOURCE,
        ],
    )


class FileError(BaseModel):
    file: str = Field(description="The file, relative to its source.")
    line: int | None = Field(description="1-based line; null for the whole file.")
    message: str


class LoadJob(BaseModel):
    """One load: its progress while it runs, then the same counts as `weather-api load --json`.
    A rejected file is loaded not at all; the others are loaded whole, each in its own
    transaction."""

    model_config = ConfigDict(json_schema_extra=examples.LOAD_JOB)

    id: int
    status: JobStatus = Field(
        description="`interrupted`: the server stopped during the load; the files loaded "
        "until then stay, the one in progress was rolled back.",
    )
    source: str = Field(description="What was asked to load.")
    trigger: str = Field(description="`api`, `cli` or `autoload`.")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None = Field(description="Null until the load ends.")
    files_total: int = Field(description="Data files found in the source; 0 until resolved.")
    files_done: int = Field(description="Files processed so far.")
    files_loaded: int = Field(description="Files stored.")
    files_skipped: int = Field(description="Files unchanged since their last load.")
    files_failed: int = Field(description="Files rejected whole; see `errors`.")
    records_read: int = Field(description="Station records read so far.")
    inserted: int = Field(description="New observations stored.")
    updated: int = Field(description="Stored observations that changed.")
    unchanged: int = Field(description="Records already stored as they are.")
    errors: list[FileError] = Field(
        description="Rejected files, each with its first bad line: the first 100; "
        "`errors_omitted` counts the rest."
    )
    message: str | None = Field(
        description="Why the load failed as a whole (say, a download or an archive was "
        "refused), if it did.",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Rejected files not listed in `errors`."
    )
    @property
    def errors_omitted(self) -> int:
        return self.files_failed - len(self.errors)

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds from start to finish; null until the load ends."
    )
    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


class LoadConflict(BaseModel):
    """The problem+json body of a 409: another load is running."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["another load is running (job 41)"])
    job_id: int | None = Field(
        description="The running job, at GET /api/load/{job_id}.", examples=[41]
    )
