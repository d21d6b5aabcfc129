"""Every example the service documents is a real answer of it over the full dataset.

The app is served over a database holding ../shared/data, loaded once, and the checks
walk the live OpenAPI document and the README, so examples added later are held to the
same rules without touching this file:

- A GET's 2xx response shows its examples as named examples whose ``summary`` is the exact
  request (path and query) that answers them; the answer, JSON or CSV, must equal the
  ``value``. A bare ``example`` is refused: nothing says how to reproduce it.
- A model (a component schema) that a GET's 2xx response uses has no field-level
  examples, which Swagger UI would assemble into an invented row; the model carries one
  real example under ``examples`` and its request under ``x-request``: the answer is that
  object, or a page whose only item it is.
- ``x-volatile`` (on a named example or a model) lists the fields that differ between
  runs, such as timestamps, as dotted paths (``*`` for every element of a list); they
  are left out of the comparison.
- Each parameter's examples are valid: alone (path parameters filled with their own
  examples), each gives a 200 with something in it.
- In the README and docs/*.md, a ```console block whose first line is
  ``$ curl -s 'localhost:8000…'`` shows that request's answer in the rest of the block:
  JSON, compared as JSON, or text (CSV) compared exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from httpx import ASGITransport, AsyncClient, Response
from pydantic import SecretStr
from sqlalchemy import make_url

from tests.conftest import SHARED_DATA, create_database, drop_database, settings_for
from weather_api.app import create_app
from weather_api.db.engine import create_load_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits, default_sources

pytestmark = [
    pytest.mark.full_data,
    pytest.mark.skipif(
        not (SHARED_DATA / "wx_data").is_dir(), reason=f"no dataset at {SHARED_DATA}"
    ),
]

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The host the examples' links name, as a server run with the defaults answers them.
BASE_URL = "http://localhost:8000"
TOKEN = "examples-admin-token-0c9e51d7a2"
CONSOLE_BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)
# `| jq -c .FIELD` shows one member of the answer (a page's items, say).
CURL = re.compile(r"\$ curl -s '(localhost:8000/[^']*)'(?: \| jq -c \.(\w+))?")


@pytest.fixture(scope="module")
async def client(server_url: str, template_url: str) -> AsyncIterator[AsyncClient]:
    """The app, with an admin token, over a database into which the loader loaded the full
    dataset and the packaged station list: what `weather-api serve` (or `weather-api load`)
    with WEATHER_DATA_SOURCE=../shared/data leaves."""
    url = await create_database(server_url, template=make_url(template_url).database)
    settings = settings_for(url, admin_token=SecretStr(TOKEN))
    engine = create_load_engine(url, settings)
    limits = SourceLimits.from_settings(settings, restricted=False)
    summary = await Loader(engine, limits).run(default_sources(str(SHARED_DATA)), trigger="cli")
    await engine.dispose()
    assert summary.status == "succeeded", summary.errors
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(
                transport=ASGITransport(app=app),
                base_url=BASE_URL,
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as client,
        ):
            yield client
    finally:
        await drop_database(server_url, url)


@pytest.fixture(scope="module")
async def spec(client: AsyncClient) -> Json:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: Json = response.json()
    return document


def resolve(spec: Json, node: Json) -> tuple[str | None, Json]:
    """(component name or None, schema) with local $refs followed."""
    name = None
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = spec["components"]["schemas"][name]
    return name, node


def gets(spec: Json) -> list[tuple[str, Json]]:
    found = [(path, item["get"]) for path, item in spec["paths"].items() if "get" in item]
    assert found, "the document has no GET operation"
    return found


def success_media(operation: Json) -> list[tuple[str, Json]]:
    return [
        (media_type, media)
        for status, response in operation["responses"].items()
        if status.startswith("2")
        for media_type, media in response.get("content", {}).items()
    ]


def without(value: Any, paths: list[str]) -> Any:
    """``value`` with the dotted ``paths`` removed (``*``: every element of a list)."""
    value = json.loads(json.dumps(value))
    for path in paths:
        _drop(value, path.split("."))
    return value


def _drop(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    targets = node if head == "*" and isinstance(node, list) else None
    if targets is None:
        if not isinstance(node, dict) or head not in node:
            return
        if not rest:
            del node[head]
            return
        targets = [node[head]]
    for target in targets:
        _drop(target, rest)


async def answer(client: AsyncClient, request: str, media_type: str) -> Response:
    response = await client.get(request)
    assert response.status_code == 200, f"GET {request}: {response.status_code} {response.text}"
    got = response.headers["content-type"].split(";")[0]
    assert got == media_type, f"GET {request} answers {got}, its example is {media_type}"
    return response


def matches(response: Response, media_type: str, expected: Any, volatile: list[str]) -> bool:
    if media_type == "text/csv":
        return bool(response.text == expected)
    return bool(without(response.json(), volatile) == without(expected, volatile))


async def test_named_examples_are_the_answers_to_their_requests(
    client: AsyncClient, spec: Json
) -> None:
    wrong, checked = [], 0
    for path, operation in gets(spec):
        for media_type, media in success_media(operation):
            assert "example" not in media, (
                f"GET {path} {media_type}: a bare example; name it, with its request as summary"
            )
            for name, example in media.get("examples", {}).items():
                request = example.get("summary", "")
                assert request.startswith("/"), f"GET {path} example {name}: no request"
                response = await answer(client, request, media_type)
                checked += 1
                if not matches(
                    response, media_type, example["value"], example.get("x-volatile", [])
                ):
                    wrong.append(
                        f"GET {path} example {name} ({request}), the answer is:\n{response.text}"
                    )
    assert checked >= 5, f"only {checked} named examples: the walk is broken"
    assert not wrong, "\n\n".join(wrong)


def models_of(spec: Json, schema: Json, seen: set[str]) -> None:
    """Collect into ``seen`` the component schemas reachable from ``schema``."""
    name, node = resolve(spec, schema)
    if name is not None:
        if name in seen:
            return
        seen.add(name)
    children = [*node.get("anyOf", []), *node.get("oneOf", []), *node.get("allOf", [])]
    children += list(node.get("properties", {}).values())
    if isinstance(node.get("items"), dict):
        children.append(node["items"])
    for child in children:
        models_of(spec, child, seen)


async def test_models_carry_one_real_example_each(client: AsyncClient, spec: Json) -> None:
    models: set[str] = set()
    for _, operation in gets(spec):
        for _, media in success_media(operation):
            models_of(spec, media.get("schema", {}), models)
    wrong, checked = [], 0
    for name in sorted(models):
        schema = spec["components"]["schemas"][name]
        invented = [
            field for field, prop in schema.get("properties", {}).items() if "examples" in prop
        ]
        assert not invented, (
            f"{name}: field-level examples on {invented}; give the model one real example "
            "under examples, with its request as x-request"
        )
        if not schema.get("examples"):
            continue
        request = schema.get("x-request")
        assert request, f"{name} has an example but no x-request to check it by"
        assert len(schema["examples"]) == 1, f"{name}: one example, as its x-request answers"
        body = (await answer(client, request, "application/json")).json()
        if "items" in body and "items" not in schema.get("properties", {}):
            assert len(body["items"]) == 1, f"{name}: {request} answers {body['total']} items"
            body = body["items"][0]
        checked += 1
        volatile = schema.get("x-volatile", [])
        if without(body, volatile) != without(schema["examples"][0], volatile):
            wrong.append(f"{name} ({request}), the answer is:\n{json.dumps(body)}")
    assert checked >= 4, f"only {checked} model examples: the walk is broken"
    assert not wrong, "\n\n".join(wrong)


def first_example(param: Json) -> Any:
    examples = param.get("examples") or param.get("schema", {}).get("examples")
    return examples[0] if examples else None


async def test_parameter_examples_are_valid_and_find_something(
    client: AsyncClient, spec: Json
) -> None:
    empty, checked = [], 0
    for template, operation in gets(spec):
        params = operation.get("parameters", [])
        path = template
        for param in params:
            if param["in"] == "path":
                value = first_example(param)
                assert value is not None, f"GET {template}: path parameter {param['name']}"
                path = path.replace("{" + param["name"] + "}", str(value))
        for param in [p for p in params if p["in"] == "query"] or [None]:
            query = ""
            if param is not None:
                value = first_example(param)
                assert value is not None, f"GET {template}: {param['name']} has no example"
                query = "?" + urlencode({param["name"]: value}, doseq=True)
                # A parameter that needs another (radius_km needs near) names it as x-with.
                if companion := param.get("schema", {}).get("x-with"):
                    query += "&" + companion
            response = await client.get(path + query)
            checked += 1
            label = f"GET {path + query}"
            assert response.status_code == 200, f"{label}: {response.status_code} {response.text}"
            if response.headers["content-type"].startswith("text/csv"):
                found = len(response.text.splitlines()) > 1
            else:
                body = response.json()
                found = bool(body["items"]) if isinstance(body, dict) and "items" in body else True
            if not found:
                empty.append(label)
    assert checked >= 20, f"only {checked} requests: the walk is broken"
    assert not empty, "examples that find nothing:\n" + "\n".join(empty)


async def test_readme_and_docs_examples_are_real(client: AsyncClient) -> None:
    blocks = [
        (document.relative_to(ROOT), block)
        for document in DOCUMENTS
        for block in CONSOLE_BLOCK.findall(document.read_text())
    ]
    assert len(blocks) >= 2, "no console examples found: the parse is broken"
    wrong = []
    for document, block in blocks:
        command, _, shown = block.partition("\n")
        request = CURL.fullmatch(command)
        assert request, f"{document}: console block not of the form $ curl -s '...': {command}"
        target = request[1].removeprefix("localhost:8000")
        response = await client.get(target)
        assert response.status_code == 200, f"{document} {target}: {response.text}"
        if request[2]:
            same = response.json()[request[2]] == json.loads(shown)
        elif shown.lstrip().startswith(("{", "[")):
            same = response.json() == json.loads(shown)
        else:
            same = response.text == shown
        if not same:
            wrong.append(f"{document} {target}, the answer is:\n{response.text}")
    assert not wrong, "\n\n".join(wrong)
