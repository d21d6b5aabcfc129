"""Real answers of the service over the full dataset (../shared/data), for the OpenAPI
document: each names the request that answers it. tests/api/test_examples.py serves the
full dataset and checks every example of the live document against the answer to its
request, so none drifts from the data. Change one only to what the service answers (the
failing test prints it); give a new endpoint's responses examples the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A load job's source is a path on the server, its times those of the run that made it.
LOAD_VOLATILE = ("source", "created_at", "started_at", "finished_at", "duration_s")


# Every example by its request, for restore_nulls.
_NAMED: dict[tuple[str, str], Any] = {}
_MODELS: dict[str, Any] = {}


@dataclass(frozen=True)
class Example:
    """A named example of a response: ``request`` (path and query) answers ``value``.
    ``volatile`` names the fields that differ from run to run (dotted paths, ``*`` for
    every element of a list), which the check leaves out."""

    name: str
    request: str
    value: Any
    volatile: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _NAMED[self.name, self.request] = self.value

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI Example Object: its summary is the request."""
        entry = {"summary": self.request, "value": self.value}
        if self.volatile:
            entry["x-volatile"] = list(self.volatile)
        return entry


def named(*examples: Example) -> dict[str, dict[str, Any]]:
    """The ``examples`` map of a response's media type."""
    return {example.name: example.openapi() for example in examples}


