"""The loader shared by the CLI, the start-up autoload and the API's load jobs.

Files are validated in a worker process while earlier files are copied, so parsing
costs no wall time and never blocks the event loop. Files are stored in batches, one
transaction each: the rows, the yearly stats and summaries of their stations, their
checksums, the run's progress and the data version commit together, so a killed load
leaves every file fully in or not at all. Up to LOAD_WRITERS batches are written at once,
on connections of their own; batches in flight together never share a station, and one
with a yield file or a station list is written alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from asyncpg import PostgresError
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from weather_api.db.engine import LOAD_WRITERS
from weather_api.db.models import (
    STATE_CODES,
    UNFINISHED,
    DataVersion,
    JobStatus,
    LoadRun,
    SourceFile,
)
from weather_api.db.stats import (
    refresh_station_summaries,
    refresh_stats,
    repair_station_summaries,
)
from weather_api.db.versions import note_change
from weather_api.ingest.parsing import (
    DataFileError,
    Prepared,
    Unchanged,
    file_key,
    prepare,
    start_worker,
)
from weather_api.ingest.sources import (
    MAX_NAME_CHARS,
    DataFile,
    SourceError,
    SourceLimits,
    bounded,
    printable,
    redacted,
    resolve,
)

log = logging.getLogger(__name__)

# One load at a time across every process that shares the database.
LOAD_LOCK_KEY = 0x57454154  # "WEAT"
# COOP ids (USC00 + 6 digits) start with a 2-digit state code.
# A batch is the next file and those after it that the worker has already parsed, up to
# _BATCH_RECORDS rows: per-file statements, stats queries and commits took as long as
# the COPY of the rows, and a batch pays for them once.
_LOOKAHEAD = 32
_BATCH_RECORDS = 200_000
# A run keeps this many file errors; files_failed counts them all. Its errors column is
# rewritten with every batch, so it must not grow with the number of files.
MAX_ERRORS = 100
Parsed = Prepared | Unchanged | DataFileError
# The columns of ghcnd-stations.txt, in the order of the stations table and of the payload.
_STATION_METADATA = (
    "state",
    "name",
    "latitude",
    "longitude",
    "elevation",
    "gsn",
    "hcn_crn",
    "wmo_id",
)


class LoadInProgressError(RuntimeError):
    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"another load is running (job {run_id})")
        self.run_id = run_id


@dataclass
class LoadSummary:
    run_id: int
    source: str
    status: JobStatus = JobStatus.RUNNING
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    duration_s: float | None = None
    files_total: int = 0
    files_done: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    records_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None

    def fail(self, file: str, line: int | None, message: str) -> None:
        self.files_failed += 1
        file, message = bounded(printable(file), MAX_NAME_CHARS), bounded(printable(message))
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"file": file, "line": line, "message": message})
        log.error("rejected %s%s: %s", file, f" line {line}" if line else "", message)

    @property
    def errors_omitted(self) -> int:
        """Failed files beyond the MAX_ERRORS whose errors are kept."""
        return self.files_failed - len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors_omitted"] = self.errors_omitted
        for key in ("started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    def progress_values(self) -> dict[str, Any]:
        """The LoadRun columns this summary keeps up to date."""
        data = asdict(self)
        return {k: v for k, v in data.items() if k not in ("run_id", "source", "duration_s")}


ProgressCallback = Callable[[LoadSummary], Awaitable[None] | None]


def state_of(station_id: str) -> str | None:
    return STATE_CODES.get(station_id[5:7]) if station_id.startswith("USC00") else None


async def create_run(conn: AsyncConnection, *, source: str, trigger: str) -> int:
    result = await conn.execute(
        insert(LoadRun).values(source=source, trigger=trigger).returning(LoadRun.id)
    )
    return result.scalar_one()


async def mark_interrupted(conn: AsyncConnection, *, except_run: int | None = None) -> int:
    """Runs left queued or running by a process that died. Call only while holding the lock."""
    stmt = (
        update(LoadRun)
        .where(LoadRun.status.in_(UNFINISHED))
        .values(status=JobStatus.INTERRUPTED, finished_at=func.now())
    )
    if except_run is not None:
        stmt = stmt.where(LoadRun.id != except_run)
    result = await conn.execute(stmt)
    return int(result.rowcount)


async def running_run_id(conn: AsyncConnection) -> int | None:
    run_id: int | None = await conn.scalar(
        select(LoadRun.id)
        .where(LoadRun.status.in_(UNFINISHED))
        .order_by(LoadRun.id.desc())
        .limit(1)
    )
    return run_id


async def _merge(
    conn: AsyncConnection,
    table: str,
    keys: Sequence[str],
    values: Sequence[str],
    payloads: Sequence[bytes],
) -> tuple[int, int]:
    """COPY into a temporary staging table, then one set-based upsert that touches only rows
    whose values differ. Returns (inserted, updated)."""
    staging = f"staging_{table}"
    await conn.execute(
        text(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS")
    )
    await _copy(conn, staging, payloads)
    columns = ", ".join((*keys, *values))
    assign = ", ".join(f"{v} = EXCLUDED.{v}" for v in values)
    old = ", ".join(f"t.{v}" for v in values)
    new = ", ".join(f"EXCLUDED.{v}" for v in values)
    row = (
        await conn.execute(
            text(
                f"WITH merged AS (INSERT INTO {table} AS t ({columns}) "
                f"SELECT {columns} FROM {staging} "
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assign} "
                f"WHERE ({old}) IS DISTINCT FROM ({new}) RETURNING (xmax = 0) AS fresh) "
                "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) "
                "FROM merged"
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def _copy(conn: AsyncConnection, table: str, payloads: Sequence[bytes]) -> None:
    """One COPY of the payloads, one after the other."""

    async def stream() -> AsyncIterator[bytes]:
        for payload in payloads:
            if payload:
                yield payload

    raw = await conn.get_raw_connection()
    assert raw.driver_connection is not None  # a checked-out connection is always open
    await raw.driver_connection.copy_to_table(table, source=stream(), format="text")


async def _store_observations(conn: AsyncConnection, files: Sequence[Prepared]) -> tuple[int, int]:
    ids = [p.key for p in files]
    # A batch costs a few round trips, so this one statement does three things. Losing a
    # batch's commit in a server crash only means it loads again next time (its checksums
    # commit with it), so the commit need not wait for the WAL flush.
    stored = await conn.scalar(
        text(
            "WITH station AS (INSERT INTO stations (station_id, state) "
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:states AS text[])) "
            "ON CONFLICT (station_id) DO NOTHING) "
            "SELECT array(SELECT id FROM unnest(CAST(:ids AS text[])) AS id WHERE EXISTS "
            "(SELECT 1 FROM observations WHERE station_id = id)) "
            "FROM set_config('synchronous_commit', 'off', true)"
        ),
        {"ids": ids, "states": [state_of(i) for i in ids]},
    )
    fresh = [p for p in files if p.key not in stored]
    inserted = sum(p.records for p in fresh)
    # A station with nothing stored cannot conflict: COPY straight into place, which is
    # what makes a first load run at the speed of a plain COPY.
    if fresh:
        await _copy(conn, "observations", [p.payload for p in fresh])
    updated = 0
    if merging := [p.payload for p in files if p.key in stored]:
        merged, updated = await _merge(
            conn,
            "observations",
            ("station_id", "date"),
            ("max_temp", "min_temp", "precipitation"),
            merging,
        )
        inserted += merged
    # Every station of the batch, changed or not: cheap, and it also repairs the stats of a
    # station whose rows are in but whose stats are not.
    await refresh_stats(conn, station_ids=ids)
    await refresh_station_summaries(conn, station_ids=ids)
    return inserted, updated


async def _store(
    conn: AsyncConnection, batch: Sequence[tuple[DataFile, Prepared]], summary: LoadSummary
) -> None:
    """Store a batch of validated files with distinct keys, in the open transaction."""
    changed = False
    if stations := [p for _, p in batch if p.kind == "station"]:
        inserted, updated = await _store_observations(conn, stations)
        records = sum(p.records for p in stations)
        summary.records_read += records
        summary.inserted += inserted
        summary.updated += updated
        summary.unchanged += records - inserted - updated
        changed = bool(inserted or updated)
    for _, prepared in batch:
        if prepared.kind == "yield":
            inserted, updated = await _merge(
                conn, "corn_yields", ("year",), ("corn_grain_yield_kt",), [prepared.payload]
            )
            changed = changed or bool(inserted or updated)
        elif prepared.kind == "ghcnd":
            inserted, updated = await _merge(
                conn, "stations", ("station_id",), _STATION_METADATA, [prepared.payload]
            )
            # A station list's lines count as records, its stations as rows stored.
            summary.records_read += prepared.records
            summary.inserted += inserted
            summary.updated += updated
            summary.unchanged += prepared.records - inserted - updated
            changed = changed or bool(inserted or updated)
            if inserted:
                # A list can add 130,000 rows at once: plan the station queries by them
                # now, not when autovacuum next gets to it.
                await conn.execute(text("ANALYZE stations"))
    await conn.execute(
        text(
            "WITH version AS (UPDATE data_version SET version = version + 1, "
            "changed_at = now() WHERE :changed) "
            "INSERT INTO source_files (key, sha256, name, records, load_run_id) "
            "SELECT *, CAST(:run AS bigint) FROM unnest(CAST(:keys AS text[]), "
            "CAST(:sha256 AS text[]), CAST(:names AS text[]), CAST(:records AS int[])) "
            "ON CONFLICT (key) DO UPDATE SET sha256 = EXCLUDED.sha256, name = EXCLUDED.name, "
            "records = EXCLUDED.records, load_run_id = EXCLUDED.load_run_id, loaded_at = now()"
        ),
        {
            "keys": [p.key for _, p in batch],
            "sha256": [p.sha256 for _, p in batch],
            "names": [f.name for f, _ in batch],
            "records": [p.records for _, p in batch],
            "run": summary.run_id,
            "changed": changed,
        },
    )
    summary.files_loaded += len(batch)


def _failure(exc: Exception) -> str:
    """What a run stopped by an unexpected error records: PostgreSQL's own words (a
    statement timeout, say), which carry no SQL; else only the error's type."""
    cause = exc.orig.__cause__ if isinstance(exc, DBAPIError) and exc.orig else exc
    if isinstance(cause, PostgresError):
        return f"database error {cause.sqlstate}: {cause}"
    return f"internal error: {type(exc).__name__}"


