"""The audit trail: a CloudTrail trail recording every read and write of the lake, in its own locked bucket.

What it builds (issue 16):

- a dedicated log bucket: versioned, TLS-only, all four public-access blocks, ``BucketOwnerEnforced``,
  SSE-KMS with our key, lifecycle expiring files after the retention; with ``object_lock_days``
  (prod) S3 Object Lock in governance mode (Object Lock can only be turned on when the bucket is
  created, so the bucket sets ``object_lock_enabled`` from the start);
- a multi-region trail with log-file validation, encrypted with our key (whose policy must name
  the trail: :func:`components.aws.kms.cloudtrail_statements`), recording management events and
  S3 data events (read and write) on every lake bucket through advanced event selectors;
- with ``organization_trail`` (the name of an organization trail that already records management
  events), no second management trail: a data-events-only trail for the lake instead.

CloudTrail validates on ``CreateTrail`` that it may write to the bucket and use the key, so the
trail depends on the bucket policy (and the key, whose policy is part of the key resource).

Files land under ``s3://<bucket>/AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/``, the
layout Athena's CloudTrail table (partition projection) and ``python -m infra ops audit who-read``
read; see ``docs/security.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws.data_lake import deny_insecure_transport
from components.base import Component

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def trail_arn(*, partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{name}"


def log_bucket_policy(*, bucket_arn: str, account_id: str, trail_arns: Sequence[str]) -> str:
    """Deny plain HTTP; let CloudTrail (for our trails only) check the ACL and write under ``AWSLogs/<account>/``.

    After the CloudTrail user guide, "Amazon S3 bucket policy for CloudTrail" (``aws:SourceArn``
    names the trails; CloudTrail still sends ``x-amz-acl: bucket-owner-full-control``).
    """
    service = {"Service": "cloudtrail.amazonaws.com"}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                deny_insecure_transport(bucket_arn),
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": service,
                    "Action": "s3:GetBucketAcl",
                    "Resource": bucket_arn,
                    "Condition": {"StringEquals": {"aws:SourceArn": list(trail_arns)}},
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": service,
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
                    "Condition": {
                        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": list(trail_arns)}
                    },
                },
            ],
        }
    )


def event_selectors(lake_bucket_arns: Sequence[str], *, management: bool) -> list[dict[str, object]]:
    """Advanced event selectors: S3 object-level reads and writes under every lake bucket, plus management events.

    No ``readOnly`` field selector, so both reads (``GetObject``...) and writes (``PutObject``,
    ``DeleteObject``...) are recorded. ``resources.ARN`` ``startsWith`` ``<bucket arn>/`` matches
    every object of the bucket.
    """
    if not lake_bucket_arns:
        raise ValueError("lake_bucket_arns: give at least one lake bucket")
    selectors: list[dict[str, object]] = [
        {
            "name": "Lake S3 data events",
            "field_selectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "starts_withs": [f"{arn}/" for arn in lake_bucket_arns]},
            ],
        }
    ]
    if management:
        selectors.append({"name": "Management events", "field_selectors": [{"field": "eventCategory", "equals": ["Management"]}]})
    return selectors


@dataclass(frozen=True)
class AuditTrailArgs:
    """Arguments of :class:`AuditTrail`.

    :param trail_name: the trail's name (the KMS key's policy must name it: ``KmsKeyArgs(cloudtrail_trails=...)``).
    :param bucket_name: the log bucket's name.
    :param account_id: the account (bucket policy, log prefix).
    :param region: the trail's home region.
    :param kms_key: the key encrypting the log files and the bucket (a resource, so the trail waits for its policy).
    :param kms_key_arn: its ARN.
    :param lake_bucket_arns: the lake buckets whose object reads and writes are recorded.
    :param retention_days: log files (and their old versions) expire after this many days.
    :param object_lock_days: Object Lock governance retention (prod); ``None``: no Object Lock.
    :param organization_trail: an existing organization trail records management events; this
        trail then records the lake's data events only.
    :param partition: the AWS partition.
    :param protect: protect and retain the bucket and the trail (prod).
    :param force_destroy: let ``pulumi destroy`` empty the bucket (dev; never with ``protect`` or Object Lock).
    :param tags: tags on the bucket and the trail.
    """

    trail_name: str
    bucket_name: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: str
    kms_key: pulumi.Resource
    kms_key_arn: pulumi.Input[str]
    lake_bucket_arns: Sequence[pulumi.Input[str]]
    retention_days: int = 365
    object_lock_days: int | None = None
    organization_trail: str | None = None
    partition: str = "aws"
    protect: bool = False
    force_destroy: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.trail_name):
            raise ValueError(
                f"trail_name {self.trail_name!r}: 3-128 of letters, digits, '.', '_', '-', starting with a letter or digit"
            )
        if isinstance(self.bucket_name, str) and not _BUCKET.match(self.bucket_name):
            raise ValueError(f"bucket_name {self.bucket_name!r} is not an S3 bucket name")
        if not self.lake_bucket_arns:
            raise ValueError("lake_bucket_arns: give at least one lake bucket (the trail exists to record their data events)")
        if self.retention_days < 1:
            raise ValueError(f"retention_days {self.retention_days} must be at least 1")
        lock = self.object_lock_days
        if lock is not None and not 1 <= lock <= self.retention_days:
            raise ValueError(f"object_lock_days {lock} must be between 1 and retention_days ({self.retention_days})")
        if self.force_destroy and (self.protect or lock):
            raise ValueError(
                "force_destroy with protect or Object Lock: locked or protected audit logs are never force-destroyed"
            )
        object.__setattr__(self, "lake_bucket_arns", tuple(self.lake_bucket_arns))


class AuditTrail(Component):
    """CloudTrail trail + its locked log bucket (the AWS provider of ``args.region`` comes through ``opts``).

    Outputs: ``arn`` (the trail's), ``bucket_name``, ``data_events_only``.
    """

    arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    data_events_only: bool

    def __init__(self, resource_name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:AuditTrail", resource_name, opts)
        trail_name, bucket_name, account_id, region = args.trail_name, args.bucket_name, args.account_id, args.region
        kms_key, kms_key_arn, lake_bucket_arns, partition = args.kms_key, args.kms_key_arn, args.lake_bucket_arns, args.partition
        retention_days, object_lock_days, protect = args.retention_days, args.object_lock_days, args.protect
        tags = args.tags
        kept = self.child_opts(keep=protect)
        data_events_only = args.organization_trail is not None
        self.trail_name = trail_name

        self.bucket = aws.s3.Bucket(
            f"{resource_name}-logs",
            bucket=bucket_name,
            object_lock_enabled=object_lock_days is not None,
            force_destroy=args.force_destroy,
            tags=dict(tags or {}),
            opts=kept,
        )
        bucket_opts = self.child_opts(depends_on=[self.bucket])
        versioning = aws.s3.BucketVersioning(
            f"{resource_name}-logs", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=bucket_opts
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{resource_name}-logs",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=bucket_opts,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{resource_name}-logs", bucket=self.bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=bucket_opts
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{resource_name}-logs",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}}],
            opts=bucket_opts,
        )
        self.lock: aws.s3.BucketObjectLockConfiguration | None = None
        if object_lock_days is not None:
            self.lock = aws.s3.BucketObjectLockConfiguration(
                f"{resource_name}-logs",
                bucket=self.bucket.id,
                object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": "GOVERNANCE", "days": object_lock_days}},
                opts=self.child_opts(depends_on=[versioning]),
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{resource_name}-logs",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-audit-logs",
                    "status": "Enabled",
                    "filter": {"prefix": "AWSLogs/"},
                    "expiration": {"days": retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": 1},
                },
                {
                    "id": "abort-multipart",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
            ],
            opts=self.child_opts(depends_on=[versioning]),
        )
        arn = pulumi.Output.from_input(account_id).apply(
            lambda acct: trail_arn(partition=partition, region=region, account_id=acct, name=trail_name)
        )
        self.policy = aws.s3.BucketPolicy(
            f"{resource_name}-logs",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, account_id, arn).apply(
                lambda a: log_bucket_policy(bucket_arn=a[0], account_id=a[1], trail_arns=[a[2]])
            ),
            opts=self.child_opts(depends_on=[block]),
        )
        selectors = pulumi.Output.all(*lake_bucket_arns).apply(
            lambda arns: event_selectors(list(arns), management=not data_events_only)
        )
        self.trail = aws.cloudtrail.Trail(
            resource_name,
            name=trail_name,
            s3_bucket_name=self.bucket.id,
            kms_key_id=kms_key_arn,
            enable_log_file_validation=True,
            is_multi_region_trail=True,  # also records the DR replicas' data events in their region
            include_global_service_events=not data_events_only,
            enable_logging=True,
            advanced_event_selectors=selectors,
            tags=dict(tags or {}),
            # CreateTrail checks the bucket policy and the key policy: both must exist first.
            opts=self.child_opts(depends_on=[self.policy, ownership, encryption, kms_key], keep=protect),
        )
        self.publish(arn=self.trail.arn, bucket_name=self.bucket.bucket, data_events_only=data_events_only)
