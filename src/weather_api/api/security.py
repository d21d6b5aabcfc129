"""The admin guard: a bearer token equal to WEATHER_ADMIN_TOKEN, declared in OpenAPI so that
/docs offers "Authorize". Read endpoints do not use it."""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from weather_api.api.dependencies import SettingsDep
from weather_api.api.errors import ApiError
from weather_api.api.schemas import Problem

log = logging.getLogger(__name__)

# auto_error=False: a missing header is answered below, as problem+json like every error.
bearer = HTTPBearer(
    scheme_name="AdminToken",
    description="The server's WEATHER_ADMIN_TOKEN, sent as `Authorization: Bearer <token>`.",
    auto_error=False,
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "Missing or wrong bearer token.",
        "headers": {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    },
    403: {
        "model": Problem,
        "description": "Admin endpoints are disabled: WEATHER_ADMIN_TOKEN is not set.",
    },
    429: {
        "model": Problem,
        "description": "Too many wrong tokens from this address; see Retry-After.",
        "headers": {"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}},
    },
}


class FailedAttempts:
    """Wrong bearer tokens per client address in fixed windows: past ``limit`` in one, the
    address is refused until the window ends, whatever it sends. Bounded: the table keeps
    the ``capacity`` addresses seen last, so a flood of addresses costs memory no more than
    that (it can only push older addresses out early)."""

    def __init__(self, limit: int, window_s: float, capacity: int = 10_000) -> None:
        self.limit, self.window_s, self.capacity = limit, window_s, capacity
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()  # start, failures

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if it may now."""
        entry = self._windows.get(address)
        if entry is None:
            return None
        started, failures = entry
        left = started + self.window_s - time.monotonic()
        if left <= 0:
            del self._windows[address]
            return None
        return math.ceil(left) if failures >= self.limit else None

    def fail(self, address: str) -> None:
        now = time.monotonic()
        started, failures = self._windows.pop(address, (now, 0))
        if now - started >= self.window_s:
            started, failures = now, 0
        self._windows[address] = (started, failures + 1)
        while len(self._windows) > self.capacity:
            self._windows.popitem(last=False)


async def require_admin(request: Request, settings: SettingsDep, credentials: Credentials) -> None:
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        raise ApiError(
            403,
            "admin endpoints are disabled: set WEATHER_ADMIN_TOKEN on the server to enable "
            "them, then send it as 'Authorization: Bearer <token>'",
        )
    given = credentials.credentials if credentials else ""
    client = request.client.host if request.client else "unknown"
    attempts: FailedAttempts = request.app.state.failed_auth
    if (wait_s := attempts.retry_after(client)) is not None:
        raise ApiError(
            429,
            f"too many wrong admin tokens from {client}; try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    # Constant time, so response timing does not reveal how much of a guess was right.
    if not hmac.compare_digest(given.encode(), token.encode()):
        if given:  # a guess; a missing header guesses nothing
            attempts.fail(client)
        log.warning(
            "refused %s %s from %s: %s bearer token",
            request.method,
            request.url.path,
            client,
            "wrong" if given else "no",
        )
        raise ApiError(
            401,
            "send the admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="weather-api"'},
        )