@dataclass(frozen=True)
class LoadClaim:
    """The load lock, held by ``conn``, and the queued run it was taken for."""

    conn: AsyncConnection
    run_id: int
    source: str


async def _lock_holder(conn: AsyncConnection) -> int | None:
    """The run of whoever holds the lock. A holder inserts its run just after locking, so
    its commit is given a moment to land."""
    for _ in range(20):
        if (run_id := await running_run_id(conn)) is not None:
            return run_id
        await asyncio.sleep(0.05)
    return None


async def _release(conn: AsyncConnection) -> None:
    """Unlock and hand the connection back. One too broken to unlock is closed for good,
    which ends its session and so releases the lock too."""
    try:
        await conn.rollback()
        await conn.execute(select(func.pg_advisory_unlock(LOAD_LOCK_KEY)))
        await conn.commit()
    except Exception:
        log.warning("closing the load connection instead of unlocking it", exc_info=True)
        await conn.invalidate()
    finally:
        await conn.close()


class Loader:
    def __init__(self, engine: AsyncEngine, limits: SourceLimits) -> None:
        self.engine = engine
        self.limits = limits

    async def claim(self, *, source: str, trigger: str) -> LoadClaim:
        """Take the load lock and record a queued run, so that a caller can answer "started"
        or "busy" before loading. Raises LoadInProgressError; the claim must go to ``load``."""
        source = bounded(printable(source))
        conn = await self.engine.connect()
        try:
            if await conn.scalar(select(func.pg_try_advisory_lock(LOAD_LOCK_KEY))):
                run_id = await create_run(conn, source=source, trigger=trigger)
                await mark_interrupted(conn, except_run=run_id)
                await conn.commit()
                return LoadClaim(conn, run_id, source)
            running = await _lock_holder(conn)
        except BaseException:
            await asyncio.shield(_release(conn))
            raise
        await conn.close()
        raise LoadInProgressError(running)

    async def run(
        self,
        sources: list[str],
        *,
        trigger: str,
        progress: ProgressCallback | None = None,
        worker: ProcessPoolExecutor | None = None,
    ) -> LoadSummary:
        """Load ``sources``; raises LoadInProgressError if another load holds the lock."""
        claim = await self.claim(source=" ".join(map(redacted, sources)), trigger=trigger)
        return await self.load(claim, sources, progress=progress, worker=worker)

    async def load(
        self,
        claim: LoadClaim,
        sources: list[str],
        *,
        progress: ProgressCallback | None = None,
        worker: ProcessPoolExecutor | None = None,
    ) -> LoadSummary:
        """Run a claimed load; the lock and its connection are released at the end.
        ``worker``: the parsing worker, if the caller started it already (``start_worker``);
        the load shuts it down."""
        conn, run_id = claim.conn, claim.run_id
        summary = LoadSummary(run_id=run_id, source=claim.source)
        try:
            try:
                await self._save(conn, summary)
                await conn.commit()
                log.info("load %d started at %s: %s", run_id, summary.started_at, claim.source)
                await self._load(conn, sources, summary, progress, worker)
            except (SourceError, OSError) as exc:
                summary.message = bounded(printable(str(exc)))
                log.error("load %d failed: %s", run_id, summary.message)
            except asyncio.CancelledError:
                # Shutdown: files committed so far stay, those in flight roll back.
                await asyncio.shield(self._finish(conn, summary, JobStatus.INTERRUPTED))
                raise
            except Exception as exc:
                summary.message = _failure(exc)
                await self._finish(conn, summary)
                raise
            await self._finish(conn, summary)
        finally:
            await asyncio.shield(_release(conn))
        return summary

    async def _save(self, conn: AsyncConnection, summary: LoadSummary) -> None:
        await conn.execute(
            update(LoadRun).where(LoadRun.id == summary.run_id).values(**summary.progress_values())
        )

    async def _finish(
        self, conn: AsyncConnection, summary: LoadSummary, status: JobStatus | None = None
    ) -> None:
        await conn.rollback()  # anything a failed file left open
        if summary.inserted or summary.updated:
            # The climate and station lists join these: plan them by what the load wrote,
            # not by what they held before it (nothing, after a first load) until
            # autovacuum gets to them.
            await conn.execute(
                text("ANALYZE yearly_stats, monthly_stats, season_stats, station_summaries")
            )
            await conn.commit()
        summary.finished_at = dt.datetime.now(dt.UTC)
        summary.duration_s = round((summary.finished_at - summary.started_at).total_seconds(), 3)
        failed = summary.files_failed or summary.message
        summary.status = status or (JobStatus.FAILED if failed else JobStatus.SUCCEEDED)
        await self._save(conn, summary)
        if summary.status != JobStatus.INTERRUPTED and summary.message is None:
            # Went through all its sources (rejected files aside): whatever a cut-short load
            # left half done is now complete. A load that failed as a whole (a download, the
            # database) completes nothing. In the run's own commit, so that readiness never
            # sees one without the other.
            await conn.execute(update(DataVersion).values(complete=True))
        await conn.commit()
        log.info(
            "load %d %s at %s in %.2f s: files %d seen, %d loaded, %d skipped, %d failed; "
            "records %d read, %d inserted, %d updated, %d unchanged",
            summary.run_id,
            summary.status,
            summary.finished_at,
            summary.duration_s,
            summary.files_total,
            summary.files_loaded,
            summary.files_skipped,
            summary.files_failed,
            summary.records_read,
            summary.inserted,
            summary.updated,
            summary.unchanged,
        )

    async def _load(
        self,
        conn: AsyncConnection,
        sources: list[str],
        summary: LoadSummary,
        progress: ProgressCallback | None,
        worker: ProcessPoolExecutor | None,
    ) -> None:
        pool = worker or start_worker()
        try:
            async with resolve(sources, self.limits) as found:
                for name in found.ignored:
                    log.info("ignored %s: not a station or yield file", name)
                if not found.files:
                    raise SourceError(
                        f"nothing to load: no station or yield file in {summary.source} "
                        f"({len(found.ignored)} other file(s) ignored)"
                    )
                summary.files_total = len(found.files)
                await self._save(conn, summary)
                rows = await conn.execute(select(SourceFile.key, SourceFile.sha256))
                known = {key: sha256 for key, sha256 in rows}
                if repaired := await repair_station_summaries(conn):
                    log.info("recomputed %d station summaries a previous release left", repaired)
                    await conn.execute(
                        update(DataVersion).values(
                            version=DataVersion.version + 1, changed_at=func.now()
                        )
                    )
                await conn.commit()
                if repaired:
                    note_change()
                pending: deque[tuple[DataFile, Future[Prepared | Unchanged]]] = deque()
                queue = iter(found.files)
                submitting = True
                writing: dict[asyncio.Task[None], frozenset[str] | None] = {}
                try:
                    while True:
                        while submitting and len(pending) < _LOOKAHEAD:
                            if (file := next(queue, None)) is None:
                                # The worker exits once it has parsed the last file, while
                                # the last batches are stored, not after them.
                                pool.shutdown(wait=False)
                                submitting = False
                            else:
                                future = pool.submit(
                                    prepare, file.path, file.name, file.kind, _last(known, file)
                                )
                                pending.append((file, future))
                        if not pending:
                            break
                        batch = await _next_batch(pending)
                        keys = _stations(batch)
                        while writing and not _may_join(keys, writing):
                            await _written(writing, summary, progress)
                        writing[asyncio.create_task(self._batch(batch, summary))] = keys
                    while writing:
                        await _written(writing, summary, progress)
                except asyncio.CancelledError:
                    for task in writing:
                        task.cancel()
                    raise
                finally:
                    # After an error the batches in flight still commit, as they would have
                    # one after the other; after a cancel they roll back.
                    await asyncio.gather(*writing, return_exceptions=True)
        finally:
            # After a cancel or an error the worker may still be starting or parsing: waiting
            # for it would block the event loop, and it exits on its own.
            pool.shutdown(wait=False, cancel_futures=True)

    async def _batch(self, batch: list[tuple[DataFile, Parsed]], summary: LoadSummary) -> None:
        valid: list[tuple[DataFile, Prepared]] = []
        for file, result in batch:
            if isinstance(result, DataFileError):
                summary.fail(result.file, result.line, result.message)
            elif isinstance(result, Unchanged):
                summary.files_skipped += 1
                log.info("skipped %s: unchanged since its last load", file.name)
            else:
                valid.append((file, result))
        async with self.engine.connect() as conn:
            if valid:
                await _store(conn, valid, summary)
            summary.files_done += len(batch)
            await self._save(conn, summary)
            await conn.commit()
        if valid:
            note_change()  # this process's readers fetch the new data version at once


