"""The one place where stored units become served units.

Observations are stored as the files give them: integer tenths of °C and tenths of mm;
station elevations as metres. These build exact (numeric) SQL expressions; callers round
once, at the end, and decide the output type. One exception, exact all the same: a daily
value in metric units (``daily``).

Units are a choice per request: ``metric`` (°C, mm, cm, m) or ``imperial`` (°F, inches,
feet), and a served column's name ends with its unit, so the two never mix up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    SQLColumnExpression,
    cast,
    func,
    literal,
    literal_column,
)

Units = Literal["metric", "imperial"]
UNITS: tuple[Units, ...] = ("metric", "imperial")


def _scaled(tenths: SQLColumnExpression[Any], divisor: int) -> ColumnElement[Any]:
    return cast(tenths, Numeric) / divisor


def _exact(decimal: str) -> ColumnElement[Any]:
    """A numeric constant written into the SQL: a float parameter would make the whole
    expression float (inexact)."""
    return literal_column(decimal, Numeric)


def celsius(tenths_c: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Tenths of °C → °C."""
    return _scaled(tenths_c, 10)


def centimetres(tenths_mm: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Tenths of mm → cm."""
    return _scaled(tenths_mm, 100)


def fahrenheit(celsius: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """°C (exact numeric, e.g. ``celsius(tenths)``) → °F: tenths * 0.18 + 32."""
    return cast(celsius, Numeric) * _exact("1.8") + 32


def fahrenheit_mean(mean_c: SQLColumnExpression[Any], count: Any) -> ColumnElement[Any]:
    """The mean in °F of ``count`` values whose mean in °C is ``mean_c``, dividing last:
    the stored mean is a rounded quotient, so converting it could land a hair off a
    rounding tie that exact arithmetic hits. The sum it stands for is a whole number of
    tenths, recovered exactly by rounding."""
    total_c = celsius(func.round(cast(mean_c, Numeric) * 10 * count))
    total_f: ColumnElement[Any] = total_c * _exact("1.8")
    mean_f: ColumnElement[Any] = total_f / count + 32
    return mean_f


def fahrenheit_difference(celsius: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """A temperature difference in °C (an anomaly, degree days) → °F: times 1.8, no + 32."""
    return cast(celsius, Numeric) * _exact("1.8")


def inches(centimetres: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """cm (exact numeric, e.g. ``centimetres(tenths)``) → inches: tenths of mm / 254."""
    return cast(centimetres, Numeric) / _exact("2.54")


def feet(metres: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Metres → feet: m / 0.3048."""
    return cast(metres, Numeric) / _exact("0.3048")


# Each served measurement by its metric name: the decimals it is rounded to, then its
# imperial name, conversion from the exact metric value and decimals.
_MEASURES: dict[str, tuple[int | None, str, Callable[[Any], ColumnElement[Any]], int]] = {
    "max_temp_c": (None, "max_temp_f", fahrenheit, 1),
    "min_temp_c": (None, "min_temp_f", fahrenheit, 1),
    "precipitation_mm": (None, "precipitation_in", lambda mm: inches(mm / 10), 2),
    "avg_max_temp_c": (2, "avg_max_temp_f", fahrenheit, 2),
    "avg_min_temp_c": (2, "avg_min_temp_f", fahrenheit, 2),
    "total_precipitation_cm": (2, "total_precipitation_in", inches, 2),
    "avg_total_precipitation_cm": (2, "avg_total_precipitation_in", inches, 2),
    "elevation_m": (None, "elevation_ft", feet, 1),
    # The climate figures (db.climate). Degree days: `gdd` and `edd` are °C·days, their
    # imperial names end in `_f`: °F·days, 1.8 times as many (a difference, so no + 32).
    "total_precipitation_mm": (2, "total_precipitation_in", lambda mm: inches(mm / 10), 2),
    "gdd": (2, "gdd_f", fahrenheit_difference, 2),
    "edd": (2, "edd_f", fahrenheit_difference, 2),
    "avg_max_temp_anomaly_c": (2, "avg_max_temp_anomaly_f", fahrenheit_difference, 2),
    "avg_min_temp_anomaly_c": (2, "avg_min_temp_anomaly_f", fahrenheit_difference, 2),
    "total_precipitation_anomaly_mm": (
        2,
        "total_precipitation_anomaly_in",
        lambda mm: inches(mm / 10),
        2,
    ),
}


def served_name(metric_name: str, units: Units) -> str:
    """A measurement's name in ``units``, e.g. ``max_temp_f`` for ``max_temp_c``."""
    return metric_name if units == "metric" else _MEASURES[metric_name][1]


def served_names(names: Sequence[str], units: Units) -> tuple[str, ...]:
    """Column names in ``units``: each measurement's served name, the others as they are."""
    return tuple(served_name(n, units) if n in _MEASURES else n for n in names)


def daily(metric_name: str, tenths: SQLColumnExpression[Any], units: Units) -> ColumnElement[Any]:
    """A stored daily value (integer tenths of °C or of mm) as the measurement
    ``metric_name``, e.g. ``max_temp_c``.

    In metric units the tenths are divided in double precision: IEEE division rounds the
    exact quotient to the nearest double, the float that converting the exact numeric
    quotient gives, for every smallint (``tests/db/test_units.py``), at about half of
    PostgreSQL's CPU for a page of observations (docs/benchmarks.md, Request path)."""
    if units == "metric":
        return (cast(tenths, Float) / literal(10.0, Float)).label(metric_name)
    return measure(metric_name, _scaled(tenths, 10), units)


def measure(
    metric_name: str,
    metric: SQLColumnExpression[Any],
    units: Units,
    *,
    count: SQLColumnExpression[Any] | None = None,
) -> ColumnElement[Any]:
    """The measurement ``metric_name`` (e.g. ``max_temp_c``) from its exact metric value,
    converted to ``units``, rounded once at the end, as a float labelled with its name.
    ``count``: for a mean temperature, the number of values it stands on (see
    ``fahrenheit_mean``)."""
    digits, _, convert, imperial_digits = _MEASURES[metric_name]
    value: ColumnElement[Any] = cast(metric, Numeric)
    if units == "imperial":
        value = convert(value) if count is None else fahrenheit_mean(value, count)
        digits = imperial_digits
    if digits is not None:
        value = func.round(value, digits)
    return cast(value, Float).label(served_name(metric_name, units))
