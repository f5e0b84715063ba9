"""MLP-SEC-009: managed databases encrypt their storage."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, truthy

RDS = ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster")


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if get(args.props, "replicateSourceDb"):
        return  # a read replica inherits the source's encryption
    if not truthy(get(args.props, "storageEncrypted")):
        report("storageEncrypted is not true; encrypt the database storage with your KMS key (kms_key_id)")


POLICY = resource_policy(
    name="mlp-sec-009",
    description="RDS databases encrypt their storage at rest.",
    severity=Severity.HIGH,
    types=RDS,
    check=check,
)
