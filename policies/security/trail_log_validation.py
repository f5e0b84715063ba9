"""MLP-SEC-025: CloudTrail trails validate their log files, are encrypted with a customer key and log."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, truthy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if not truthy(get(args.props, "enableLogFileValidation")):
        report("enableLogFileValidation is not true: tampering with delivered log files would go unnoticed")
    if not get(args.props, "kmsKeyId"):
        report("kmsKeyId is not set: encrypt the log files with the platform's customer-managed key")
    if get(args.props, "enableLogging") is False:
        report("enableLogging is false: the trail records nothing")


POLICY = resource_policy(
    name="mlp-sec-025",
    description="CloudTrail trails have log-file validation on, are KMS-encrypted and logging.",
    severity=Severity.HIGH,
    types=["aws:cloudtrail/trail:Trail"],
    check=check,
    remediation="Set enable_log_file_validation=True, kms_key_id=<key arn> and enable_logging=True on aws.cloudtrail.Trail.",
)
