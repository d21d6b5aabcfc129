"""The admin guard: a bearer token equal to WEATHER_ADMIN_TOKEN, declared in OpenAPI so that
/docs offers "Authorize". Read endpoints do not use it."""

from __future__ import annotations

import hmac
import logging
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
}


async def require_admin(request: Request, settings: SettingsDep, credentials: Credentials) -> None:
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        raise ApiError(
            403,
            "admin endpoints are disabled: set WEATHER_ADMIN_TOKEN on the server to enable "
            "them, then send it as 'Authorization: Bearer <token>'",
        )
    given = credentials.credentials if credentials else ""
    # Constant time, so response timing does not reveal how much of a guess was right.
    if not hmac.compare_digest(given.encode(), token.encode()):
        client = request.client.host if request.client else "unknown"
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
