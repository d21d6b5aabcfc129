"""Repeated reads from memory: an identical GET within one data version gets the answer the
app gave before, without the app (routing, validation, queries, serialisation).

Most traffic repeats (dashboards, probes, the same station-year), and an answer only
changes when a load bumps the data version, which is part of every key: a load in this
process is seen by the next request, one elsewhere within the watch's interval
(``VersionWatch``). Only what the app itself marked cacheable by that version is kept: a
complete 200 with an ETag naming the version, not streamed (CSV exports never are kept),
at most a tenth of the budget. Entries are evicted least recently used, by bytes.

It sits inside compression and the request context: a cached answer is compressed as a
fresh one and gets its own request id and access log line."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weather_api.db.versions import VersionWatch

_ENTRY_OVERHEAD = 200  # bytes of a key, its tuple and list around the stored response
# Request headers an answer depends on (Vary: Accept; links name the host and scheme).
_KEYED_HEADERS = frozenset({b"accept", b"host"})
_CONDITIONAL = b"if-none-match"  # answered by the app: 304 or 200


# What routing adds to the scope, which the request context reads for its metric labels.
_ROUTED = ("route", "endpoint")


class _Stored:
    __slots__ = ("body", "headers", "routed", "size")

    def __init__(
        self, headers: list[tuple[bytes, bytes]], body: bytes, routed: dict[str, object]
    ) -> None:
        self.headers = headers
        self.body = body
        self.routed = routed
        self.size = len(body) + sum(len(k) + len(v) for k, v in headers) + _ENTRY_OVERHEAD


class ResponseLru:
    """Answers by key, least recently used first out once their bytes pass ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Hashable, _Stored] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> _Stored | None:
        if (entry := self._entries.get(key)) is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: _Stored) -> None:
        if entry.size > self.max_bytes // 10:  # one huge answer would flush everything
            return
        if (old := self._entries.pop(key, None)) is not None:
            self.bytes -= old.size
        self._entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            self.bytes -= self._entries.popitem(last=False)[1].size


def _keeps(headers: list[tuple[bytes, bytes]], version: bytes | None) -> bool:
    """Whether an answer names this data version in its ETag (W/"<version>-json") and is
    not CSV."""
    named = False
    for name, value in headers:
        if name == b"etag":
            named = version is not None and value.removeprefix(b'W/"').partition(b"-")[0] == version
        elif name == b"content-type" and value.startswith(b"text/csv"):
            return False
    return named


class ResponseCache:
    """ASGI middleware; a no-op until the app's lifespan sets ``app.state.versions``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.lru = ResponseLru(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch: VersionWatch | None = None
        if scope["type"] == "http" and scope["method"] == "GET" and self.lru.max_bytes > 0:
            watch = getattr(scope["app"].state, "versions", None)
        if watch is None:
            await self.app(scope, receive, send)
            return
        headers = []
        for name, value in scope["headers"]:
            if name == _CONDITIONAL:
                await self.app(scope, receive, send)
                return
            if name in _KEYED_HEADERS:
                headers.append((name, value))
        try:
            version = await watch.current()
        except Exception:
            # The database is away: the app answers as it does then (503).
            await self.app(scope, receive, send)
            return
        key = (
            version,
            scope["scheme"],
            scope.get("root_path", ""),
            scope["path"],
            scope["query_string"],
            tuple(sorted(headers)),
        )
        if (entry := self.lru.get(key)) is not None:
            scope.update(entry.routed)
            # A copy: compression outside rewrites the list it is given in place.
            headers = list(entry.headers)
            start = {"type": "http.response.start", "status": 200, "headers": headers}
            await send(start)
            await send({"type": "http.response.body", "body": entry.body})
            return
        await self._store(key, str(version[0]).encode() if version else None, scope, receive, send)

    async def _store(
        self, key: Hashable, version: bytes | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the app and keep its answer if it is a whole 200 of this data version."""
        start: list[tuple[bytes, bytes]] | None = None  # the headers, as the app sent them
        chunks: list[bytes] | None = []

        async def capture(message: Message) -> None:
            nonlocal start, chunks
            if message["type"] == "http.response.start":
                # Copied now: compression outside rewrites the list in place once it is sent.
                headers = list(message.get("headers", ()))
                if message["status"] == 200 and _keeps(headers, version):
                    start = headers
                else:
                    chunks = None
            elif message["type"] == "http.response.body" and chunks is not None:
                if message.get("more_body", False) or start is None:
                    chunks = None  # streamed: an export, never kept
                else:
                    chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start is not None and chunks:
            routed = {name: scope[name] for name in _ROUTED if name in scope}
            self.lru.put(key, _Stored(start, b"".join(chunks), routed))
