"""GET /api/yield, alone and beside the weather."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

from fastapi import FastAPI
from httpx import AsyncClient

from tests.sample import STATIONS, YIELDS, read_days, yearly


async def test_yield_per_year(client: AsyncClient, app: FastAPI) -> None:
    response = await client.get(app.url_path_for("list_yield"))
    assert response.status_code == 200
    assert response.json()["items"] == [
        {"year": year, "corn_grain_yield_kt": kt, "weather": None} for year, kt in YIELDS.items()
    ]
    one = await client.get(app.url_path_for("list_yield"), params={"year": 1986})
    assert [i["year"] for i in one.json()["items"]] == [1986]


async def test_include_weather_gives_station_means(
    client: AsyncClient, app: FastAPI, sample_dir: Path
) -> None:
    days = read_days(sample_dir)
    response = await client.get(
        app.url_path_for("list_yield"), params={"include": "weather", "start_year": 1986}
    )
    (item,) = response.json()["items"]
    stats = [yearly(days, s, 1986) for s in STATIONS]

    def mean(key: str) -> float:
        return round(fmean(float(s[key]) for s in stats if s[key] is not None), 2)  # type: ignore[arg-type]

    assert item["weather"] == {
        "stations": 3,
        "avg_max_temp_c": mean("avg_max_temp_c"),
        "avg_min_temp_c": mean("avg_min_temp_c"),
        "avg_total_precipitation_cm": mean("total_precipitation_cm"),
    }
