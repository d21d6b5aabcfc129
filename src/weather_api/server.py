"""The HTTP protocol ``weather-api serve`` runs: uvicorn's, with the time and connection
bounds it lacks. uvicorn closes idle keep-alive connections but waits forever for a request
line and headers, for a request body and for a client to read a response; a few thousand
clients that send a byte now and then (slowloris) or never read would hold a process's
sockets, file descriptors and database connections. Here each has a deadline:

- headers: ``WEATHER_HEADER_TIMEOUT_S`` from the connection (or the request's first byte on
  a kept-alive one) to the end of the headers; past it a 408 and the connection closes;
  and at most 64 KiB of request line and headers (httptools takes any size), past it a 431;
- body: ``WEATHER_BODY_TIMEOUT_S`` from the end of the headers to the end of the body;
- sending: ``WEATHER_SEND_TIMEOUT_S`` while the client reads nothing of a response (the
  transport's buffer stays full), which ends a stalled CSV export and frees its database
  connection;
- connections: past ``WEATHER_MAX_CONNECTIONS`` open at once, the connection that has
  waited longest for a request (slowloris, or idle between requests) is closed to make room;
  only when every connection has a request in flight does a new one get a 503. So a flood
  of slow connections cannot lock real clients out for as long as it lasts: each newcomer
  pushes out the oldest of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from weather_api.settings import get_settings

log = logging.getLogger(__name__)
MAX_HEAD_BYTES = 64 * 1024


def _canned(status: str, text: str, *headers: str) -> bytes:
    """A whole response written straight to the socket, outside any request cycle."""
    body = f"{text}\n".encode()
    head = [f"HTTP/1.1 {status}", "content-type: text/plain; charset=utf-8", *headers]
    head += [f"content-length: {len(body)}", "connection: close"]
    return "\r\n".join([*head, "", ""]).encode() + body


_408 = _canned("408 Request Timeout", "request headers not sent in time")
_431 = _canned("431 Request Header Fields Too Large", "request line and headers over 64 KiB")
_503 = _canned("503 Service Unavailable", "too many open connections", "retry-after: 5")


class BoundedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout_s = settings.header_timeout_s
        self.body_timeout_s = settings.body_timeout_s
        self.send_timeout_s = settings.send_timeout_s
        self.max_connections = settings.max_connections
        self._deadline: asyncio.TimerHandle | None = None  # headers, then body
        self._stalled: asyncio.TimerHandle | None = None  # sending
        self._head_bytes: int | None = 0  # received of this request's head; None past it
        self._waiting_since = time.monotonic()  # for a request, since connected or answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        others = [c for c in self.connections if c is not self and not c.transport.is_closing()]
        full = len(others) >= self.max_connections or len(self.tasks) >= self.max_connections
        if full and not self._make_room(others):
            log.warning("refused a connection: %d open, each with a request", len(others))
            self.transport.write(_503)
            self.transport.close()
            return
        self._arm_deadline(self.header_timeout_s, "headers", _408)

    def _make_room(self, others: list[Any]) -> bool:
        """Close the connection that has waited longest for a request, if any does."""
        waiting = [c for c in others if isinstance(c, BoundedHttpProtocol) and c._idle]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since)
        log.info("closed a connection from %s to make room: it sent no request", _peer(oldest))
        oldest._cancel_deadline()
        oldest.transport.write(_408)
        oldest.transport.close()
        return True

    @property
    def _idle(self) -> bool:
        """Between requests, or in the headers of one: nothing of it is being served."""
        return self._head_bytes is not None and (self.cycle is None or self.cycle.response_complete)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: the same read may hold the head's end and a body.
        too_large = self._head_bytes is not None and self._head_bytes > MAX_HEAD_BYTES
        if too_large and not self.transport.is_closing():
            log.info("closed a connection from %s: request head too large", _peer(self))
            self.transport.write(_431)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm_deadline(self.header_timeout_s, "headers", _408)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._cancel_deadline()
        super().on_headers_complete()
        self._arm_deadline(self.body_timeout_s, "the request body", b"")

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # the next request's head starts here
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._waiting_since = time.monotonic()
        super().on_response_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.send_timeout_s, self._drop_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _arm_deadline(self, seconds: float, what: str, answer: bytes) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._expire, seconds, what, answer)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, seconds: float, what: str, answer: bytes) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info("closed a connection from %s: %s not sent within %s s", _peer(self), what, seconds)
        if answer:
            self.transport.write(answer)
        self.transport.close()

    def _drop_stalled(self) -> None:
        self._stalled = None
        if self.transport.is_closing():
            return
        log.info(
            "closed a connection from %s: it read nothing for %s s",
            _peer(self),
            self.send_timeout_s,
        )
        # abort, not close: close would wait for the buffer the client never reads.
        self.transport.abort()


def _peer(protocol: HttpToolsProtocol) -> str:
    return f"{protocol.client[0]}:{protocol.client[1]}" if protocol.client else "unknown"
