"""What each layer of a list request costs, and what a page costs without them: the one-row
first page of ``/api/weather`` rebuilt on routes this benchmark adds to the app (never the
service), one layer at a time, beside ``/health`` (the floor) and the route itself; and one
station-year (366 rows) hand-written beside the route.

- hand-written: a Starlette endpoint; the route's query model validated, the data version
  read, the page's SQL (compiled once per shape of filters) run on asyncpg's own pool, the
  same envelope and headers, orjson; for the station-year also with its items rendered as
  JSON by PostgreSQL (``json_agg``), so that no row reaches Python;
- FastAPI route: the same body as a FastAPI route taking the request and ``page_size``
  alone (every route of the app refuses parameters it does not declare);
- + query model: and the route's query model as a dependency (``QueryModel``);
- + a generator dependency: and an async-generator dependency that yields nothing;
- + read session: that dependency is the read session (``ReadSessionDep``), unused;
- + ETag: and the ETag validators (``conditional``) as a dependency, as the route had them
  before it called ``conditional`` itself;
- the route: ``/api/weather`` itself (it reads through its session, with SQLAlchemy).

Each added route answers the route's own items, total and pages (checked first).

    uv run python -m bench.request_layers --database-url URL            # CPU per call
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m bench.request_layers --database-url URL --callgrind /tmp/cg
    uv run python -m bench.request_layers --database-url URL --serve    # under wrk

In-process the app is called over raw ASGI (as ``bench.instructions``): CPU time per call,
median of the rounds, or instructions per call under callgrind. With ``--serve`` the app
runs under uvicorn (uvloop, httptools, one process) on 127.0.0.1 and ``wrk`` drives the
floor and each page hand-written and by the route at 16 connections, in turn, for each
round; requests/s are given as the median share of the floor's in the same round. The
database must hold the data (``weather-api load``; ``bench.api --keep`` leaves one)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Annotated, Any

import asyncpg
import orjson
import uvicorn
import uvloop
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy import bindparam
from sqlalchemy.sql.compiler import SQLCompiler

from bench.api import parse_wrk, wrk_command
from bench.common import in_process_app
from bench.instructions import call, per_call
from weather_api.api.caching import CACHE_CONTROL, VARY, Validators, conditional
from weather_api.api.dependencies import ReadSessionDep, read
from weather_api.api.pagination import page_envelope
from weather_api.api.schemas import WeatherQuery
from weather_api.api.weather import weather_query
from weather_api.db.engine import Database
from weather_api.db.paging import Key, PageRequest
from weather_api.db.queries import WeatherRepository, last_key
from weather_api.db.versions import Version, VersionWatch

FLOOR = "/health"
ONE_ROW = "page_size=1"
STATION_YEAR = "station_id=USC00110072&start_date=2000-01-01&end_date=2000-12-31&page_size=366"
ROUTE = "/api/weather"
LAYERS = {  # name: path of the added route
    "hand-written": "/bench/hand-written",
    "FastAPI route": "/bench/route",
    "+ query model": "/bench/query",
    "+ a generator dependency": "/bench/generator",
    "+ read session": "/bench/session",
    "+ ETag": "/bench/etag",
}
RENDERED = "/bench/hand-written-rendered"
CONNECTIONS = 16


async def _nothing() -> AsyncIterator[None]:
    yield None


# At module level: FastAPI reads the routes' annotations (strings here) in this namespace.
Query = Annotated[WeatherQuery, Depends(weather_query)]
Generator = Annotated[None, Depends(_nothing)]


async def _etag(request: Request, response: Response, _s: ReadSessionDep) -> Validators:
    async with read(request) as reader:
        return await conditional(request, response, reader)


ETag = Annotated[Validators, Depends(_etag)]


class HandWritten:
    """A first page of /api/weather without the framework's dependencies, the ORM session or
    SQLAlchemy's execution: what the route does, written out. Each shape of filters is
    compiled once; ``construct_expanded_state`` gives the SQL and positional parameters of a
    request, its expanding ``IN`` list included."""

    def __init__(self, app: FastAPI, pool: Any) -> None:
        self.versions: VersionWatch = app.state.versions
        database: Database = app.state.database
        self.dialect = database.read_engine.dialect
        self.pool = pool
        self.repo = WeatherRepository(None)  # type: ignore[arg-type]  # statements only
        self.compiled: dict[frozenset[str], SQLCompiler] = {}
        # The route keeps its totals in memory per data version; these are its answers'.
        self.totals: dict[str, int] = {}

    def _compiled(self, query: WeatherQuery) -> tuple[SQLCompiler, dict[str, Any]]:
        shape, params = self.repo.given(query.filters)
        if shape not in self.compiled:
            stmt = self.repo.select_items(query.filters).limit(bindparam("page_size"))
            compiled = stmt.compile(dialect=self.dialect)
            assert isinstance(compiled, SQLCompiler)
            self.compiled[shape] = compiled
        return self.compiled[shape], params | {"page_size": query.page_size}

    def _query(self, request: Request) -> tuple[WeatherQuery, str, tuple[Any, ...]]:
        params = request.query_params
        lists = weather_query.lists
        data = {name: params.getlist(name) if name in lists else params[name] for name in params}
        query = WeatherQuery.model_validate(data)
        compiled, values = self._compiled(query)
        state = compiled.construct_expanded_state(values)
        return query, state.statement, state.positional_parameters

    async def page(self, request: Request) -> Response:
        query, sql, args = self._query(request)
        version = await self.versions.current()
        async with self.pool.acquire() as conn:
            records = await conn.fetch(sql, *args)
        rows = [dict(record) for record in records]
        return self._response(request, query, version, rows, last_key(rows, WeatherRepository.KEY))

    async def page_rendered(self, request: Request) -> Response:
        """The same, its items rendered as JSON by PostgreSQL (no row reaches Python)."""
        query, sql, args = self._query(request)
        version = await self.versions.current()
        order = "t.station_id, t.date"
        rendered = (
            f"SELECT coalesce(json_agg(t ORDER BY {order}), '[]')::text,"
            f" (array_agg(ROW({order}) ORDER BY {order} DESC))[1] FROM ({sql}) AS t"
        )
        async with self.pool.acquire() as conn:
            items, last = await conn.fetchrow(rendered, *args)
        key = tuple(last) if last else None
        return self._response(request, query, version, [], key, items.encode())

    def _response(
        self,
        request: Request,
        query: WeatherQuery,
        version: Version | None,
        rows: list[dict[str, Any]],
        last: Key | None,
        items: bytes | None = None,  # rendered already: in place of ``rows``
    ) -> Response:
        links = Response()
        paging = PageRequest(1, query.page_size, None)
        total = self.totals[request.url.query]
        body = page_envelope(request, links, paging, rows, total, last)
        headers = {
            "ETag": f'W/"{version[0] if version else None}-json"',
            "Cache-Control": CACHE_CONTROL,
            "Vary": VARY,
            "Link": links.headers["Link"],
        }
        rendered = orjson.dumps(body, default=float)
        if items is not None:
            rendered = rendered.replace(b'"items":[]', b'"items":' + items, 1)
        return Response(rendered, media_type="application/json", headers=headers)


def add_layers(app: FastAPI, hand: HandWritten) -> None:
    """The routes of LAYERS, ahead of the app's own."""
    router = APIRouter()

    @router.get(LAYERS["FastAPI route"])
    async def route(request: Request, page_size: int = 1) -> Response:
        return await hand.page(request)

    @router.get(LAYERS["+ query model"])
    async def with_query(request: Request, _q: Query) -> Response:
        return await hand.page(request)

    @router.get(LAYERS["+ a generator dependency"])
    async def with_generator(request: Request, _q: Query, _g: Generator) -> Response:
        return await hand.page(request)

    @router.get(LAYERS["+ read session"])
    async def with_session(request: Request, _q: Query, _s: ReadSessionDep) -> Response:
        return await hand.page(request)

    @router.get(LAYERS["+ ETag"])
    async def with_etag(request: Request, _q: Query, _s: ReadSessionDep, _c: ETag) -> Response:
        return await hand.page(request)

    router.add_route(LAYERS["hand-written"], hand.page)
    router.add_route(RENDERED, hand.page_rendered)
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added


