"""One error type and its handlers: every error leaves as RFC 9457 problem+json."""

from __future__ import annotations

import errno
import logging
import traceback
from http import HTTPStatus
from typing import Any

from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from asyncpg.exceptions import PostgresError
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from weather_api.db.pool import ReadPoolTimeoutError

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
    # ("query", "page") -> "page", ("query", "state", 0) -> "state": parameters as a user
    # writes them, without the index of a repeated one. A whole-model error has no field:
    # name the location.
    names = [part for part in loc[1:] if isinstance(part, str)]
    return ".".join(names) if names else str(loc[0]) if loc else "request"


def _message(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown parameter"
    ctx = error.get("ctx") or {}
    if "expected" in ctx and str(ctx["expected"]) not in message:
        message += f" (allowed: {ctx['expected']})"
    return message


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status == 304:
        return Response(status_code=304, headers=exc.headers)
    return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers, extra=exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Once each: two bad values of a repeated parameter share one message.
    pairs = dict.fromkeys((_param(tuple(e["loc"])), _message(e)) for e in exc.errors())
    errors = [{"param": param, "message": message} for param, message in pairs]
    names = ", ".join(dict.fromkeys(e["param"] for e in errors))
    return problem(422, f"invalid request: {names}", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return problem(exc.status_code, str(exc.detail), headers=headers or None)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path: Starlette's 405 names only those of the
    first route it matched, but RFC 9110 asks for all the resource supports."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    if "GET" in allowed and "HEAD" not in allowed:  # served by middleware.Head
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return ", ".join(allowed)


def database_unavailable(exc: BaseException) -> bool:
    """Errors that mean "the database cannot answer now", not "this request is wrong"."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | ReadPoolTimeoutError):
        return True
    if isinstance(exc, OSError):
        return _raised_by_driver(exc)
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        # SQLAlchemy's asyncpg adapter wraps asyncpg's exception (its __cause__) in a
        # generic Error carrying the SQLSTATE.
        errors: tuple[object, ...] = (exc.orig, getattr(exc.orig, "__cause__", None))
    else:
        errors = (exc,)  # asyncpg's own: CSV exports COPY on the driver's connection
    for error in errors:
        state = getattr(error, "sqlstate", None)
        if type(error).__name__ in _UNAVAILABLE_CAUSES or (
            isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES)
        ):
            return True
    return False


def _raised_by_driver(exc: OSError) -> bool:
    """An OSError from connecting to the database (refused, unreachable, its socket gone)
    comes through asyncpg or SQLAlchemy's pool unwrapped; one from anywhere else (a file
    name too long, a full disk) is not the database's."""
    return any(
        frame.f_globals.get("__name__", "").startswith(("asyncpg.", "sqlalchemy."))
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


# asyncpg's names: statement timeout, server shutting down, cannot connect now.
_UNAVAILABLE_CAUSES = {
    "QueryCanceledError",
    "AdminShutdownError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "TooManyConnectionsError",
}
# The same as SQLSTATEs: connection exceptions (class 08), operator intervention (57P01
# admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now: starting or stopping),
# query canceled (57014: statement_timeout), too many connections (53300).
_UNAVAILABLE_STATES = ("08", "57P0", "57014", "53300")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Database and operating-system errors: 503 only when the database cannot answer."""
    if database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem(
            503,
            "the database is unavailable; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        log.error("out of disk space on %s %s: %s", request.method, request.url.path, exc)
        return problem(507, "the server is out of disk space; it has been logged")
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal error; it has been logged")


_PROBLEM_REF = "#/components/schemas/Problem"


def _document_problems(app: FastAPI) -> None:
    """Responses declared with the ``Problem`` model leave as application/problem+json (the
    handlers above), but FastAPI documents every model under application/json: move them,
    so that clients and schema checkers expect the media type they will get. FastAPI's own
    422 (``HTTPValidationError``, for routes that declare none) becomes a Problem too: that
    is what ``_validation_error`` sends."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            has_problem = "Problem" in document.get("components", {}).get("schemas", {})
            items = document.get("paths", {}).values()
            operations = [op for item in items for op in item.values() if isinstance(op, dict)]
            for operation in operations:
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                    if ref == _PROBLEM_REF:
                        content[PROBLEM] = content.pop("application/json")
                    elif ref.endswith("/HTTPValidationError") and has_problem:
                        content.pop("application/json")
                        content[PROBLEM] = {"schema": {"$ref": _PROBLEM_REF}}
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json, and the OpenAPI document says so."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    database_errors = (
        DBAPIError,
        PoolTimeoutError,
        ReadPoolTimeoutError,
        OSError,
        PostgresError,
        DriverInterfaceError,
    )
    for exc_type in database_errors:
        app.add_exception_handler(exc_type, _database_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_problems(app)
