"""Hostile parameters: every query parameter (and path parameter) of every GET operation in
the live OpenAPI document gets SQL fragments, very long strings, unusual unicode, NUL and
control bytes, huge numbers, malformed cursors and repeated values. Each must get a 4xx
problem, never a 5xx, from ``weather-api serve`` with the production settings, and the
database must hold exactly what it held before (the integrity fixture)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.reliability.conftest import Integrity
from tests.reliability.support import example_path, get_operations, openapi, record, serve


def _cursor(value: Any) -> str:
    """A cursor as the API encodes one (URL-safe base64 of JSON), around ``value``."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


ADMIN_TOKEN = "reliability-admin-token-7c1e5b9a2d4f"  # 32+: production
HOSTILE: dict[str, str] = {
    # SQL fragments
    "quote": "1' OR '1'='1",
    "statement": "1; DROP TABLE observations; --",
    "station or": "USC00110072' OR 1=1 --",
    "union": "') UNION SELECT version(), 1, 2 --",
    "placeholder": "$1",
    "like": "%' --",
    "cast": "1::text",
    # long strings
    "long ascii": "A" * 10_000,
    "long digits": "9" * 5_000,
    "long ids": "USC00110072" * 1_000,
    # unicode
    "accented id": "ÜSC00110072",
    "fullwidth id": "".join(chr(ord(c) + 0xFEE0) for c in "USC00110072"),
    "arabic digits": "١٩٩٠",
    "math digits": "".join(chr(0x1D7D8 + int(c)) for c in "1990"),
    "rtl override": "\u202eUSC00110072",
    "emoji": "🌧️",
    "bom": "\ufeff1990",
    "lone surrogate escape": "\\ud800",
    # NUL and control bytes
    "nul": "\x00",
    "trailing nul": "1990\x00",
    "id nul": "USC00110072\x00",
    "header injection": "1\r\nX-Injected: 1",
    # numbers
    "huge": "9" * 40,
    "huge negative": "-" + "9" * 40,
    "float": "1e309",
    "nan": "NaN",
    "infinity": "Infinity",
    "negative": "-1",
    "hex": "0x10",
    "unix time": "1700000000",
    "int4 overflow": "2147483648",
    "empty": "",
    # malformed cursors
    "cursor bang": "!!!",
    "cursor not json": base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
    "cursor null": _cursor(None),
    "cursor page string": _cursor(["2", ["USC00110072", "1985-01-01"]]),
    "cursor page bool": _cursor([True, ["USC00110072", "1985-01-01"]]),
    "cursor page huge": _cursor([10**30, ["USC00110072", "1985-01-01"]]),
    "cursor page one": _cursor([1, ["USC00110072", "1985-01-01"]]),
    "cursor bad date": _cursor([2, ["USC00110072", "1985-02-30"]]),
    "cursor object key": _cursor([2, [{"$gt": ""}, 1985]]),
    "cursor long key": _cursor([2, ["X" * 1000, "1985-01-01"]]),
    "cursor deep": _cursor([2, [[[[[[[[[[[]]]]]]]]]], 1]]),
    "cursor huge key": _cursor([2, ["USC00110072", 10**30]]),
    "cursor too many": _cursor([2, ["USC00110072", "1985-01-01", 3, 4]]),
}
# Well-formed, so a page may come back (the key is a bound parameter; a list whose key has
# one column finds the second too many); never a 5xx, and nothing changes.
MAY_SUCCEED: dict[str, str] = {
    "cursor sql key": _cursor([2, ["' OR 1=1; DROP TABLE observations; --", "1985-01-01"]]),
    "cursor sql year": _cursor([2, ["USC00110072", 1985]]),
}


def _in_range(schema: dict[str, Any], value: str) -> bool:
    """Whether ``value`` is a number a numeric schema (or one of its anyOf) accepts."""
    try:
        number = float(value)
    except ValueError:
        return False
    if not math.isfinite(number):
        return False
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("type") not in ("number", "integer"):
            continue
        if option["type"] == "integer" and not number.is_integer():
            continue
        if option.get("minimum", -math.inf) <= number <= option.get("maximum", math.inf):
            return True
    return False


@dataclass(frozen=True)
class Probe:
    label: str
    path: str
    params: tuple[tuple[str, str], ...]
    may_succeed: bool = False


