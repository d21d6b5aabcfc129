"""The data version as a process sees it, read from the database at most once per interval.

Every GET needs the data version (its ETag, and the key of whatever is cached for it), and
reading it per request cost a round trip on a pooled connection. A load in this process
makes the next read fetch it again at once (``note_change``); one in another process or
instance is seen at the latest ``max_age_s`` later, plus the time of one query."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from weather_api.db.models import DataVersion

Version = tuple[int, dt.datetime]
_CURRENT = select(DataVersion.version, DataVersion.changed_at)
_local_changes = 0


def note_change() -> None:
    """A load of this process committed: every watch fetches the version on its next read."""
    global _local_changes
    _local_changes += 1


class VersionWatch:
    """The (version, changed_at) of one database, cached for ``max_age_s``; 0 reads it on
    every call. Concurrent callers of a stale watch share one query."""

    def __init__(self, engine: AsyncEngine, max_age_s: float) -> None:
        # Autocommit: one statement, no BEGIN and ROLLBACK around it.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.max_age_s = max_age_s
        self._value: Version | None = None
        self._read_at = -float("inf")
        self._seen = -1
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._seen == _local_changes and time.monotonic() - self._read_at < self.max_age_s

    async def current(self) -> Version | None:
        """None only before the schema's first row exists (never after a migration)."""
        if self._fresh():
            return self._value
        async with self._lock:
            if self._fresh():  # another caller fetched it while this one waited
                return self._value
            # Taken before the query: the value is at least as new as this instant.
            started, seen = time.monotonic(), _local_changes
            async with self.engine.connect() as conn:
                row = (await conn.execute(_CURRENT)).first()
            self._value = (row.version, row.changed_at) if row else None
            self._read_at, self._seen = started, seen
            return self._value
