"""MLP-SEC-020: GCS buckets are encrypted with a customer-managed key (CMEK)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if not get(args.props, "encryption", "defaultKmsKeyName"):
        report("encryption.defaultKmsKeyName is not set; encrypt the bucket with your Cloud KMS key")


POLICY = resource_policy(
    name="mlp-sec-020",
    description="GCS buckets are encrypted with a customer-managed Cloud KMS key.",
    severity=Severity.HIGH,
    types=["gcp:storage/bucket:Bucket"],
    check=check,
)
