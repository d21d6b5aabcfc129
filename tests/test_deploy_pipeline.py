"""The deploy workflow's guarantees, read from the workflow files themselves: what may
trigger a deploy, what it runs (pinned), and how it recovers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

# Linters and container checks: minutes, not seconds; not in the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> Any:
    return YAML(typ="safe", pure=True).load((WORKFLOWS / name).read_text())


def deploy_steps() -> dict[str, Any]:
    steps = workflow("deploy.yml")["jobs"]["deploy"]["steps"]
    return {step.get("name", step.get("uses", "")): step for step in steps}


def test_only_pushes_to_this_repositorys_main_deploy() -> None:
    job = workflow("deploy.yml")["jobs"]["deploy"]
    condition = " ".join(job["if"].split())
    for clause in (
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.event == 'push'",
        "github.event.workflow_run.head_branch == 'main'",
        "github.event.workflow_run.head_repository.full_name == github.repository",
        "github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main'",
    ):
        assert clause in condition
    # Reviewers and the branch rule live in the protected environment; the AWS role trusts
    # only its tokens.
    assert job["environment"]["name"] == "production"
    oidc = (ROOT / "deploy" / "aws" / "github-oidc.yaml").read_text()
    assert "repo:${Repository}:environment:${Environment}" in oidc
    assert ":ref:refs/heads/" not in oidc


def test_every_action_is_pinned_by_commit_and_every_image_by_digest() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = path.read_text()
        uses = re.findall(r"uses:\s*(\S+)(.*)", text)
        assert uses, path
        for action, comment in uses:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), (path.name, action)
            assert re.match(r"\s+# v\d", comment), f"{path.name}: {action} lacks its # vX"
        for image in re.findall(r"aquasec/trivy\S*", text):
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), (path.name, image)


def test_an_existing_tag_is_not_built_again() -> None:
    steps = deploy_steps()
    assert "aws ecr describe-images" in steps["Is the image already in ECR?"]["run"]
    for name in ("Build the image", "Push the image"):
        assert steps[name]["if"] == "steps.exists.outputs.exists == 'false'"
    assert "--platform linux/amd64" in steps["Build the image"]["run"]


def test_migration_runs_before_the_service_moves_and_smoke_uses_the_domain() -> None:
    names = list(deploy_steps())
    order = [
        "Deploy the network and database stacks, and the tasks of the new image",
        "Database roles, migration and first load",
        "Move the API service to the new image",
        "Smoke test",
        "Roll back to the previous release",
    ]
    assert [name for name in names if name in order] == order
    steps = deploy_steps()
    tasks = steps["Database roles, migration and first load"]["run"]
    assert tasks.index('run_task "$ROLES_TASK" roles') < tasks.index(
        'run_task "$MIGRATE_TASK" migrate'
    )
    assert 'smoke --base-url "https://$DOMAIN_NAME"' in steps["Smoke test"]["run"]


def test_a_failed_smoke_test_redeploys_the_previous_release() -> None:
    rollback = deploy_steps()["Roll back to the previous release"]
    assert "steps.smoke.outcome == 'failure'" in rollback["if"]
    assert rollback["env"]["PREVIOUS"] == "${{ steps.tasks.outputs.previous }}"
    assert '"ServiceImageUri=$PREVIOUS"' in rollback["run"]
    assert "ServiceImageUri" in deploy_steps()["Database roles, migration and first load"]["run"]


def test_ci_tests_every_supported_postgresql_and_runs_zizmor() -> None:
    jobs = workflow("ci.yml")["jobs"]
    assert jobs["test"]["strategy"]["matrix"]["postgres"] == ["15", "16", "17", "18"]
    assert jobs["test"]["services"]["postgres"]["image"] == "postgres:${{ matrix.postgres }}"
    runs = [step.get("run", "") for step in jobs["workflows"]["steps"]]
    assert any("zizmor --offline" in run for run in runs)
    assert any("actionlint" in run for run in runs)
