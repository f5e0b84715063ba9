"""MLP-SEC-023: GCS buckets keep object versioning on (overwritten or deleted objects stay recoverable)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, truthy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if not truthy(get(args.props, "versioning", "enabled")):
        report("versioning.enabled is not true; turn object versioning on")


POLICY = resource_policy(
    name="mlp-sec-023",
    description="GCS buckets have object versioning enabled.",
    severity=Severity.MEDIUM,
    types=["gcp:storage/bucket:Bucket"],
    check=check,
    remediation='Set versioning={"enabled": True} on gcp.storage.Bucket.',
)