def probes(document: dict[str, Any]) -> list[Probe]:
    """Every (parameter, hostile value) of every GET operation; each parameter alone, and
    repeated after a valid value of its own."""
    found = []
    for template, operation in get_operations(document):
        params = operation.get("parameters", [])
        good = example_path(template, operation)
        for param in params:
            name = param["name"]
            for label, value in HOSTILE.items():
                what = f"GET {template} {param['in']} {name}={label}"
                if param["in"] == "path" and value:  # an empty segment is another URL
                    path = template.replace("{" + name + "}", quote(value, safe=""))
                    path = example_path(path, operation)
                    found.append(Probe(what, path, ()))
                elif param["in"] == "query":
                    # A value inside the parameter's documented range (a negative degree-day
                    # base) is valid, so it may be answered; never with a 5xx.
                    valid_value = _in_range(param.get("schema", {}), value)
                    found.append(Probe(what, good, ((name, value),), may_succeed=valid_value))
                    valid = _example(param)
                    if valid is not None:
                        repeated = ((name, valid), (name, value))
                        found.append(Probe(f"{what} (repeated)", good, repeated))
            if name == "cursor":
                for label, value in MAY_SUCCEED.items():
                    what = f"GET {template} {name}={label}"
                    found.append(Probe(what, good, ((name, value),), may_succeed=True))
            one_value = param.get("schema", {}).get("type") != "array"
            if param["in"] == "query" and one_value and (valid := _example(param)) is not None:
                # Two valid values of a one-value parameter: ambiguous, so refused.
                label = f"GET {template} {name} twice"
                found.append(Probe(label, good, ((name, valid), (name, valid))))
        # Paging at its documented maxima: page x page_size is past what a 32-bit OFFSET
        # holds. Valid, so a page (an empty one) may come back.
        extremes = tuple(
            (p["name"], str(p["schema"]["maximum"]))
            for p in params
            if p["name"] in ("page", "page_size") and "maximum" in p.get("schema", {})
        )
        if extremes:
            label = f"GET {template} at the maxima"
            found.append(Probe(label, good, extremes, may_succeed=True))
    return found


def _example(param: dict[str, Any]) -> str | None:
    schema = param.get("schema", {})
    examples = param.get("examples") or schema.get("examples")
    if not isinstance(examples, list) or not examples:
        return None
    value = examples[0]
    if isinstance(value, list):  # an array parameter's example is a list of values
        value = value[0] if value else None
    return None if value is None else str(value)


async def check(client: httpx.AsyncClient, probe: Probe) -> str | None:
    """What is wrong with the answer to ``probe``, if anything."""
    response = await client.get(probe.path, params=probe.params)
    status, body = response.status_code, response.text
    if probe.may_succeed and status == 200:
        return None if isinstance(response.json().get("items"), list) else f"{probe.label}: {body}"
    if not 400 <= status < 500:
        return f"{probe.label}: {status} {body[:300]}"
    if response.headers.get("content-type") != "application/problem+json":
        return f"{probe.label}: {status} as {response.headers.get('content-type')}: {body[:300]}"
    problem = response.json()
    if problem.get("status") != status or not problem.get("title") or not problem.get("detail"):
        return f"{probe.label}: not a problem body: {body[:300]}"
    if "Traceback" in body or 'File "' in body:
        return f"{probe.label}: a stack trace in the body"
    if "X-Injected" in response.headers:
        return f"{probe.label}: a header was injected"
    return None


async def test_hostile_parameters_get_a_problem_and_change_nothing(
    sample_copy_url: str, tmp_path: Path, integrity: Integrity
) -> None:
    before = await integrity.watch(sample_copy_url)
    assert before.observations > 0
    # With an admin token, so that the admin GETs validate their parameters too.
    async with serve(sample_copy_url, tmp_path, admin_token=ADMIN_TOKEN) as server:
        document = await openapi(server.base_url)
        found = probes(document)
        limit = asyncio.Semaphore(8)

        async def bounded(probe: Probe) -> str | None:
            async with limit:
                return await check(client, probe)

        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=admin, timeout=30) as client:
            problems = await asyncio.gather(*(bounded(p) for p in found))
            # Still serving, and serving the same data.
            response = await client.get("/api/weather", params={"page_size": 1})
        assert server.running
        log = server.log_tail(10_000_000)
    assert response.status_code == 200
    assert response.json()["total"] == before.observations
    wrong = [p for p in problems if p is not None]
    assert not wrong, f"{len(wrong)} of {len(found)} hostile requests:\n" + "\n".join(wrong[:40])
    assert '"level": "ERROR"' not in log, log[-6000:]
    record(
        "hostile parameters",
        operations=len(get_operations(document)),
        parameters=sum(len(op.get("parameters", [])) for _, op in get_operations(document)),
        values=len(HOSTILE),
        requests=len(found),
        not_a_4xx_problem=len(wrong),
    )
