"""MLP-SEC-004: every S3 bucket has versioning enabled."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common import s3
from policies.common.base import Report, get, schema, stack_policy, truthy

VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    for bucket in s3.buckets(args.resources):
        if s3.exempt(bucket, cfg):
            continue
        if truthy(get(bucket.props, "versioning", "enabled")):
            continue
        configs = s3.companions(bucket, args.resources, VERSIONING)
        if not configs:
            report(f"{s3.bucket_label(bucket)} has no BucketVersioning; enable versioning", bucket.urn)
        for conf in configs:
            status = get(conf.props, "versioningConfiguration", "status")
            if status != "Enabled":
                report(f"{s3.bucket_label(bucket)}: versioning status is {status!r}; set it to Enabled", conf.urn)


POLICY = stack_policy(
    name="mlp-sec-004",
    description="S3 buckets have versioning enabled.",
    severity=Severity.MEDIUM,
    check=check,
    config=schema(
        {
            "exemptTags": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "default": {},
                "description": "Buckets whose tag has one of these values are exempt.",
            }
        }
    ),
    remediation='Add aws.s3.BucketVersioning(versioning_configuration={"status": "Enabled"}).',
)
