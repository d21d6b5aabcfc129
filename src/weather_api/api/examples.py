"""Named OpenAPI examples: real answers over the full dataset (1985-2014, 167 stations,
with the packaged station list), each under the exact request that gave it as its
``summary``. Links carry the base URL http://localhost:8000 of ``weather-api serve``."""

from __future__ import annotations

from typing import Any

STATIONS_JSON: dict[str, Any] = {
    "near": {
        "summary": "GET /api/stations?near=41.88,-87.63&page_size=3",
        "value": {
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
    },
    "imperial": {
        "summary": "GET /api/stations?bbox=-88,41,-87,42.5&units=imperial&page_size=2",
        "value": {
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
    },
}

STATIONS_GEOJSON: dict[str, Any] = {
    "near": {
        "summary": "GET /api/stations?near=41.88,-87.63&radius_km=50&format=geojson",
        "value": {
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
    }
}

STATION_GEOJSON: dict[str, Any] = {
    "feature": {
        "summary": "GET /api/stations/USC00110072?format=geojson",
        "value": {
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
    }
}

WEATHER_JSON: dict[str, Any] = {
    "imperial": {
        "summary": "GET /api/weather?station_id=USC00110072&date=1990-07-04&units=imperial",
        "value": {
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
    }
}

STATS_JSON: dict[str, Any] = {
    "imperial": {
        "summary": "GET /api/weather/stats?station_id=USC00110072&year=1990&units=imperial",
        "value": {
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
    }
}
