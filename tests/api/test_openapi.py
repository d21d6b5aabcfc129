"""The OpenAPI document describes and exemplifies every operation, parameter and response,
and /docs and /redoc load their assets from the app itself, so they work offline.

Every check walks the whole document, so routes added later are held to the same rules."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient

Json = dict[str, Any]
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
# FastAPI's placeholder for a response nobody described.
DEFAULT_DESCRIPTION = "Successful Response"


@pytest.fixture
async def spec(client: AsyncClient) -> Json:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: Json = response.json()
    return document


def operations(spec: Json) -> list[tuple[str, Json]]:
    """(label, operation) pairs; path-level parameters are merged into each operation."""
    found = [
        (
            f"{method.upper()} {path}",
            operation
            | {"parameters": [*item.get("parameters", []), *operation.get("parameters", [])]},
        )
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert found, "the document lists no operations"
    return found


def resolve(spec: Json, node: Json) -> Json:
    """Follow local $refs; a dangling one fails the test with its name."""
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"non-local $ref {ref}"
        assert ref not in seen, f"$ref cycle through {ref}"
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert part in (target if isinstance(target, dict) else {}), f"dangling $ref {ref}"
            target = target[part]
        node = target
    return node


def has_example(node: Json) -> bool:
    return "example" in node or bool(node.get("examples"))


def example_gaps(spec: Json, schema: Json, where: str, seen: frozenset[str]) -> list[str]:
    """Where the sample body Swagger UI and ReDoc show would be made up ("string", 0)
    instead of built from declared examples."""
    if has_example(schema) or "const" in schema or schema.get("enum"):
        return []
    if schema.get("default") is not None or schema.get("type") == "null":
        return []
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:  # recursive schema: its first occurrence is checked
            return []
        return example_gaps(spec, resolve(spec, schema), where, seen | {ref})
    branches = [*schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    if branches:
        return [g for b in branches for g in example_gaps(spec, b, where, seen)]
    if "properties" in schema:
        return [
            gap
            for name, prop in schema["properties"].items()
            for gap in example_gaps(spec, prop, f"{where}.{name}", seen)
        ]
    if schema.get("type") == "array" and "items" in schema:
        return example_gaps(spec, schema["items"], f"{where}[]", seen)
    return [where]


async def test_every_operation_has_a_summary_and_a_description(spec: Json) -> None:
    missing = [
        f"{name}: {field}"
        for name, operation in operations(spec)
        for field in ("summary", "description")
        if not str(operation.get(field, "")).strip()
    ]
    assert not missing, "\n".join(missing)


async def test_every_parameter_has_a_description_and_an_example(spec: Json) -> None:
    missing = []
    checked = 0
    for name, operation in operations(spec):
        for ref in operation["parameters"]:
            param = resolve(spec, ref)
            checked += 1
            label = f"{name} {param['in']} {param['name']}"
            if not str(param.get("description", "")).strip():
                missing.append(f"{label}: description")
            # FastAPI puts Field(examples=...) of a query model into the parameter's schema.
            schema = resolve(spec, param.get("schema", {}))
            if not (has_example(param) or has_example(schema)):
                missing.append(f"{label}: example")
    assert checked, "no operation has parameters: the walk is broken"
    assert not missing, "\n".join(missing)


async def test_every_response_has_a_description_and_an_example(spec: Json) -> None:
    missing = []
    json_bodies = 0
    for name, operation in operations(spec):
        assert operation.get("responses"), f"{name}: no responses"
        for status, ref in operation["responses"].items():
            response = resolve(spec, ref)
            label = f"{name} {status}"
            description = str(response.get("description", "")).strip()
            if description in ("", DEFAULT_DESCRIPTION):
                missing.append(f"{label}: description")
            for media_type, media in response.get("content", {}).items():
                # resolve() fails the test on a dangling $ref, JSON or not.
                schema = resolve(spec, media.get("schema", {}))
                if "json" in media_type:
                    json_bodies += 1
                if not has_example(media):
                    where = f"{label} {media_type}: body"
                    missing += example_gaps(spec, media.get("schema", {}), where, frozenset())
                assert schema or has_example(media), f"{label} {media_type}: no schema"
    assert json_bodies, "no JSON response found: the walk is broken"
    assert not missing, "\n".join(missing)


async def test_every_ref_in_the_document_resolves(spec: Json) -> None:
    refs = 0

    def walk(node: Any) -> None:
        nonlocal refs
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs += 1
                resolve(spec, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert refs


class _Assets(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attr in ("src", "href"):
            if (url := values.get(attr)) is not None and tag in ("script", "link", "img"):
                self.urls.append(url)


CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize(("page", "bundle"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
async def test_docs_pages_load_only_same_origin_assets(
    client: AsyncClient, page: str, bundle: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # Nothing absolute anywhere in the page: no CDN, no fonts, no spec from elsewhere.
    assert not re.search(r"https?:", response.text, re.IGNORECASE)
    parser = _Assets()
    parser.feed(response.text)
    scripts = [u for u in parser.urls if u.endswith(".js")]
    assert scripts, f"{page} loads no script"
    for url in parser.urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{page} loads {url} from elsewhere"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[PurePosixPath(parts.path).suffix]
        assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])
    bodies = [(await client.get(url)).text for url in scripts]
    assert any(bundle in body for body in bodies), f"{page}'s scripts do not define {bundle}"
