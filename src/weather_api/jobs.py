"""/api/load: load jobs over HTTP, for an operator or a scheduler.

A POST validates the source, then claims the load lock and records a queued run before it
answers, so "started" (202) or "busy" (409) is decided at once, atomically, across every
process that shares the database. The load then runs as a task of this process; parsing
happens in a worker process, so reads keep being served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import BigInteger, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.datastructures import UploadFile
from starlette.types import Message

from weather_api.dependencies import SettingsDep, get_database
from weather_api.errors import ApiError
from weather_api.loader import Loader, LoadInProgressError, LoadSummary
from weather_api.models import LoadRun
from weather_api.pagination import PageRequest, page_envelope, reject_repeated
from weather_api.schemas import (
    LoadConflict,
    LoadJob,
    LoadRequest,
    Page,
    PagingQuery,
    Problem,
)
from weather_api.security import ADMIN_RESPONSES, require_admin
from weather_api.settings import Settings
from weather_api.sources import SourceError, SourceLimits, check_url, inside, redacted

log = logging.getLogger(__name__)

# A cancelled load stops within a file's transaction; this only bounds a stuck one.
SHUTDOWN_WAIT_S = 10.0
_JSON_LIMIT = 64 * 1024
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Staged:
    """A validated source, ready for the loader; uploads live in ``upload_dir``."""

    sources: list[str]
    label: str
    limits: SourceLimits
    upload_dir: Path | None = None

    def discard(self) -> None:
        if self.upload_dir is not None:
            shutil.rmtree(self.upload_dir, ignore_errors=True)


class LoadJobs:
    """Starts loads and keeps their tasks; the app's lifespan owns it and stops it last."""

    def __init__(self, engine: AsyncEngine, limits: SourceLimits) -> None:
        self.engine = engine
        self.limits = limits  # the API's: allowed hosts only
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, staged: Staged) -> int:
        """Claim the load lock, then load in the background; the run's id. Raises
        LoadInProgressError. The staged uploads are removed when the load ends."""
        loader = Loader(self.engine, staged.limits)
        try:
            claim = await loader.claim(source=staged.label, trigger="api")
        except BaseException:
            staged.discard()
            raise
        task = asyncio.create_task(self._run(loader.load(claim, staged.sources), staged))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return claim.run_id

    @staticmethod
    async def _run(load: Coroutine[Any, Any, LoadSummary], staged: Staged) -> None:
        try:
            await load
        except Exception:
            # The run already records the failure; this keeps the traceback for operators.
            log.exception("load job ended with an internal error")
        finally:
            staged.discard()

    async def stop(self) -> None:
        """Cancel running loads, each marking its run interrupted, and wait for them."""
        tasks = set(self._tasks)
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
        if pending:
            log.warning(
                "%d load(s) still running after %.0f s; the next start marks them interrupted",
                len(pending),
                SHUTDOWN_WAIT_S,
            )


def get_load_jobs(request: Request) -> LoadJobs:
    jobs: LoadJobs = request.app.state.load_jobs
    return jobs


