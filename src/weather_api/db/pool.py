"""The connections the API's reads run on: asyncpg connections handed out whole, in order
of arrival.

Checking a connection out of SQLAlchemy's pool and back cost a request about 0.13 ms of the
server's CPU under load (two greenlet switches, its bookkeeping and events): a fifth of a
one-row page. asyncpg's own pool cost as much (its release resets the session: a round
trip), or half of it without the reset. The reads need none of it: they run statements
without a transaction on the driver's connection (``db.queries.Reader``). So this pool
holds the connections itself and keeps what the reads relied on: a bound, turns in order of
arrival, a wait that ends, a ping after a connection sat idle, and broken connections
replaced. docs/benchmarks.md, API against the floor, has the measurements."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from asyncpg import Connection

# A connection that answered within this long is not pinged again on checkout: under load
# every checkout would otherwise pay a round trip for a connection used a moment ago.
PING_AFTER_IDLE_S = 1.0


class ReadPoolTimeoutError(Exception):
    """No connection became free in time: the database is too slow to answer now."""


class ReadPool:
    """At most ``size`` connections, opened by ``connect`` when first needed and kept.

    Turns are handed out first come, first served (asyncio's semaphore is FIFO since Python
    3.11.1): a request arriving while others wait never takes a connection just returned.
    The most recently returned connection goes out first, so idle ones stay idle. One that
    sat idle ``PING_AFTER_IDLE_S`` or more is pinged first; one that fails its ping, or
    comes back closed, is dropped and a new one opened in its place."""

    def __init__(
        self, connect: Callable[[], Awaitable[Connection]], size: int, timeout_s: float
    ) -> None:
        self.size = size
        self.in_use = 0
        # Told the number in use as it changes (the metrics' gauge).
        self.on_change: Callable[[int], None] | None = None
        self._connect = connect
        self._timeout_s = timeout_s
        self._turns = asyncio.Semaphore(size)
        self._idle: list[tuple[Connection, float]] = []  # with when each came back
        self._closed = False

    async def acquire(self) -> Connection:
        """A connection, once it is this caller's turn; ``ReadPoolTimeoutError`` past the
        timeout. Give it back with ``release``."""
        if self._closed:
            raise ReadPoolTimeoutError("the read pool is closed")
        if self._turns.locked():
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._turns.acquire()
            except TimeoutError:
                raise ReadPoolTimeoutError(
                    f"no read connection free within {self._timeout_s:g} s"
                ) from None
        else:
            await self._turns.acquire()  # free: returns at once
        try:
            connection = await self._take()
        except BaseException:
            self._turns.release()
            raise
        self._count(1)
        return connection

    def release(self, connection: Connection) -> None:
        """Back into the pool; closed ones (and any once the pool is closed) are dropped."""
        self._count(-1)
        if self._closed:
            connection.terminate()
        elif not connection.is_closed():
            self._idle.append((connection, time.monotonic()))
        self._turns.release()

    async def close(self) -> None:
        """Close the idle connections; those in use are closed as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(c.close() for c, _ in idle), return_exceptions=True)

    async def _take(self) -> Connection:
        while self._idle:
            connection, returned_at = self._idle.pop()
            if connection.is_closed():
                continue
            if time.monotonic() - returned_at < PING_AFTER_IDLE_S:
                return connection
            try:
                await connection.fetchrow(";")  # an empty query: one round trip
            except Exception:  # broken: the next idle one, or a new one
                connection.terminate()
                continue
            except BaseException:  # cancelled mid-ping: its state is unknown
                connection.terminate()
                raise
            return connection
        return await self._connect()

    def _count(self, change: int) -> None:
        self.in_use += change
        if self.on_change is not None:
            self.on_change(self.in_use)
