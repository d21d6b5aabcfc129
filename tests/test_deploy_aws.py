"""Properties of the CloudFormation templates that a reviewer would otherwise check by eye:
HTTPS on the domain name, health checks, one-off tasks, connection budget, alarms, IAM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads  # type: ignore[import-untyped]

from weather_api.db.engine import LOAD_WRITERS, SESSION_POOL_SIZE

# Linters and container checks: minutes, not seconds; not in the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
AWS = ROOT / "deploy" / "aws"


def template(name: str) -> Any:
    return loads((AWS / name).read_text())


def environment(container: Any) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container["Environment"] if "Name" in item}


def test_http_only_redirects_and_the_domain_is_an_alias_of_the_load_balancer() -> None:
    resources = template("service.yaml")["Resources"]
    assert resources["HttpListener"]["Properties"]["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
        }
    ]
    https = resources["HttpsListener"]
    assert "Condition" not in https
    assert https["Properties"]["Protocol"] == "HTTPS"
    record = resources["DnsRecord"]["Properties"]
    assert record["Name"] == {"Ref": "DomainName"}
    assert record["HostedZoneId"] == {"Ref": "HostedZoneId"}
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}


def test_api_tasks_trust_the_proxy_never_load_and_check_liveness() -> None:
    resources = template("service.yaml")["Resources"]
    (api,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = environment(api)
    assert env["WEATHER_AUTOLOAD"] == "false"
    assert env["FORWARDED_ALLOW_IPS"] == {"Ref": "VpcCidr"}
    assert env["WEATHER_DB_SSL"] == "verify-full"
    for name, key in (
        ("WEATHER_POOL_SIZE", "PoolSize"),
        ("WEATHER_MAX_CONCURRENT_EXPORTS", "Exports"),
    ):
        assert env[name] == {
            "Fn::FindInMap": ["DatabaseConnections", {"Ref": "DatabaseInstanceClass"}, key]
        }
    assert "/health'" in api["HealthCheck"]["Command"][-1]
    assert resources["TargetGroup"]["Properties"]["HealthCheckPath"] == "/health/ready"
    parameters = template("service.yaml")["Parameters"]
    assert parameters["HealthCheckGracePeriod"]["Default"] == 120


def test_one_off_tasks_run_under_an_init_process_with_their_own_credentials() -> None:
    resources = template("service.yaml")["Resources"]
    users = {}
    for name, command in (("Roles", ["db-roles"]), ("Migrate", ["migrate"]), ("Load", None)):
        containers = resources[f"{name}TaskDefinition"]["Properties"]["ContainerDefinitions"]
        container = next(c for c in containers if c.get("Name") == name.lower())
        assert container["LinuxParameters"]["InitProcessEnabled"] is True
        if command:
            assert container["Command"] == command
        secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
        users[name] = secrets["WEATHER_DB_USER"]["Fn::Sub"].split(":")[0]
    assert users == {
        "Roles": "${MasterSecretArn}",
        "Migrate": "${MigrationSecretArn}",
        "Load": "${RuntimeSecretArn}",
    }


def test_pools_fit_max_connections_at_six_tasks_during_a_deployment() -> None:
    service = template("service.yaml")
    assert service["Parameters"]["MaxTasks"]["MaxValue"] == 6
    workers = service["Parameters"]["Workers"]["Default"]
    database_classes = template("database.yaml")["Parameters"]["InstanceClass"]["AllowedValues"]
    budget = service["Mappings"]["DatabaseConnections"]
    assert sorted(budget) == sorted(database_classes)
    for instance_class, sizes in budget.items():
        # 12 tasks at 200 %, each worker with its read pool, its engine's sessions, two load
        # connections and its exports' pool, the writers of the one load running across them
        # all, and room for the one-off tasks (roles, migration, a load) and reserved
        # superuser connections.
        per_worker = sizes["PoolSize"] + SESSION_POOL_SIZE + 2 + sizes["Exports"]
        needed = 12 * workers * per_worker + LOAD_WRITERS + 10
        assert needed <= sizes["MaxConnections"], instance_class
        assert sizes["AlarmAbove"] == sizes["MaxConnections"] * 8 // 10


def test_alarms_cover_the_operations_list() -> None:
    resources = template("service.yaml")["Resources"]
    alarms = {k: v for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {
        "UnHealthyHostCount",
        "TargetResponseTime",
        "CPUUtilization",
        "FreeStorageSpace",
        "DatabaseConnections",
        "LoadsSucceeded",
    } <= metrics
    assert "HTTPCode_Target_5XX_Count" in str(alarms["ServerErrorRateAlarm"])
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    failed = resources["LoadFailedRule"]["Properties"]
    assert failed["Targets"][0]["Arn"] == {"Ref": "AlarmTopic"}
    assert failed["EventPattern"]["detail"]["lastStatus"] == ["STOPPED"]
    database = template("database.yaml")["Resources"]
    assert database["Database"]["Properties"]["EnableCloudwatchLogsExports"][0] == "postgresql"
    params = database["ParameterGroup"]["Properties"]["Parameters"]
    assert params["log_min_duration_statement"] == "1000"


def test_cloudformation_role_is_bounded_and_scoped_to_the_stacks() -> None:
    resources = template("github-oidc.yaml")["Resources"]
    role = resources["CloudFormationRole"]["Properties"]
    assert role["PermissionsBoundary"] == {"Ref": "CloudFormationBoundary"}
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    actions = {
        action: statement
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    for needed in (
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "cloudwatch:GetMetricData",
    ):
        assert needed in actions
    assert not {"secretsmanager:*", "kms:*", "iam:*"} & set(actions)
    assert "${StackPrefix}-*" in str(actions["secretsmanager:GetSecretValue"]["Resource"])
    assert "aws:ResourceTag" in str(actions["kms:CreateGrant"]["Condition"])
    create = actions["iam:CreateRole"]
    assert create["Condition"] == {
        "StringEquals": {"iam:PermissionsBoundary": {"Ref": "WorkloadBoundary"}}
    }
    # Every role the stacks create carries the boundary the CloudFormation role demands.
    service = template("service.yaml")["Resources"]
    roles = [r for r in service.values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 4
    for role in roles:
        assert role["Properties"]["PermissionsBoundary"] == {"Ref": "PermissionsBoundaryArn"}
