"""What the benchmarks share: their sections of docs/benchmarks.md, and the app as they
call it in-process. (The throwaway embedded PostgreSQL is
``weather_api.db.engine.temporary_embedded``.)"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from weather_api.app import create_app
from weather_api.settings import Settings


def in_process_app(url: str) -> FastAPI:
    """The app on ``url`` as a benchmark calls it in-process: production settings, no
    autoload, no access log, the response cache off (a benchmark repeats its URLs)."""
    settings = Settings(
        database_url=SecretStr(url),
        autoload=False,
        environment="production",
        log_level="WARNING",
        response_cache_bytes=0,
    )
    return create_app(settings)


def write_section(doc: Path, heading: str, text: str) -> None:
    """Replace the section ``## <heading>``, up to the next heading, leaving the rest (the
    file is re-read just before writing: each benchmark writes its own section)."""
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1).rstrip("\n") + "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    doc.write_text(updated)