def requests() -> tuple[dict[str, str], dict[str, str]]:
    """In-process: the floor, each layer of the one-row page, the route, and the
    station-year hand-written and by the route; under wrk: all but the layers between."""
    floor = {"`/health` (the floor)": FLOOR}
    one_row = {f"One row: {name}": f"{path}?{ONE_ROW}" for name, path in LAYERS.items()}
    one_row["One row: the route"] = f"{ROUTE}?{ONE_ROW}"
    station_year = {
        "Station-year (366 rows): hand-written": f"{LAYERS['hand-written']}?{STATION_YEAR}",
        "Station-year: hand-written, items rendered by PostgreSQL": f"{RENDERED}?{STATION_YEAR}",
        "Station-year: the route": f"{ROUTE}?{STATION_YEAR}",
    }
    ends = ("One row: hand-written", "One row: the route")
    return floor | one_row | station_year, floor | {k: one_row[k] for k in ends} | station_year


async def check(app: FastAPI, hand: HandWritten) -> None:
    """Every added route answers what the route answers (its links name its own path)."""
    fields = ("items", "total", "pages")
    for query in (ONE_ROW, STATION_YEAR):
        route = orjson.loads(await call(app, f"{ROUTE}?{query}"))
        hand.totals[query] = route["total"]
        paths = [f"{p}?{query}" for p in LAYERS.values()] if query == ONE_ROW else []
        for path in paths or [f"{p}?{query}" for p in (LAYERS["hand-written"], RENDERED)]:
            body = orjson.loads(await call(app, path))
            if {k: body[k] for k in fields} != {k: route[k] for k in fields}:
                raise SystemExit(f"{path} answers {body}, the route {route}")


