"""The one place where stored units become served units.

Observations are stored as the files give them: integer tenths of °C and tenths of mm.
These build exact (numeric) SQL expressions; callers decide rounding and output type.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Numeric, SQLColumnExpression, cast


def _scaled(tenths: SQLColumnExpression[Any], divisor: int) -> ColumnElement[Any]:
    return cast(tenths, Numeric) / divisor


def celsius(tenths_c: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Tenths of °C → °C."""
    return _scaled(tenths_c, 10)


def millimetres(tenths_mm: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Tenths of mm → mm."""
    return _scaled(tenths_mm, 10)


def centimetres(tenths_mm: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """Tenths of mm → cm."""
    return _scaled(tenths_mm, 100)
