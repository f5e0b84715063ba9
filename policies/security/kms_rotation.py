"""MLP-SEC-005: customer-managed KMS keys rotate their key material."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.common.base import get, resource_policy, truthy


def check(args: ResourceValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    spec = get(args.props, "customerMasterKeySpec", default="SYMMETRIC_DEFAULT")
    if spec != "SYMMETRIC_DEFAULT":
        return  # AWS rotates only symmetric keys
    if not truthy(get(args.props, "enableKeyRotation")):
        report("enableKeyRotation is not true; turn on automatic key rotation")


POLICY = resource_policy(
    name="mlp-sec-005",
    description="KMS keys have automatic key rotation enabled.",
    severity=Severity.MEDIUM,
    types=["aws:kms/key:Key"],
    check=check,
    remediation="Set enable_key_rotation=True on aws.kms.Key.",
)
