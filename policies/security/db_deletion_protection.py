"""MLP-SEC-011: production databases are deletion-protected."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, aws_tags, environment_of, environments, gcp_labels, get, resource_policy, schema

RDS = ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster")
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    provider = args.provider.props if args.provider is not None else None
    env = environment_of(
        cfg,
        aws_tags(args.props, provider),
        gcp_labels(args.props, provider),
        get(args.props, "settings", "userLabels", default={}),
    )
    if env not in cfg["environments"]:
        return
    if args.resource_type == CLOUD_SQL:
        if get(args.props, "deletionProtection") is False or get(args.props, "settings", "deletionProtectionEnabled") is not True:
            report(f"in {env}, set deletion_protection=True and settings.deletion_protection_enabled=True")
        return
    if get(args.props, "deletionProtection") is not True:
        report(f"deletionProtection is not true in {env}")


POLICY = resource_policy(
    name="mlp-sec-011",
    description="Databases in production have deletion protection on.",
    severity=Severity.HIGH,
    types=(*RDS, CLOUD_SQL),
    check=check,
    config=schema(
        {"environments": environments(["prod"], "Environments in which deletion protection is required.")},
        env=True,
    ),
)
