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

from weather_api.api.errors import ApiError
from weather_api.db.models import JobStatus, State
from weather_api.db.units import Units
from weather_api.ingest.parsing import STATION_ID_RE

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


class PagingQuery(BaseModel):
    """Paging, shared by every list."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1, le=10_000_000, description="1-based page number.", examples=[1])
    page_size: int = Field(
        100, ge=1, le=1000, description="Items per page, 1 to 1000.", examples=[100]
    )
    cursor: str | None = Field(
        None,
        max_length=200,
        description="Opaque position from a `next` link; replaces `page` for fast deep paging.",
        examples=["WzIsWyJVU0MwMDExMDA3MiIsIjE5ODUtMDQtMTEiXV0"],
    )


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


class YieldQuery(PageQuery):
    _NOT_FILTERS = PageQuery._NOT_FILTERS | {"year", "include"}

    year: int | None = Field(None, ge=1800, le=2200, description="One year.", examples=[1990])
    start_year: int | None = Field(
        None, ge=1800, le=2200, description="First year, inclusive.", examples=[1985]
    )
    end_year: int | None = Field(
        None, ge=1800, le=2200, description="Last year, inclusive.", examples=[2014]
    )
    include: Literal["weather"] | None = Field(
        None,
        description="`weather` adds, per year, the mean over stations of the yearly stats.",
        examples=["weather"],
    )

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        _check_years(self.year, self.start_year, self.end_year)
        if self.year:
            self.start_year = self.end_year = self.year
        return self


_LINK = "http://localhost:8000/api/weather?station_id=USC00110072"


class Links(BaseModel):
    self: str = Field(description="This page.", examples=[_LINK])
    first: str = Field(description="The first page.", examples=[f"{_LINK}&page=1"])
    prev: str | None = Field(description="Null on the first page.", examples=[None])
    next: str | None = Field(
        description="Null on the last page; carries a keyset cursor.",
        examples=[f"{_LINK}&cursor=WzIsWyJVU0MwMDExMDA3MiIsIjE5ODUtMDQtMTEiXV0"],
    )
    last: str | None = Field(
        description="Null when the result is empty.", examples=[f"{_LINK}&page=109"]
    )


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int = Field(examples=[1])
    page_size: int = Field(examples=[100])
    total: int = Field(description="Items matching the filters.", examples=[10865])
    pages: int = Field(examples=[109])
    links: Links


class WeatherItem(BaseModel):
    station_id: str = Field(examples=["USC00110072"])
    date: dt.date = Field(examples=["1985-01-01"])
    max_temp_c: float | None = Field(description="Maximum temperature, °C.", examples=[-2.2])
    min_temp_c: float | None = Field(description="Minimum temperature, °C.", examples=[-12.8])
    precipitation_mm: float | None = Field(description="Precipitation, mm.", examples=[9.4])


class ImperialWeatherItem(BaseModel):
    """A day with `units=imperial`."""

    station_id: str = Field(examples=["USC00110072"])
    date: dt.date = Field(examples=["1985-01-01"])
    max_temp_f: float | None = Field(description="Maximum temperature, °F, 0.1.", examples=[28.0])
    min_temp_f: float | None = Field(description="Minimum temperature, °F, 0.1.", examples=[9.0])
    precipitation_in: float | None = Field(
        description="Precipitation, inches, 0.01.", examples=[0.37]
    )


class StatsItem(BaseModel):
    station_id: str = Field(examples=["USC00110072"])
    year: int = Field(examples=[1985])
    avg_max_temp_c: float | None = Field(
        description="Mean of the daily maximum temperatures, °C, 2 decimals.", examples=[15.72]
    )
    avg_min_temp_c: float | None = Field(
        description="Mean of the daily minimum temperatures, °C, 2 decimals.", examples=[3.93]
    )
    total_precipitation_cm: float | None = Field(
        description="Sum of daily precipitation, cm, 2 decimals.", examples=[88.32]
    )
    max_temp_days: int = Field(description="Days with a maximum temperature.", examples=[362])
    min_temp_days: int = Field(description="Days with a minimum temperature.", examples=[362])
    precipitation_days: int = Field(description="Days with a precipitation value.", examples=[365])


class ImperialStatsItem(BaseModel):
    """A station-year with `units=imperial`."""

    station_id: str = Field(examples=["USC00110072"])
    year: int = Field(examples=[1985])
    avg_max_temp_f: float | None = Field(
        description="Mean of the daily maximum temperatures, °F, 2 decimals.", examples=[60.3]
    )
    avg_min_temp_f: float | None = Field(
        description="Mean of the daily minimum temperatures, °F, 2 decimals.", examples=[39.07]
    )
    total_precipitation_in: float | None = Field(
        description="Sum of daily precipitation, inches, 2 decimals.", examples=[34.77]
    )
    max_temp_days: int = Field(description="Days with a maximum temperature.", examples=[362])
    min_temp_days: int = Field(description="Days with a minimum temperature.", examples=[362])
    precipitation_days: int = Field(description="Days with a precipitation value.", examples=[365])


class _StationFields(BaseModel):
    station_id: str = Field(examples=["USC00110072"])
    name: str | None = Field(description="NOAA's station name.", examples=["ALEDO"])
    state: str | None = Field(description="US state from the COOP state code.", examples=["IL"])
    latitude: float | None = Field(description="Decimal degrees, WGS 84.", examples=[41.2069])
    longitude: float | None = Field(description="Decimal degrees, WGS 84.", examples=[-90.7419])
    gsn: bool | None = Field(description="In the GCOS Surface Network.", examples=[False])
    hcn_crn: Literal["HCN", "CRN"] | None = Field(
        description="US Historical Climatology Network or Climate Reference Network station.",
        examples=["HCN"],
    )
    wmo_id: str | None = Field(description="World Meteorological Organization id.", examples=[None])
    first_date: dt.date | None = Field(examples=["1985-01-01"])
    last_date: dt.date | None = Field(examples=["2014-12-31"])
    days: int = Field(description="Days with an observation row.", examples=[10865])
    max_temp_share: float | None = Field(
        description="Share of days with a maximum temperature, 0 to 1.", examples=[0.9903]
    )
    min_temp_share: float | None = Field(
        description="Share of days with a minimum temperature, 0 to 1.", examples=[0.9901]
    )
    precipitation_share: float | None = Field(
        description="Share of days with a precipitation value, 0 to 1.", examples=[0.9874]
    )
    distance_km: float | None = Field(
        None,
        description="With `near`: great-circle distance from it, km, 0.1.",
        examples=[159.3],
    )


class StationItem(_StationFields):
    """Metadata (from NOAA's ghcnd-stations.txt; `null` where unknown) and completeness."""

    elevation_m: float | None = Field(description="Elevation, metres.", examples=[223.7])


class ImperialStationItem(_StationFields):
    """A station with `units=imperial`."""

    elevation_ft: float | None = Field(description="Elevation, feet, 0.1.", examples=[734.0])


class ImperialYieldWeather(BaseModel):
    """The year's station means with `units=imperial`."""

    stations: int = Field(description="Stations with yearly stats that year.", examples=[167])
    avg_max_temp_f: float | None = Field(
        description="Mean over stations of avg_max_temp_f.", examples=[60.44]
    )
    avg_min_temp_f: float | None = Field(
        description="Mean over stations of avg_min_temp_f.", examples=[39.38]
    )
    avg_total_precipitation_in: float | None = Field(
        description="Mean over stations of total_precipitation_in.", examples=[35.48]
    )


class YieldWeather(BaseModel):
    stations: int = Field(description="Stations with yearly stats that year.", examples=[167])
    avg_max_temp_c: float | None = Field(
        description="Mean over stations of avg_max_temp_c.", examples=[15.8]
    )
    avg_min_temp_c: float | None = Field(
        description="Mean over stations of avg_min_temp_c.", examples=[4.1]
    )
    avg_total_precipitation_cm: float | None = Field(
        description="Mean over stations of total_precipitation_cm.", examples=[90.12]
    )


class YieldItem(BaseModel):
    year: int = Field(examples=[1985])
    corn_grain_yield_kt: int = Field(
        description="US corn grain yield, thousand metric tons.", examples=[225447]
    )
    weather: YieldWeather | ImperialYieldWeather | None = Field(
        None, description="Present with include=weather: the year's station means."
    )


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
            "https://github.com/corteva/code-challenge-template/archive/refs/heads/main.tar.gz",
        ],
    )


