"""MLP-SEC-022: GCS buckets use uniform bucket-level access (IAM only, no object ACLs)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, truthy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if not truthy(get(args.props, "uniformBucketLevelAccess")):
        report("uniformBucketLevelAccess is not true; object ACLs could expose data")


POLICY = resource_policy(
    name="mlp-sec-022",
    description="GCS buckets use uniform bucket-level access.",
    severity=Severity.HIGH,
    types=["gcp:storage/bucket:Bucket"],
    check=check,
)