async def in_process(app: FastAPI, calls: int, rounds: int, prefix: str | None) -> None:
    paths, _ = requests()
    unit = "M instructions" if prefix else "ms CPU"
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):  # rounds interleave the paths: drift hits all of them
        for name, path in paths.items():
            samples[name].append(await per_call(partial(call, app, path), calls, prefix))
    floor = statistics.median(samples["`/health` (the floor)"])
    print(f"| Request | {unit} per call | Against the floor |\n|---|---:|---:|")
    for name, values in samples.items():
        value = statistics.median(values)
        print(f"| {name} | {value:.3f} | {value / floor:.1f}x |")


async def serve(app: FastAPI, duration: int, rounds: int) -> None:
    config = uvicorn.Config(
        app, loop="none", http="httptools", lifespan="off",
        access_log=False, log_level="warning",
    )  # fmt: skip
    # Listening before the server starts: wrk's first connections wait in the backlog.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    _, paths = requests()
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    try:
        for _ in range(rounds):
            for name, path in paths.items():
                command = wrk_command(f"http://127.0.0.1:{port}{path}", CONNECTIONS, duration, [])
                cpu = time.process_time()
                proc = await asyncio.create_subprocess_exec(
                    *command, stdout=asyncio.subprocess.PIPE
                )
                out, _ = await proc.communicate()
                cell = parse_wrk(out.decode(), name, CONNECTIONS)
                if cell.errors:
                    raise SystemExit(f"{path}: {cell.errors} errors under wrk")
                server_ms = (time.process_time() - cpu) * 1000 / cell.requests
                rows[name].append((cell.requests_s, server_ms))
    finally:
        server.should_exit = True
        await task
    print(f"| Request, {CONNECTIONS} connections | Requests/s | Against the floor | Server CPU |")
    print("|---|---:|---:|---:|")
    floors = rows["`/health` (the floor)"]
    for name, cells in rows.items():
        shares = [rps / floor[0] for (rps, _), floor in zip(cells, floors, strict=True)]
        rps = statistics.median(c[0] for c in cells)
        ms = statistics.median(c[1] for c in cells)
        print(f"| {name} | {rps:,.0f} | {statistics.median(shares):.2f}x | {ms:.3f} ms |")


async def measure(args: argparse.Namespace) -> None:
    app = in_process_app(args.database_url)
    async with app.router.lifespan_context(app):
        pool = await asyncpg.create_pool(args.database_url, min_size=1, max_size=10)
        try:
            hand = HandWritten(app, pool)
            add_layers(app, hand)
            await check(app, hand)
            if args.serve:
                await serve(app, args.duration, args.rounds)
            else:
                await in_process(app, args.calls, args.rounds, args.callgrind)
        finally:
            await pool.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_layers", description=__doc__)
    parser.add_argument("--database-url", required=True, help="a database holding the data")
    parser.add_argument("--calls", type=int, default=1000, help="calls per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--callgrind", metavar="PREFIX", help="count instructions (valgrind)")
    parser.add_argument("--serve", action="store_true", help="under uvicorn and wrk instead")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (--serve)")
    args = parser.parse_args(argv)
    # The server runs on uvloop, as `weather-api serve` does; in-process calls on asyncio's
    # own loop, as the other in-process benchmarks.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.serve else None) as runner:
        runner.run(measure(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
