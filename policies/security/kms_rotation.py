"""MLP-SEC-005: customer-managed KMS keys rotate their key material (AWS KMS and Cloud KMS)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, truthy

AWS_KEY = "aws:kms/key:Key"
GCP_KEY = "gcp:kms/cryptoKey:CryptoKey"


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type == GCP_KEY:
        if get(args.props, "purpose", default="ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
            return  # Cloud KMS rotates only symmetric keys automatically
        if not get(args.props, "rotationPeriod"):
            report("rotationPeriod is not set; set an automatic rotation period such as 7776000s (90 days)")
        return
    spec = get(args.props, "customerMasterKeySpec", default="SYMMETRIC_DEFAULT")
    if spec != "SYMMETRIC_DEFAULT":
        return  # AWS rotates only symmetric keys
    if not truthy(get(args.props, "enableKeyRotation")):
        report("enableKeyRotation is not true; turn on automatic key rotation")


POLICY = resource_policy(
    name="mlp-sec-005",
    description="KMS keys have automatic key rotation enabled.",
    severity=Severity.MEDIUM,
    types=[AWS_KEY, GCP_KEY],
    check=check,
    remediation="Set enable_key_rotation=True on aws.kms.Key, rotation_period on gcp.kms.CryptoKey.",
)