async def get_primary_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Jobs are read from the primary: a replica could lag behind a job just started."""
    async with AsyncSession(get_database(request).engine) as session:
        yield session


LoadJobsDep = Annotated[LoadJobs, Depends(get_load_jobs)]
PrimarySessionDep = Annotated[AsyncSession, Depends(get_primary_session)]


def _capped(request: Request, limit: int, what: str) -> Request:
    """The request, its body refused with 413 once it exceeds ``limit`` bytes: checked as
    bytes arrive, so an oversize upload never reaches the disk whole."""
    too_large = ApiError(413, f"{what} exceeds {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large
        return message

    return Request(request.scope, receive)


def _exists(source: str, root: Path) -> None:
    path = inside(source, root)
    try:
        found = path.exists()
    except OSError as exc:  # a name too long for the file system, say: the client's mistake
        raise SourceError(f"{source}: not a usable path ({exc.strerror})") from None
    if not found:
        raise SourceError(f"{source}: no such file or directory in the data root {root}")


async def _stage_source(source: str, settings: Settings, limits: SourceLimits) -> Staged:
    """A path inside the data root or an allowed URL, checked now so that a bad one is a 400
    rather than a failed job. The loader checks again when it reads."""
    if "://" in source:
        await check_url(source, limits)
        return Staged([source], redacted(source), limits)
    root = settings.data_root.resolve()
    await asyncio.to_thread(_exists, source, root)
    return Staged([source], source, replace(limits, root=root))


def _upload_name(filename: str | None, taken: set[str]) -> str:
    # Only the last component: a client's directories mean nothing here.
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    if name in ("", ".", "..") or "\x00" in name:
        raise ApiError(400, f"upload {filename!r} has no usable file name")
    if name in taken:
        raise ApiError(400, f"two uploads are named {name!r}")
    taken.add(name)
    return name


def _save(src: IO[bytes], target: Path) -> None:
    with target.open("wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


async def _stage_uploads(request: Request, settings: Settings, limits: SourceLimits) -> Staged:
    capped = _capped(request, settings.max_upload_bytes, "upload (WEATHER_MAX_UPLOAD_BYTES)")
    directory = Path(tempfile.mkdtemp(prefix="weather-upload-"))
    try:
        names: list[str] = []
        async with capped.form() as form:
            for _, value in form.multi_items():
                if isinstance(value, UploadFile):
                    name = _upload_name(value.filename, set(names))
                    await asyncio.to_thread(_save, value.file, directory / name)
                    names.append(name)
        if not names:
            raise ApiError(400, "no file in the multipart body: send files as form fields")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    label = "upload: " + ", ".join(names)
    # Upload names are relative to their directory, which is also their root.
    return Staged(names, label, replace(limits, root=directory), directory)


async def _stage(request: Request, settings: Settings, limits: SourceLimits) -> Staged:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _stage_uploads(request, settings, limits)
    body = await _capped(request, _JSON_LIMIT, "JSON body").body()
    source = None
    if media == "application/json":
        try:
            source = LoadRequest.model_validate_json(body).source
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
    elif body:
        raise ApiError(415, 'send JSON {"source": ...}, multipart/form-data files, or no body')
    try:
        return await _stage_source(source or settings.data_source, settings, limits)
    except SourceError as exc:
        raise ApiError(400, str(exc)) from None


def _cursor_id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError
    return value


router = APIRouter(
    prefix="/api/load",
    tags=["load"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)

_REQUEST_BODY = {
    "requestBody": {
        "required": False,
        "description": "JSON naming a source, or files to upload; no body loads "
        "WEATHER_DATA_SOURCE.",
        "content": {
            "application/json": {"schema": LoadRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Station files (USC00110072.txt), yield files "
                            "(US_corn_grain_yield.txt) or .zip/.tar.gz archives of them.",
                        }
                    },
                    "required": ["files"],
                }
            },
        },
    }
}


@router.post(
    "",
    summary="Start a load",
    status_code=202,
    response_model=LoadJob,
    openapi_extra=_REQUEST_BODY,
    responses={
        202: {
            "description": "Started; follow Location for its progress.",
            "headers": {
                "Location": {
                    "description": "The job, /api/load/{job_id}.",
                    "schema": {"type": "string"},
                }
            },
        },
        400: {
            "model": Problem,
            "description": "A source outside the data root, a host not allowed, or an "
            "unusable upload.",
        },
        409: {
            "description": "Another load is running; `job_id` names it.",
            "content": {"application/problem+json": {"schema": LoadConflict.model_json_schema()}},
        },
        413: {"model": Problem, "description": "Upload larger than WEATHER_MAX_UPLOAD_BYTES."},
        415: {"model": Problem, "description": "Neither JSON, multipart nor empty."},
        422: {"model": Problem, "description": "Invalid JSON body."},
    },
)
async def start_load(
    request: Request,
    response: Response,
    settings: SettingsDep,
    jobs: LoadJobsDep,
    session: PrimarySessionDep,
) -> Any:
    """Start loading station and yield files in the background. One load runs at a time,
    across all servers and the CLI; files are stored in batches of one transaction each,
    and the yearly stats and the data version (the ETag) follow each batch."""
    staged = await _stage(request, settings, jobs.limits)
    try:
        job_id = await jobs.start(staged)
    except LoadInProgressError as exc:
        running = f": job {exc.run_id}, at /api/load/{exc.run_id}" if exc.run_id else ""
        raise ApiError(
            409, f"another load is running{running}", extra={"job_id": exc.run_id}
        ) from None
    response.headers["Location"] = f"/api/load/{job_id}"
    return LoadJob.model_validate(await session.get_one(LoadRun, job_id), from_attributes=True)


@router.get(
    "",
    summary="Load jobs",
    response_model=Page[LoadJob],
    responses={
        200: {"description": "A page of jobs, newest first."},
        422: {"model": Problem, "description": "Invalid paging parameters."},
    },
)
async def list_loads(
    request: Request,
    response: Response,
    query: Annotated[PagingQuery, Query()],
    session: PrimarySessionDep,
) -> Any:
    """Recent loads, newest first, whichever started them (API, CLI or autoload)."""
    reject_repeated(request, query)
    paging = PageRequest.from_query(query, (_cursor_id,))
    stmt = select(*LoadRun.__table__.columns).order_by(LoadRun.id.desc()).limit(paging.size)
    if paging.after is not None:
        stmt = stmt.where(LoadRun.id < paging.after[0])
    else:
        stmt = stmt.offset(literal(paging.offset, BigInteger()))  # may be past int4
    total = await session.scalar(select(func.count()).select_from(LoadRun)) or 0
    rows = [dict(row) for row in (await session.execute(stmt)).mappings()]
    last = (rows[-1]["id"],) if rows else None
    return page_envelope(request, response, paging, rows, total, last)


@router.get(
    "/{job_id}",
    summary="One load job",
    response_model=LoadJob,
    responses={
        200: {"description": "The job."},
        404: {"model": Problem, "description": "No such job."},
        422: {"model": Problem, "description": "Not a job id."},
    },
)
async def get_load(
    job_id: Annotated[int, PathParam(ge=1, le=2**63 - 1, description="Job id.", examples=[42])],
    session: PrimarySessionDep,
) -> Any:
    """Status and progress, then the summary; rejected files with their line numbers."""
    run = await session.get(LoadRun, job_id)
    if run is None:
        raise ApiError(404, f"no load job {job_id}")
    return LoadJob.model_validate(run, from_attributes=True)
