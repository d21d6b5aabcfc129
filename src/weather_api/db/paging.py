"""What a page of a list is, as the queries see it: an offset, or a position after a key.

The key types check a value taken from a client's cursor before it reaches a query: a
value of the wrong type, or out of its column's range, would otherwise fail there."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

Key = tuple[Any, ...]


@dataclass(frozen=True)
class PageRequest:
    page: int
    size: int
    after: Key | None  # keyset position from a cursor, else None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def key_str(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError
    return value


def key_year(value: Any) -> int:
    """Years are smallint columns."""
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 32_767:
        raise ValueError
    return value


def key_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(key_str(value))


def key_id(value: Any) -> int:
    """Positive bigint ids."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
        raise ValueError
    return value


def key_distance(value: Any) -> float:
    """Distances in km, as served: finite, between 0 and half the Earth's circumference."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 21_000:
        raise ValueError
    return float(value)
