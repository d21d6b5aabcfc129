"""One error type and its handlers: every error leaves as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
RETRY_AFTER_S = 5


class ApiError(Exception):
    """An error the client should see: status, a human detail and, for bad input, the
    parameters at fault."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors
        self.headers, self.extra = headers or {}, extra or {}


def invalid(param: str, message: str) -> ApiError:
    errors = [{"param": param, "message": message}]
    return ApiError(422, f"invalid parameter {param}: {message}", errors=errors)


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    # "about:blank": the status code says it all, its phrase is the title (RFC 9457 4.2.1).
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body |= extra or {}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def _param(loc: tuple[int | str, ...]) -> str:
    # ("query", "page") -> "page"; a whole-model error has no field: name the location.
    names = [str(part) for part in loc[1:]]
    return ".".join(names) if names else str(loc[0]) if loc else "request"


def _message(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown parameter"
    ctx = error.get("ctx") or {}
    if "expected" in ctx:
        message += f" (allowed: {ctx['expected']})"
    return message


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status == 304:
        return Response(status_code=304, headers=exc.headers)
    return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers, extra=exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"param": _param(tuple(e["loc"])), "message": _message(e)} for e in exc.errors()]
    names = ", ".join(dict.fromkeys(e["param"] for e in errors))
    return problem(422, f"invalid request: {names}", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), headers=headers)


def _unavailable(exc: Exception) -> bool:
    """Errors that mean "the database cannot answer now", not "this request is wrong"."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        cause = type(exc.orig).__name__ if exc.orig is not None else ""
        return exc.connection_invalidated or cause in _UNAVAILABLE_CAUSES
    return False


# asyncpg's names: statement timeout, server shutting down, cannot connect now.
_UNAVAILABLE_CAUSES = {
    "QueryCanceledError",
    "AdminShutdownError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "TooManyConnectionsError",
}


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not _unavailable(exc):
        return await _unexpected(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem(
        503,
        "the database is unavailable; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(exc_type, _database_error)
    app.add_exception_handler(Exception, _unexpected)