class FileError(BaseModel):
    file: str = Field(
        description="The file, relative to its source.", examples=["wx_data/USC00110072.txt"]
    )
    line: int | None = Field(description="1-based line; null for the whole file.", examples=[10])
    message: str = Field(
        examples=["min temperature 'oops' is not valid: expected an integer in tenths"]
    )


class LoadJob(BaseModel):
    """One load: its progress while it runs, then the same counts as `weather-api load --json`.
    A rejected file is loaded not at all; the others are loaded whole, each in its own
    transaction."""

    id: int = Field(examples=[42])
    status: JobStatus = Field(
        description="`interrupted`: the server stopped during the load; the files loaded "
        "until then stay, the one in progress was rolled back.",
        examples=["running"],
    )
    source: str = Field(description="What was asked to load.", examples=["wx_data"])
    trigger: str = Field(description="`api`, `cli` or `autoload`.", examples=["api"])
    created_at: dt.datetime = Field(examples=["2026-01-05T09:30:00Z"])
    started_at: dt.datetime | None = Field(examples=["2026-01-05T09:30:00.2Z"])
    finished_at: dt.datetime | None = Field(
        description="Null until the load ends.", examples=[None]
    )
    files_total: int = Field(
        description="Data files found in the source; 0 until resolved.", examples=[168]
    )
    files_done: int = Field(description="Files processed so far.", examples=[61])
    files_loaded: int = Field(description="Files stored.", examples=[60])
    files_skipped: int = Field(description="Files unchanged since their last load.", examples=[0])
    files_failed: int = Field(description="Files rejected whole; see `errors`.", examples=[1])
    records_read: int = Field(description="Station records read so far.", examples=[651872])
    inserted: int = Field(description="New observations stored.", examples=[651872])
    updated: int = Field(description="Stored observations that changed.", examples=[0])
    unchanged: int = Field(description="Records already stored as they are.", examples=[0])
    errors: list[FileError] = Field(description="Rejected files, each with its first bad line.")
    message: str | None = Field(
        description="Why the load failed as a whole (say, a download or an archive was "
        "refused), if it did.",
        examples=[None],
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds from start to finish; null until the load ends.", examples=[3.29]
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
