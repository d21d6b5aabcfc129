"""Schema fuzzing: schemathesis reads the live OpenAPI document and, for every operation in
it, sends the documented examples, requests built to cover each constraint's edges,
random valid and invalid requests, and (where it finds links between operations) stateful
sequences, running all its checks on every answer.

It runs as its command-line tool against ``weather-api serve`` with the production
settings, over the sample data. Admin operations run too, with a valid token, against a
server whose load sources lead nowhere (an empty data root, no allowed host), so a fuzzed
load can start but never find data; the integrity check proves no row changed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shlex
from pathlib import Path
from typing import Any

from tests.reliability.conftest import Integrity
from tests.reliability.support import BIN, finish, openapi, record, serve

MAX_EXAMPLES = 100  # per operation and phase
RUN_TIMEOUT_S = 420
ADMIN_TOKEN = secrets.token_urlsafe(24)
# schemathesis's default for positive_data_acceptance: what a valid request may get.
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def auth_headers(document: dict[str, Any]) -> list[str]:
    """The admin token, sent the way the document's security schemes ask for it."""
    headers = []
    for scheme in document.get("components", {}).get("securitySchemes", {}).values():
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer":
            headers.append(f"Authorization: Bearer {ADMIN_TOKEN}")
        elif scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            headers.append(f"{scheme['name']}: {ADMIN_TOKEN}")
    return headers


def config(document: dict[str, Any]) -> str:
    """schemathesis.toml: what a schema-valid request may rightly get, where the default
    (2xx, 3xx, 401, 403, 404, 409, 429) is not all of it. Every other check is unchanged.

    - Lists (the operations with a ``cursor``) take rules no OpenAPI parameter list can
      state: one filter form at a time (``date`` or ``start_date``/``end_date``), ``page``
      or ``cursor``, and a cursor only from the same list's ``next`` link. A valid request
      may break one: a 422 problem.
    - An operation that documents a 400 says that a valid request can name something the
      server refuses (a load source outside the data root or on a host not allowed; here
      every source is).
    """
    sections = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            extra = []
            if any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
                extra.append("422")
            if "400" in operation.get("responses", {}):
                extra.append("400")
            if extra:
                sections.append(
                    "[[operations]]\n"
                    f"include-name = {json.dumps(f'{method.upper()} {path}')}\n"
                    "checks.positive_data_acceptance.expected-statuses = "
                    f"{json.dumps(_ACCEPTED + extra)}\n"
                )
    return "\n".join(sections)


async def test_schemathesis_finds_no_failure(
    sample_copy_url: str, tmp_path: Path, integrity: Integrity
) -> None:
    await integrity.watch(sample_copy_url)
    # The data root holds only an empty wx_data/ (the documented example source): a fuzzed
    # load may start, and finds nothing to load.
    empty = tmp_path / "no-data"
    (empty / "wx_data").mkdir(parents=True)
    async with serve(
        sample_copy_url,
        tmp_path,
        admin_token=ADMIN_TOKEN,
        data_root=str(empty),
        data_source="absent",
        allowed_source_hosts="",
        max_upload_bytes="65536",
    ) as server:
        document = await openapi(server.base_url)
        (tmp_path / "schemathesis.toml").write_text(config(document))
        report = tmp_path / "report.json"
        seed = os.environ.get("WEATHER_FUZZ_SEED") or str(secrets.randbelow(2**31))
        args = [
            *("--config-file", "schemathesis.toml", "run", f"{server.base_url}/openapi.json"),
            *("--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", seed),
            *("--generation-database", "none", "--request-timeout", "30", "--no-color"),
            *("--report", "json", "--report-json-path", str(report)),
            *(arg for header in auth_headers(document) for arg in ("--header", header)),
        ]
        output = tmp_path / "schemathesis.out"
        with output.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                BIN / "schemathesis", *args, cwd=tmp_path, stdout=out, stderr=out
            )
            code = await finish(process, RUN_TIMEOUT_S)
        assert server.running, server.log_tail()
    shown = shlex.join(["schemathesis", *args]).replace(ADMIN_TOKEN, "$TOKEN")
    text = output.read_text(errors="replace")
    assert code == 0, f"{shown}\n{text[-12000:]}"
    result = json.loads(report.read_text())
    operations, cases = result["operations"], result["test_cases"]
    assert result["complete"], text[-4000:]
    assert result["stop_reason"] == "completed", text[-4000:]
    assert result["failures"] == [], text[-12000:]
    assert result["errors"] == [], text[-12000:]
    assert operations["tested"] == operations["selected"] == operations["total"] > 0
    assert cases["generated"] > 0
    assert cases["with_failures"] == cases["errored"] == 0
    phases = {name: phase["status"] for name, phase in result["phases"].items()}
    assert set(phases.values()) <= {"success", "skip"}, phases
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected / (\d+) total", text)
    scenarios = re.search(r"Scenarios:\s+(\d+)", text)
    record(
        "schema fuzzing",
        operations=operations["tested"],
        cases_generated=cases["generated"],
        stateful_scenarios=int(scenarios[1]) if scenarios else 0,
        links_covered=f"{links[1]} of {links[3]}" if links else "none",
        failures=len(result["failures"]),
        phases=phases,
        seed=seed,
        max_examples=MAX_EXAMPLES,
        seconds=round(result["running_time"], 1),
    )
