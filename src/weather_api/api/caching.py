"""Conditional GETs. Data changes only when a load commits and bumps the data version, so
that version is the validator: a client holding the current ETag gets a bodiless 304."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy import select

from weather_api.api.errors import ApiError
from weather_api.db.models import DataVersion
from weather_api.db.queries import Reader
from weather_api.db.versions import Version, VersionWatch

# Caches may keep a copy but must revalidate: a load can change the data at any time.
CACHE_CONTROL = "public, max-age=0, must-revalidate"
VARY = "Accept, Accept-Encoding"
# Built once: compiled once (``Reader``).
_CURRENT = select(DataVersion.version, DataVersion.changed_at)


GEOJSON = "application/geo+json"


def wants_geojson(request: Request) -> bool:
    """``format=geojson`` wins; without ``format``, an Accept header asking for GeoJSON."""
    fmt = request.query_params.get("format")
    if fmt is not None:
        return fmt == "geojson"
    return GEOJSON in request.headers.get("accept", "")


def _representation(request: Request) -> str:
    return "csv" if wants_csv(request) else "geojson" if wants_geojson(request) else "json"


def wants_csv(request: Request) -> bool:
    """``format=csv`` wins; without ``format``, an Accept header asking for CSV."""
    fmt = request.query_params.get("format")
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


@dataclass(frozen=True)
class Validators:
    headers: dict[str, str]
    # What the data looked like: (version, changed_at). The version alone repeats across
    # databases (each starts at 0); with the time of the change it names one state of the
    # data, so results derived from it can be cached until the next load.
    data_version: Hashable = None


def _matches(if_none_match: str, etag: str) -> bool:
    # Weak comparison (RFC 9110 13.1.2): W/ prefixes do not matter.
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


async def current_version(request: Request, reader: Reader) -> Version | None:
    """The process's watch, for reads of committed data only; a reader in a transaction of
    its own (a test's) may see its own change: it asks."""
    watch: VersionWatch | None = getattr(request.app.state, "versions", None)
    if watch is not None and reader.watched:
        return await watch.current()
    rows = await reader.rows(_CURRENT, {})
    return (rows[0]["version"], rows[0]["changed_at"]) if rows else None


async def conditional(request: Request, response: Response, reader: Reader) -> Validators:
    """The validators of a GET that reads data, set on ``response``; a bodiless 304 when the
    client's ETag is current. Routes call it first, rather than take it as a dependency:
    FastAPI's solving of one more dependency cost 0.18 M instructions of a one-row page's
    2.73 M (docs/benchmarks.md, Request path)."""
    row = await current_version(request, reader)
    version = row[0] if row else None
    etag = f'W/"{version}-{_representation(request)}"'
    # Vary as on the 200 a 304 stands for: its body depends on Accept (JSON, CSV or
    # GeoJSON) and on Accept-Encoding (gzipped or not).
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": VARY}
    if _matches(request.headers.get("if-none-match", ""), etag):
        raise ApiError(304, "not modified", headers=headers)
    response.headers.update(headers)
    return Validators(headers, row)