def model_example(
    request: str, value: dict[str, Any], volatile: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A model's ``json_schema_extra``: one real example and the request that answers it
    (the object itself, or a page whose only item it is), instead of invented values per
    field."""
    _MODELS[request] = value
    extra: dict[str, Any] = {"examples": [value], "x-request": request}
    if volatile:
        extra["x-volatile"] = list(volatile)
    return extra


def restore_nulls(node: Any) -> None:
    """Put back into an OpenAPI document the examples' null members, which FastAPI drops
    from the whole document (``prev: null`` of a first page, say) as it writes it."""
    if isinstance(node, list):
        for child in node:
            restore_nulls(child)
        return
    if not isinstance(node, dict):
        return
    if (request := node.get("x-request")) in _MODELS:
        node["examples"] = [_MODELS[request]]
    named = node.get("examples")
    if isinstance(named, dict):
        for name, entry in named.items():
            if (key := (name, entry.get("summary"))) in _NAMED:
                entry["value"] = _NAMED[key]
    for child in node.values():
        restore_nulls(child)


# Models: one row each.
WEATHER_ITEM = model_example(
    "/api/weather?station_id=USC00110072&date=1985-01-01",
    {
        "station_id": "USC00110072",
        "date": "1985-01-01",
        "max_temp_c": -2.2,
        "min_temp_c": -12.8,
        "precipitation_mm": 9.4,
    },
)
STATS_ITEM = model_example(
    "/api/weather/stats?station_id=USC00110072&year=1985",
    {
        "station_id": "USC00110072",
        "year": 1985,
        "avg_max_temp_c": 15.33,
        "avg_min_temp_c": 4.33,
        "total_precipitation_cm": 78.01,
        "max_temp_days": 365,
        "min_temp_days": 363,
        "precipitation_days": 365,
    },
)
STATION_ITEM = model_example(
    "/api/stations/USC00110072",
    {
        "station_id": "USC00110072",
        "name": "ALEDO",
        "state": "IL",
        "latitude": 41.2069,
        "longitude": -90.7419,
        "elevation_m": 223.7,
        "gsn": False,
        "hcn_crn": "HCN",
        "wmo_id": None,
        "first_date": "1985-01-01",
        "last_date": "2014-12-31",
        "days": 10865,
        "max_temp_share": 0.9727,
        "min_temp_share": 0.9744,
        "precipitation_share": 0.9826,
    },
)
YIELD_ITEM = model_example(
    "/api/yield?year=1985&include=weather",
    {
        "year": 1985,
        "corn_grain_yield_kt": 225447,
        "weather": {
            "stations": 164,
            "avg_max_temp_c": 15.83,
            "avg_min_temp_c": 3.7,
            "avg_total_precipitation_cm": 94.27,
        },
    },
)
LOAD_JOB = model_example(
    "/api/load/1",
    {
        "id": 1,
        "status": "succeeded",
        "source": "/srv/data /app/src/weather_api/ingest/data/ghcnd-stations.txt",
        "trigger": "cli",
        "created_at": "2026-12-01T04:32:32.624866Z",
        "started_at": "2026-12-01T04:32:32.632521Z",
        "finished_at": "2026-12-01T04:32:49.741465Z",
        "files_total": 169,
        "files_done": 169,
        "files_loaded": 169,
        "files_skipped": 0,
        "files_failed": 0,
        "records_read": 1730124,
        "inserted": 1729957,
        "updated": 167,
        "unchanged": 0,
        "errors": [],
        "message": None,
        "errors_omitted": 0,
        "duration_s": 17.109,
    },
    LOAD_VOLATILE,
)
READINESS = model_example(
    "/health/ready",
    {
        "status": "ready",
        "reasons": [],
        "schema_revision": "0008",
        "observations": 1729957,
        "stations": 167,
        "last_load": {
            "id": 1,
            "status": "succeeded",
            "finished_at": "2026-12-01T03:45:42.853762Z",
            "message": None,
        },
    },
    ("schema_revision", "last_load.finished_at"),
)
LIVENESS = model_example("/health", {"status": "ok"})

# List pages, as JSON.
WEATHER_PAGE = Example(
    "station-from-1985",
    "/api/weather?station_id=USC00110072&start_date=1985-01-01&page_size=2",
    {
        "items": [
            WEATHER_ITEM["examples"][0],
            {
                "station_id": "USC00110072",
                "date": "1985-01-02",
                "max_temp_c": -12.2,
                "min_temp_c": -21.7,
                "precipitation_mm": 0.0,
            },
        ],
        "page": 1,
        "page_size": 2,
        "total": 10865,
        "pages": 5433,
        "links": {
            "self": "http://localhost:8000/api/weather?station_id=USC00110072&start_date=1985-01-01&page_size=2",
            "first": "http://localhost:8000/api/weather?station_id=USC00110072&start_date=1985-01-01&page_size=2&page=1",
            "prev": None,
            "next": "http://localhost:8000/api/weather?station_id=USC00110072&start_date=1985-01-01&page_size=2&cursor=WzIsIFsiVVNDMDAxMTAwNzIiLCAiMTk4NS0wMS0wMiJdXQ",
            "last": "http://localhost:8000/api/weather?station_id=USC00110072&start_date=1985-01-01&page_size=2&page=5433",
        },
    },
)
STATS_PAGE = Example(
    "station-from-1985",
    "/api/weather/stats?station_id=USC00110072&start_year=1985&page_size=2",
    {
        "items": [
            STATS_ITEM["examples"][0],
            {
                "station_id": "USC00110072",
                "year": 1986,
                "avg_max_temp_c": 12.7,
                "avg_min_temp_c": 2.18,
                "total_precipitation_cm": 50.53,
                "max_temp_days": 273,
                "min_temp_days": 273,
                "precipitation_days": 273,
            },
        ],
        "page": 1,
        "page_size": 2,
        "total": 30,
        "pages": 15,
        "links": {
            "self": "http://localhost:8000/api/weather/stats?station_id=USC00110072&start_year=1985&page_size=2",
            "first": "http://localhost:8000/api/weather/stats?station_id=USC00110072&start_year=1985&page_size=2&page=1",
            "prev": None,
            "next": "http://localhost:8000/api/weather/stats?station_id=USC00110072&start_year=1985&page_size=2&cursor=WzIsIFsiVVNDMDAxMTAwNzIiLCAxOTg2XV0",
            "last": "http://localhost:8000/api/weather/stats?station_id=USC00110072&start_year=1985&page_size=2&page=15",
        },
    },
)
STATIONS_PAGE = Example(
    "illinois",
    "/api/stations?state=IL&page_size=2",
    {
        "items": [
            STATION_ITEM["examples"][0],
            {
                "station_id": "USC00110187",
                "name": "ANNA 4 N",
                "state": "IL",
                "latitude": 37.5222,
                "longitude": -89.2486,
                "elevation_m": 180.7,
                "gsn": False,
                "hcn_crn": "HCN",
                "wmo_id": None,
                "first_date": "1985-01-01",
                "last_date": "2013-12-31",
                "days": 10407,
                "max_temp_share": 0.9833,
                "min_temp_share": 0.98,
                "precipitation_share": 0.9924,
            },
        ],
        "page": 1,
        "page_size": 2,
        "total": 36,
        "pages": 18,
        "links": {
            "self": "http://localhost:8000/api/stations?state=IL&page_size=2",
            "first": "http://localhost:8000/api/stations?state=IL&page_size=2&page=1",
            "prev": None,
            "next": "http://localhost:8000/api/stations?state=IL&page_size=2&cursor=WzIsIFsiVVNDMDAxMTAxODciXV0",
            "last": "http://localhost:8000/api/stations?state=IL&page_size=2&page=18",
        },
    },
)
YIELD_PAGE = Example(
    "with-weather",
    "/api/yield?start_year=1985&include=weather&page_size=2",
    {
        "items": [
            YIELD_ITEM["examples"][0],
            {
                "year": 1986,
                "corn_grain_yield_kt": 208944,
                "weather": {
                    "stations": 164,
                    "avg_max_temp_c": 16.99,
                    "avg_min_temp_c": 5.19,
                    "avg_total_precipitation_cm": 90.56,
                },
            },
        ],
        "page": 1,
        "page_size": 2,
        "total": 30,
        "pages": 15,
        "links": {
            "self": "http://localhost:8000/api/yield?start_year=1985&include=weather&page_size=2",
            "first": "http://localhost:8000/api/yield?start_year=1985&include=weather&page_size=2&page=1",
            "prev": None,
            "next": "http://localhost:8000/api/yield?start_year=1985&include=weather&page_size=2&cursor=WzIsIFsxOTg2XV0",
            "last": "http://localhost:8000/api/yield?start_year=1985&include=weather&page_size=2&page=15",
        },
    },
)
LOADS_PAGE = Example(
    "latest",
    "/api/load?page_size=1",
    {
        "items": [LOAD_JOB["examples"][0]],
        "page": 1,
        "page_size": 1,
        "total": 1,
        "pages": 1,
        "links": {
            "self": "http://localhost:8000/api/load?page_size=1",
            "first": "http://localhost:8000/api/load?page_size=1&page=1",
            "prev": None,
            "next": None,
            "last": "http://localhost:8000/api/load?page_size=1&page=1",
        },
    },
    tuple(f"items.*.{field}" for field in LOAD_VOLATILE),
)

# Whole results, as CSV.
WEATHER_CSV = Example(
    "three-days",
    "/api/weather?station_id=USC00110072&start_date=1985-01-01&end_date=1985-01-03&format=csv",
    (
        "station_id,date,max_temp_c,min_temp_c,precipitation_mm\n"
        "USC00110072,1985-01-01,-2.2,-12.8,9.4\n"
        "USC00110072,1985-01-02,-12.2,-21.7,0\n"
        "USC00110072,1985-01-03,-10.6,-24.4,0\n"
    ),
)
STATS_CSV = Example(
    "three-years",
    "/api/weather/stats?station_id=USC00110072&start_year=1985&end_year=1987&format=csv",
    (
        "station_id,year,avg_max_temp_c,avg_min_temp_c,total_precipitation_cm,max_temp_days,min_temp_days,precipitation_days\n"
        "USC00110072,1985,15.33,4.33,78.01,365,363,365\n"
        "USC00110072,1986,12.7,2.18,50.53,273,273,273\n"
        "USC00110072,1987,17.76,6.33,79.36,365,365,365\n"
    ),
)
STATIONS_CSV = Example(
    "iowa",
    "/api/stations?state=IA&format=csv",
    (
        "station_id,name,state,latitude,longitude,elevation_m,gsn,hcn_crn,wmo_id,first_date,last_date,days,max_temp_share,min_temp_share,precipitation_share\n"
        "USC00130112,ALBIA 3 NNE,IA,41.0656,-92.7867,268.2,f,HCN,,1985-05-01,2014-12-31,10806,0.994,0.994,0.9969\n"
        "USC00130133,ALGONA,IA,43.0664,-94.2222,370,f,HCN,,1985-01-01,2014-12-31,10957,0.9967,0.9958,0.9942\n"
        "USC00130600,BELLE PLAINE,IA,41.8814,-92.2764,234.4,f,HCN,,1985-01-01,2014-12-31,10928,0.9934,0.9923,0.991\n"
        "USC00131402,CHARLES CITY,IA,43.0603,-92.6717,302.7,f,HCN,,1985-01-01,2014-12-31,10957,0.9932,0.9934,0.9973\n"
        "USC00131533,CLARINDA,IA,40.7242,-95.0192,299.3,f,HCN,,1985-01-01,2014-12-31,10957,0.9963,0.9965,0.9943\n"
        "USC00131635,CLINTON #1,IA,41.795,-90.2642,181.1,f,HCN,,1985-01-01,2014-12-31,10957,0.999,0.9988,0.9948\n"
        "USC00132724,ESTHERVILLE 4E,IA,43.4036,-94.7472,402.3,f,HCN,,1985-01-01,2014-12-31,10836,0.9693,0.9687,0.9398\n"
        "USC00132789,FAIRFIELD,IA,41.0181,-91.9547,228,f,HCN,,1985-01-01,2014-12-31,10957,0.9943,0.9926,0.9948\n"
        "USC00132864,FAYETTE,IA,42.8825,-91.8303,349,f,HCN,,1985-01-01,2014-12-31,10957,0.9956,0.9953,0.9962\n"
        "USC00132977,FOREST CITY 2 NNE,IA,43.2844,-93.6306,390.1,f,HCN,,1985-01-01,2014-12-31,10957,0.9768,0.9739,0.962\n"
        "USC00132999,FT DODGE 5NNW,IA,42.5836,-94.2006,339.9,f,HCN,,1985-01-01,2014-12-31,10804,0.9831,0.9817,0.9802\n"
        "USC00134063,INDIANOLA 1SW,IA,41.3506,-93.5733,291.4,f,HCN,,1985-01-01,2014-12-31,10714,0.9817,0.9811,0.9846\n"
        "USC00134142,IOWA FALLS,IA,42.5189,-93.2536,321.6,f,HCN,,1985-05-01,2014-12-31,10807,0.9761,0.9757,0.9682\n"
        "USC00134735,LE MARS,IA,42.7908,-96.1508,395.9,f,HCN,,1985-01-01,2014-12-31,10928,0.9822,0.9829,0.9384\n"
        "USC00134894,LOGAN 1 WNW,IA,41.65,-95.8061,361.8,f,HCN,,1985-01-01,2014-12-31,10867,0.9983,0.9983,0.9961\n"
        "USC00135769,MT AYR,IA,40.7053,-94.2428,347.5,f,HCN,,1985-01-01,2014-12-31,10833,0.9493,0.9471,0.9622\n"
        "USC00135796,MT PLEASANT 1 SW,IA,40.96,-91.585,220.7,f,HCN,,1985-01-01,2014-12-31,10957,0.9995,0.9991,0.985\n"
        "USC00135952,NEW HAMPTON,IA,43.0453,-92.3122,349.9,f,HCN,,1985-01-01,2014-12-31,10899,0.9941,0.9934,0.9936\n"
        "USC00137147,ROCK RAPIDS,IA,43.4289,-96.1689,410.6,f,HCN,,1985-01-01,2014-12-31,10957,0.995,0.9971,0.9671\n"
        "USC00137161,ROCKWELL CITY,IA,42.3969,-94.6292,370,f,HCN,,1985-01-01,2014-12-31,10957,0.9778,0.9779,0.9774\n"
        "USC00137979,STORM LAKE,IA,42.6469,-95.1933,438.6,f,HCN,,1985-01-01,2014-12-31,10926,0.9589,0.955,0.912\n"
        "USC00138296,TOLEDO 3N,IA,42.0356,-92.5806,285,f,HCN,,1985-01-01,2014-12-31,10837,0.9994,0.9993,0.997\n"
        "USC00138688,WASHINGTON,IA,41.2825,-91.7078,209.4,f,HCN,,1985-01-01,2014-12-31,10957,0.9966,0.993,0.9811\n"
    ),
)
YIELD_CSV = Example(
    "three-years",
    "/api/yield?start_year=1985&end_year=1987&format=csv",
    ("year,corn_grain_yield_kt\n1985,225447\n1986,208944\n1987,181143\n"),
)


# Not a 2xx, so not checked: readiness seen during a first load of the full dataset.
LOADING = Example(
    "first-load",
    "/health/ready",
    {
        "status": "unavailable",
        "reasons": ["initial load incomplete: load 1 is running (51 of 168 files done)"],
        "schema_revision": "0008",
        "observations": 521039,
        "stations": 51,
        "last_load": {"id": 1, "status": "running", "finished_at": None, "message": None},
    },
)

SUMMARY_CSV = Example(
    "one-year",
    "/api/weather/summary?station_id=USC00110072&period=year&start_date=1985-01-01"
    "&end_date=1985-12-31&format=csv",
    (
        "station_id,period_start,period_end,days,max_temp_days,min_temp_days,"
        "precipitation_days,avg_max_temp_c,avg_min_temp_c,total_precipitation_mm,gdd,edd,"
        "degree_days_days\n"
        "USC00110072,1985-01-01,1985-12-31,365,365,363,365,15.33,4.33,780.1,2022.55,35.45,363\n"
    ),
)
SUMMARY_CSV_IMPERIAL = Example(
    "one-year-imperial",
    "/api/weather/summary?station_id=USC00110072&period=year&start_date=1985-01-01"
    "&end_date=1985-12-31&format=csv&units=imperial",
    (
        "station_id,period_start,period_end,days,max_temp_days,min_temp_days,"
        "precipitation_days,avg_max_temp_f,avg_min_temp_f,total_precipitation_in,gdd_f,edd_f,"
        "degree_days_days\n"
        "USC00110072,1985-01-01,1985-12-31,365,365,363,365,59.6,39.79,30.71,3640.59,63.8,363\n"
    ),
)
NORMALS_CSV = Example(
    "last-decade",
    "/api/weather/normals?station_id=USC00110072&start_year=2005&end_year=2014&format=csv",
    (
        "station_id,month,avg_max_temp_c,avg_min_temp_c,total_precipitation_mm,"
        "max_temp_years,min_temp_years,precipitation_years\n"
        "USC00110072,1,-1.17,-10.65,39.65,10,10,10\n"
        "USC00110072,2,0.15,-9.82,49.41,10,10,9\n"
        "USC00110072,3,8.84,-2.34,66.69,10,10,10\n"
        "USC00110072,4,16.43,3.6,112.93,10,10,10\n"
        "USC00110072,5,22.5,9.77,108.85,10,10,10\n"
        "USC00110072,6,27.43,15.64,131.98,10,10,10\n"
        "USC00110072,7,28.96,17.56,78.73,10,10,10\n"
        "USC00110072,8,28.09,16.48,103.72,9,9,10\n"
        "USC00110072,9,24.47,11.52,93.68,9,9,10\n"
        "USC00110072,10,17.09,5.15,65.8,10,10,10\n"
        "USC00110072,11,9.6,-1.32,44.17,10,10,9\n"
        "USC00110072,12,1.06,-7.49,57.82,9,9,10\n"
    ),
)


# Stations by place, GeoJSON and imperial units.
STATIONS_NEAR = Example(
    "near",
    "/api/stations?near=41.88,-87.63&page_size=3",
    {
        "items": [
            {
                "station_id": "USC00124008",
                "name": "HOBART 2 WNW",
                "state": "IN",
                "latitude": 41.5422,
                "longitude": -87.2881,
                "elevation_m": 195.1,
                "gsn": False,
                "hcn_crn": "HCN",
                "wmo_id": None,
                "first_date": "1985-01-01",
                "last_date": "2000-02-29",
                "days": 5476,
                "max_temp_share": 0.9527,
                "min_temp_share": 0.9489,
                "precipitation_share": 0.8886,
                "distance_km": 47.1,
            },
            {
                "station_id": "USC00110338",
                "name": "AURORA WATER",
                "state": "IL",
                "latitude": 41.7803,
                "longitude": -88.3092,
                "elevation_m": 205.7,
                "gsn": False,
                "hcn_crn": "HCN",
                "wmo_id": None,
                "first_date": "1985-01-01",
                "last_date": "2014-12-31",
                "days": 10712,
                "max_temp_share": 0.9947,
                "min_temp_share": 0.9921,
                "precipitation_share": 0.9974,
                "distance_km": 57.4,
            },
            {
                "station_id": "USC00124837",
                "name": "LAPORTE",
                "state": "IN",
                "latitude": 41.6117,
                "longitude": -86.7297,
                "elevation_m": 246.6,
                "gsn": False,
                "hcn_crn": "HCN",
                "wmo_id": None,
                "first_date": "1985-01-01",
                "last_date": "2014-12-31",
                "days": 10866,
                "max_temp_share": 0.9911,
                "min_temp_share": 0.9907,
                "precipitation_share": 0.9983,
                "distance_km": 80.4,
            },
        ],
        "page": 1,
        "page_size": 3,
        "total": 167,
        "pages": 56,
        "links": {
            "self": "http://localhost:8000/api/stations?near=41.88,-87.63&page_size=3",
            "first": "http://localhost:8000/api/stations?near=41.88%2C-87.63&page_size=3&page=1",
            "prev": None,
            "next": "http://localhost:8000/api/stations?near=41.88%2C-87.63&page_size=3&cursor=WzIsIFs4MC40LCAiVVNDMDAxMjQ4MzciXV0",
            "last": "http://localhost:8000/api/stations?near=41.88%2C-87.63&page_size=3&page=56",
        },
    },
)
STATIONS_BBOX_IMPERIAL = Example(
    "imperial",
    "/api/stations?bbox=-88,41,-87,42.5&units=imperial&page_size=2",
    {
        "items": [
            {
                "station_id": "USC00124008",
                "name": "HOBART 2 WNW",
                "state": "IN",
                "latitude": 41.5422,
                "longitude": -87.2881,
                "elevation_ft": 640.1,
                "gsn": False,
                "hcn_crn": "HCN",
                "wmo_id": None,
                "first_date": "1985-01-01",
                "last_date": "2000-02-29",
                "days": 5476,
                "max_temp_share": 0.9527,
                "min_temp_share": 0.9489,
                "precipitation_share": 0.8886,
            },
            {
                "station_id": "USC00129511",
                "name": "WHEATFIELD",
                "state": "IN",
                "latitude": 41.1947,
                "longitude": -87.0578,
                "elevation_ft": 665.0,
                "gsn": False,
                "hcn_crn": "HCN",
                "wmo_id": None,
                "first_date": "1985-01-01",
                "last_date": "2004-12-31",
                "days": 6849,
                "max_temp_share": 0.8946,
                "min_temp_share": 0.8944,
                "precipitation_share": 0.922,
            },
        ],
        "page": 1,
        "page_size": 2,
        "total": 2,
        "pages": 1,
        "links": {
            "self": "http://localhost:8000/api/stations?bbox=-88,41,-87,42.5&units=imperial&page_size=2",
            "first": "http://localhost:8000/api/stations?bbox=-88%2C41%2C-87%2C42.5&units=imperial&page_size=2&page=1",
            "prev": None,
            "next": None,
            "last": "http://localhost:8000/api/stations?bbox=-88%2C41%2C-87%2C42.5&units=imperial&page_size=2&page=1",
        },
    },
)
STATIONS_GEOJSON = Example(
    "near",
    "/api/stations?near=41.88,-87.63&radius_km=50&format=geojson",
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "USC00124008",
                "geometry": {"type": "Point", "coordinates": [-87.2881, 41.5422, 195.1]},
                "properties": {
                    "station_id": "USC00124008",
                    "name": "HOBART 2 WNW",
                    "state": "IN",
                    "latitude": 41.5422,
                    "longitude": -87.2881,
                    "elevation_m": 195.1,
                    "gsn": False,
                    "hcn_crn": "HCN",
                    "wmo_id": None,
                    "first_date": "1985-01-01",
                    "last_date": "2000-02-29",
                    "days": 5476,
                    "max_temp_share": 0.9527,
                    "min_temp_share": 0.9489,
                    "precipitation_share": 0.8886,
                    "distance_km": 47.1,
                },
            }
        ],
    },
)
STATION_GEOJSON = Example(
    "feature",
    "/api/stations/USC00110072?format=geojson",
    {
        "type": "Feature",
        "id": "USC00110072",
        "geometry": {"type": "Point", "coordinates": [-90.7419, 41.2069, 223.7]},
        "properties": {
            "station_id": "USC00110072",
            "name": "ALEDO",
            "state": "IL",
            "latitude": 41.2069,
            "longitude": -90.7419,
            "elevation_m": 223.7,
            "gsn": False,
            "hcn_crn": "HCN",
            "wmo_id": None,
            "first_date": "1985-01-01",
            "last_date": "2014-12-31",
            "days": 10865,
            "max_temp_share": 0.9727,
            "min_temp_share": 0.9744,
            "precipitation_share": 0.9826,
        },
    },
)
WEATHER_IMPERIAL = Example(
    "imperial",
    "/api/weather?station_id=USC00110072&date=1990-07-04&units=imperial",
    {
        "items": [
            {
                "station_id": "USC00110072",
                "date": "1990-07-04",
                "max_temp_f": 96.1,
                "min_temp_f": 70.0,
                "precipitation_in": 0.0,
            }
        ],
        "page": 1,
        "page_size": 100,
        "total": 1,
        "pages": 1,
        "links": {
            "self": "http://localhost:8000/api/weather?station_id=USC00110072&date=1990-07-04&units=imperial",
            "first": "http://localhost:8000/api/weather?station_id=USC00110072&date=1990-07-04&units=imperial&page=1",
            "prev": None,
            "next": None,
            "last": "http://localhost:8000/api/weather?station_id=USC00110072&date=1990-07-04&units=imperial&page=1",
        },
    },
)
STATS_IMPERIAL = Example(
    "imperial",
    "/api/weather/stats?station_id=USC00110072&year=1990&units=imperial",
    {
        "items": [
            {
                "station_id": "USC00110072",
                "year": 1990,
                "avg_max_temp_f": 62.42,
                "avg_min_temp_f": 42.73,
                "total_precipitation_in": 46.04,
                "max_temp_days": 365,
                "min_temp_days": 365,
                "precipitation_days": 365,
            }
        ],
        "page": 1,
        "page_size": 100,
        "total": 1,
        "pages": 1,
        "links": {
            "self": "http://localhost:8000/api/weather/stats?station_id=USC00110072&year=1990&units=imperial",
            "first": "http://localhost:8000/api/weather/stats?station_id=USC00110072&year=1990&units=imperial&page=1",
            "prev": None,
            "next": None,
            "last": "http://localhost:8000/api/weather/stats?station_id=USC00110072&year=1990&units=imperial&page=1",
        },
    },
)
STATION_METRIC = Example("metric", STATION_ITEM["x-request"], STATION_ITEM["examples"][0])
STATION_IMPERIAL = Example(
    "imperial",
    "/api/stations/USC00110072?units=imperial",
    {
        "station_id": "USC00110072",
        "name": "ALEDO",
        "state": "IL",
        "latitude": 41.2069,
        "longitude": -90.7419,
        "elevation_ft": 733.9,
        "gsn": False,
        "hcn_crn": "HCN",
        "wmo_id": None,
        "first_date": "1985-01-01",
        "last_date": "2014-12-31",
        "days": 10865,
        "max_temp_share": 0.9727,
        "min_temp_share": 0.9744,
        "precipitation_share": 0.9826,
    },
)


def recorded(operation: str) -> list[Example]:
    """The named examples of ``operation`` kept in examples.json (the climate endpoints':
    their answers are long, so they live as data beside this module)."""
    return [
        Example(name, entry["summary"].removeprefix("GET "), entry["value"])
        for name, entry in _RECORDED.items()
        if entry["operation"] == operation
    ]


_RECORDED: dict[str, dict[str, Any]] = json.loads(
    Path(__file__).with_name("examples.json").read_text(encoding="utf-8")
)
