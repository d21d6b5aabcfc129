"""Page envelopes, RFC 8288 links and keyset cursors shared by every list endpoint."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, get_origin
from urllib.parse import parse_qsl, urlencode

from fastapi import Request, Response
from pydantic import BaseModel

from weather_api.api.errors import ApiError, invalid
from weather_api.api.schemas import PagingQuery
from weather_api.db.paging import Key, PageRequest

_BAD_CURSOR = "malformed cursor: pass the cursor of a `next` link unchanged"
MAX_PAGE = 10_000_000  # as PagingQuery.page allows
_PAGING = ("page", "cursor")


def encode_cursor(page: int, key: Key) -> str:
    raw = json.dumps([page, [v.isoformat() if isinstance(v, dt.date) else v for v in key]])
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str, key_types: Sequence[Callable[[Any], Any]]) -> tuple[int, Key]:
    """The page number and the last key of the previous page, checked against the key's
    types so that a tampered cursor is a 422, never a database error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        page, values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(page, int) or not 2 <= page <= MAX_PAGE:
            raise ValueError
        if len(values) != len(key_types):
            raise ValueError
        key = tuple(t(v) for t, v in zip(key_types, values, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise invalid("cursor", _BAD_CURSOR) from None
    return page, key


def reject_repeated(request: Request, query: BaseModel) -> None:
    """A parameter that takes one value, given twice (``page=1&page=2``), is ambiguous:
    refuse it instead of silently keeping the last value."""
    fields = type(query).model_fields
    counts = Counter(name for name, _ in request.query_params.multi_items())
    repeated = [
        name
        for name, count in counts.items()
        if count > 1 and name in fields and get_origin(fields[name].annotation) is not list
    ]
    if repeated:
        message = "given more than once; it takes one value"
        raise ApiError(
            422,
            f"invalid request: {', '.join(repeated)}: {message}",
            errors=[{"param": name, "message": message} for name in repeated],
        )


def page_request(query: PagingQuery, key_types: Sequence[Callable[[Any], Any]]) -> PageRequest:
    """The page a query asks for: by number, or after the key its cursor carries."""
    if query.cursor is None:
        return PageRequest(query.page, query.page_size, None)
    if "page" in query.model_fields_set:
        raise invalid("page", "give page or cursor, not both")
    page, after = decode_cursor(query.cursor, key_types)
    return PageRequest(page, query.page_size, after)


def page_envelope(
    request: Request,
    response: Response,
    paging: PageRequest,
    items: list[dict[str, Any]],
    total: int,
    last_key: Key | None,
) -> dict[str, Any]:
    """The envelope (the route's response model, ``Page``) and its links, also sent as an
    RFC 8288 Link header."""
    pages = math.ceil(total / paging.size)
    # Every link is this URL with its page or cursor replaced (moved to the end): the rest
    # of the query is encoded once. A page number or cursor (URL-safe base64) needs no
    # encoding.
    url = request.url
    kept = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k not in _PAGING]
    rest = urlencode(kept)
    prefix = f"{url.replace(query='')}?{rest}{'&' if rest else ''}"

    def link(name: str, value: object) -> str:
        return f"{prefix}{name}={value}"

    def at(page: int) -> str:
        return link("page", page)

    following = None
    if paging.page < pages and last_key is not None:
        following = link("cursor", encode_cursor(paging.page + 1, last_key))
    links = {
        "self": str(url),
        "first": at(1),
        "prev": at(min(paging.page - 1, pages)) if paging.page > 1 and pages else None,
        "next": following,
        "last": at(pages) if pages else None,
    }
    response.headers["Link"] = ", ".join(
        f'<{href}>; rel="{rel}"' for rel, href in links.items() if href
    )
    return {
        "items": items,
        "page": paging.page,
        "page_size": paging.size,
        "total": total,
        "pages": pages,
        "links": links,
    }