def _stations(batch: list[tuple[DataFile, Parsed]]) -> frozenset[str] | None:
    """The stations a batch writes, or None if it writes a yield file or a station list:
    a list's upsert of 130,000 stations could lock rows in another batch's way."""
    prepared = [result for _, result in batch if isinstance(result, Prepared)]
    if any(p.kind != "station" for p in prepared):
        return None
    return frozenset(p.key for p in prepared)


def _may_join(
    keys: frozenset[str] | None, writing: dict[asyncio.Task[None], frozenset[str] | None]
) -> bool:
    """Whether a batch may start beside those in flight: a free writer, and no station in
    common (its rows would not yet be seen as stored, and be copied twice)."""
    return (
        len(writing) < LOAD_WRITERS
        and keys is not None
        and all(other is not None and not keys & other for other in writing.values())
    )


async def _written(
    writing: dict[asyncio.Task[None], frozenset[str] | None],
    summary: LoadSummary,
    progress: ProgressCallback | None,
) -> None:
    """Wait for a batch in flight to commit (or raise its error), then report progress."""
    done, _ = await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        del writing[task]
        task.result()
    if progress is not None and (waiter := progress(summary)) is not None:
        await waiter


def _last(known: dict[str, str], file: DataFile) -> str | None:
    """The file's checksum at its last load. Only it goes to the worker: the whole map,
    pickled with each file, made a load of n files send n² entries."""
    try:
        return known.get(file_key(file.name, file.kind))
    except DataFileError:
        return None  # a bad name: the worker reports it with the file


async def _next_batch(
    pending: deque[tuple[DataFile, Future[Prepared | Unchanged]]],
) -> list[tuple[DataFile, Parsed]]:
    """The next file, once parsed, and the parsed files after it, up to _BATCH_RECORDS rows.
    Until the batch has rows to store, it waits for the next file too: files skipped or
    rejected cost a commit of progress per batch, and a re-run skips every file. A key
    seen twice (one station in two sources) ends the batch: the second copy is merged
    into what the first stored."""
    batch: list[tuple[DataFile, Parsed]] = []
    keys: set[str] = set()
    records = 0
    while pending and records < _BATCH_RECORDS and (not records or pending[0][1].done()):
        file, future = pending[0]
        result: Parsed
        try:
            result = await asyncio.wrap_future(future)
        except DataFileError as exc:
            result = exc
        if isinstance(result, Prepared):
            if result.key in keys:
                break
            keys.add(result.key)
            records += result.records
        pending.popleft()
        batch.append((file, result))
    return batch
