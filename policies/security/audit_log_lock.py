"""MLP-SEC-026: in prod, audit logs are kept in a locked bucket (S3 Object Lock / a locked Cloud Logging bucket)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, Severity, StackValidationArgs

from policies.common import s3
from policies.common.base import (
    as_number,
    environments,
    get,
    known,
    linked,
    of_type,
    schema,
    stack_environment,
    stack_policy,
    truthy,
)

TRAIL = "aws:cloudtrail/trail:Trail"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LOG_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"


def check(args: StackValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    env = stack_environment(cfg, args.resources)
    if env not in cfg["environments"]:
        return
    minimum = cfg["minRetentionDays"]
    for trail in of_type(args.resources, TRAIL):
        bucket = next((b for b in s3.buckets(args.resources) if linked(trail, b, "s3BucketName")), None)
        if bucket is None:
            target = known(trail.props, "s3BucketName")
            if target:  # a bucket of another stack / account (e.g. a central log archive): not ours to check
                continue
            report(f"trail {trail.name!r} writes to no bucket of this stack", trail.urn)
            continue
        if not truthy(get(bucket.props, "objectLockEnabled")):
            report(
                f"{s3.bucket_label(bucket)} (trail {trail.name!r}) has no Object Lock; enable it when creating the bucket",
                bucket.urn,
            )
            continue
        locks = s3.companions(bucket, args.resources, LOCK)
        days = [as_number(get(lock.props, "rule", "defaultRetention", "days")) for lock in locks]
        years = [as_number(get(lock.props, "rule", "defaultRetention", "years")) for lock in locks]
        kept = max([d or 0 for d in days] + [(y or 0) * 365 for y in years] + [0])
        if not locks or kept < minimum:
            report(f"{s3.bucket_label(bucket)}: Object Lock default retention {kept:g} days is below {minimum} days", bucket.urn)
    for bucket in of_type(args.resources, LOG_BUCKET):
        if not truthy(get(bucket.props, "locked")):
            report(f"log bucket {bucket.name!r} is not locked in {env}", bucket.urn)
        retention = as_number(get(bucket.props, "retentionDays"))
        if retention is not None and retention < minimum:
            report(f"log bucket {bucket.name!r} keeps logs {retention:g} days, below {minimum} days", bucket.urn)


POLICY = stack_policy(
    name="mlp-sec-026",
    description="In production, audit logs live in a locked bucket (S3 Object Lock on the trail bucket; locked Cloud Logging buckets).",
    severity=Severity.HIGH,
    check=check,
    config=schema(
        {
            "environments": environments(["prod"], "Environments in which the audit log buckets must be locked."),
            "minRetentionDays": {
                "type": "integer",
                "minimum": 1,
                "default": 365,
                "description": "Shortest lock / retention allowed.",
            },
        },
        env=True,
    ),
    remediation="Create the trail bucket with object_lock_enabled=True and add aws.s3.BucketObjectLockConfiguration "
    "(GOVERNANCE, days); set locked=True on gcp.logging.ProjectBucketConfig.",
)
