"""/api/load: load jobs over HTTP, for an operator or a scheduler.

A POST validates the source (a path inside the data root, an allowed URL, or uploaded
files) so that a bad one is a 400 rather than a failed job, then hands it to the job
service, which answers "started" (202) or "busy" (409) at once.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.types import Message

from weather_api.api import examples
from weather_api.api.dependencies import QueryModel, SettingsDep, get_database
from weather_api.api.errors import ApiError
from weather_api.api.pagination import page_envelope, page_request, reject_repeated
from weather_api.api.schemas import (
    LoadConflict,
    LoadJob,
    LoadRequest,
    Page,
    PagingQuery,
    Problem,
)
from weather_api.api.security import ADMIN_RESPONSES, require_admin
from weather_api.db.models import LoadRun
from weather_api.db.queries import LoadRepository
from weather_api.ingest.jobs import LoadJobs, Staged
from weather_api.ingest.loader import LoadInProgressError
from weather_api.ingest.sources import (
    SourceError,
    SourceLimits,
    bounded,
    check_url,
    inside,
    is_url,
    redacted,
    shown,
)
from weather_api.settings import Settings

_JSON_LIMIT = 64 * 1024
_NAME_MAX = 255  # bytes in a file name on Linux's file systems
_CHUNK = 1 << 20


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
        raise SourceError(f"{shown(source)}: not a usable path ({exc.strerror})") from None
    if not found:
        raise SourceError(f"{shown(source)}: no such file or directory in the data root {root}")


async def _stage_source(source: str, settings: Settings, limits: SourceLimits) -> Staged:
    """A path inside the data root or an allowed URL, checked now so that a bad one is a 400
    rather than a failed job. The loader checks again when it reads."""
    if is_url(source):
        await check_url(source, limits)
        return Staged([source], redacted(source), limits)
    root = settings.data_root.resolve()
    await asyncio.to_thread(_exists, source, root)
    return Staged([source], shown(source), replace(limits, root=root))


def _upload_name(filename: str | None, taken: set[str]) -> str:
    # Only the last component: a client's directories mean nothing here.
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    if name in ("", ".", "..") or "\x00" in name:
        raise ApiError(400, f"upload '{shown(filename or '')}' has no usable file name")
    if len(name.encode()) > _NAME_MAX:
        raise ApiError(
            400,
            f"upload name '{shown(name[:40])}'... is {len(name.encode())} bytes; "
            f"at most {_NAME_MAX}",
        )
    if name in taken:
        raise ApiError(400, f"two uploads are named '{shown(name)}'")
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
    label = bounded("upload: " + ", ".join(map(shown, names)))
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


router = APIRouter(
    prefix="/api/load",
    tags=["load"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)
paging_query = QueryModel(PagingQuery)

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
        200: {
            "description": "A page of jobs, newest first.",
            "content": {"application/json": {"examples": examples.named(examples.LOADS_PAGE)}},
        },
        422: {"model": Problem, "description": "Invalid paging parameters."},
    },
    openapi_extra=paging_query.openapi,
)
async def list_loads(
    request: Request,
    response: Response,
    query: Annotated[PagingQuery, Depends(paging_query)],
    session: PrimarySessionDep,
) -> Any:
    """Recent loads, newest first, whichever started them (API, CLI or autoload)."""
    reject_repeated(request, query)
    paging = page_request(query, LoadRepository.KEY_TYPES)
    rows, total = await LoadRepository(session).page(paging)
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
    job_id: Annotated[int, PathParam(ge=1, le=2**63 - 1, description="Job id.", examples=[1])],
    session: PrimarySessionDep,
) -> Any:
    """Status and progress, then the summary; rejected files with their line numbers."""
    run = await session.get(LoadRun, job_id)
    if run is None:
        raise ApiError(404, f"no load job {job_id}")
    return LoadJob.model_validate(run, from_attributes=True)
