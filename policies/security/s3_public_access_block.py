"""MLP-SEC-002: every S3 bucket blocks public access with all four settings."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common import s3
from policies.common.base import Report, get, stack_policy, truthy

PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    for bucket in s3.buckets(args.resources):
        blocks = s3.companions(bucket, args.resources, PAB)
        if not blocks:
            report(f"{s3.bucket_label(bucket)} has no BucketPublicAccessBlock; add one with all four settings true", bucket.urn)
        for block in blocks:
            off = [k for k in SETTINGS if not truthy(get(block.props, k))]
            if off:
                report(
                    f"{s3.bucket_label(bucket)}: public access block leaves {', '.join(off)} off; set all four to true", block.urn
                )


POLICY = stack_policy(
    name="mlp-sec-002",
    description="S3 buckets block public access (blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets).",
    severity=Severity.CRITICAL,
    check=check,
    remediation="Add aws.s3.BucketPublicAccessBlock with all four settings true.",
)
