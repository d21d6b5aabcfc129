"""Every filter a list's query model accepts is one its repository applies."""

from __future__ import annotations

import pytest

from weather_api.api.schemas import PageQuery, StationsQuery, StatsQuery, WeatherQuery, YieldQuery
from weather_api.db.queries import (
    ListRepository,
    StationRepository,
    StatsRepository,
    WeatherRepository,
    YieldRepository,
)


@pytest.mark.parametrize(
    ("query", "repository"),
    [
        (WeatherQuery, WeatherRepository),
        (StatsQuery, StatsRepository),
        (StationsQuery, StationRepository),
        (YieldQuery, YieldRepository),
    ],
)
def test_query_filters_are_repository_filters(
    query: type[PageQuery], repository: type[ListRepository]
) -> None:
    assert set(query().filters) <= set(repository.FILTERS)


def test_shortcuts_become_the_filters_they_stand_for() -> None:
    day = WeatherQuery.model_validate({"date": "1990-07-04"}).filters
    assert (str(day["start_date"]), str(day["end_date"])) == ("1990-07-04", "1990-07-04")
    year = StatsQuery.model_validate({"date": "1990-07-04"}).filters
    assert (year["start_year"], year["end_year"]) == (1990, 1990)
    assert "date" not in day
    assert "date" not in year
    assert "year" not in year


def test_an_unknown_filter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no such filter: elevation"):
        StationRepository(reader=None).select_items({"elevation": 300})  # type: ignore[arg-type]
