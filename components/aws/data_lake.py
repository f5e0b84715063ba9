"""The data lake: one encrypted, versioned, private S3 bucket per zone, access logs, DR replicas.

Every zone bucket gets default encryption with the given KMS key (bucket key on), versioning,
all four public-access blocks, ``BucketOwnerEnforced`` ownership (ACLs off), a policy denying
non-TLS access and uploads not encrypted with that key, server access logging and lifecycle
rules. With a :class:`LakeReplica`, each zone bucket is replicated to a twin in the DR region,
encrypted with the DR key, by one least-privilege replication role.

Teams are granted on prefixes ``teams/<team>/`` of the zone buckets (see :func:`team_prefix`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from catalog.clouds import LAKE_ACCESS_LOG_ZONE
from catalog.conventions import TAG_LAKE_ROLE, TAG_LAKE_ZONE
from components.base import Component

LOG_ZONE = LAKE_ACCESS_LOG_ZONE
"""Zone tag / name part of the access-log buckets (reserved: not a data zone name)."""
_ZONE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def team_prefix(team: str) -> str:
    """The object prefix a team owns in every zone bucket."""
    return f"teams/{team}/"


def bucket_name(prefix: str, zone: str, account: str, region: str) -> str:
    """A lake bucket's name: ``<prefix>-<zone>-<account>-<region>`` (globally unique)."""
    return f"{prefix}-{zone}-{account}-{region}"


@dataclass(frozen=True)
class LakeLifecycle:
    """Lifecycle rules: tiering of ``tier_zones`` and housekeeping on every bucket."""

    tier_zones: tuple[str, ...] = ("raw",)
    infrequent_access_days: int = 30
    glacier_ir_days: int = 90
    noncurrent_expiry_days: int = 90
    abort_multipart_days: int = 7
    log_expiry_days: int = 365

    def __post_init__(self) -> None:
        if self.infrequent_access_days < 30:
            raise ValueError(f"infrequent_access_days {self.infrequent_access_days}: S3 needs at least 30")
        if self.glacier_ir_days <= self.infrequent_access_days:
            raise ValueError("glacier_ir_days must be later than infrequent_access_days")
        for name in ("noncurrent_expiry_days", "abort_multipart_days", "log_expiry_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")


@dataclass(frozen=True)
class LakeReplica:
    """Where and how the zone buckets are replicated; ``provider`` is the DR region's (the
    component's own provider comes through its ``opts``)."""

    region: str
    kms_key_arn: pulumi.Input[str]
    provider: aws.Provider
    replication_time_control: bool = False
    """S3 Replication Time Control: 99.99% of objects within 15 minutes (and its metrics)."""


def deny_insecure_transport(bucket_arn: str) -> dict[str, object]:
    """The bucket-policy statement every bucket of ours carries: deny any request not over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket_arn: str, kms_key_arn: str) -> str:
    """Deny plain-HTTP access and uploads that ask for another encryption or another key."""
    objects = f"{bucket_arn}/*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                deny_insecure_transport(bucket_arn),
                {
                    "Sid": "DenyNonKmsUploads",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                },
                {
                    "Sid": "DenyOtherKmsKeys",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn}},
                },
            ],
        }
    )


def log_bucket_policy(bucket_arn: str, account_id: str, source_arns: Sequence[str]) -> str:
    """Deny plain-HTTP access; let the S3 logging service write this account's lake logs."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                deny_insecure_transport(bucket_arn),
                {
                    "Sid": "S3ServerAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/*",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": list(source_arns)},
                    },
                },
            ],
        }
    )


def replication_policy(
    sources: Sequence[str], replicas: Sequence[str], source_key: str, replica_key: str, region: str, replica_region: str
) -> str:
    """Least privilege for S3 replication: read these sources, write these replicas, use these two keys."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadSourceConfig",
                    "Effect": "Allow",
                    "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    "Resource": list(sources),
                },
                {
                    "Sid": "ReadSourceVersions",
                    "Effect": "Allow",
                    "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                    "Resource": [f"{s}/*" for s in sources],
                },
                {
                    "Sid": "WriteReplicas",
                    "Effect": "Allow",
                    "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                    "Resource": [f"{r}/*" for r in replicas],
                },
                {
                    "Sid": "DecryptSource",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": source_key,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [*sources, *(f"{s}/*" for s in sources)]},
                    },
                },
                {
                    "Sid": "EncryptReplica",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": replica_key,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{replica_region}.amazonaws.com"},
                        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [*replicas, *(f"{r}/*" for r in replicas)]},
                    },
                },
            ],
        }
    )


@dataclass(frozen=True)
class DataLakeArgs:
    """Arguments of :class:`DataLake`.

    :param zones: zone names (``raw``, ``curated``...); one bucket each.
    :param bucket_prefix: bucket names are ``<prefix>-<zone>-<account>-<region>``.
    :param account_id: the owning account (bucket names, log delivery condition).
    :param region: the primary provider's region.
    :param kms_key_arn: default encryption key of the zone buckets.
    :param lifecycle: lifecycle rules.
    :param replica: DR replication target (with the DR region's provider), or ``None``.
    :param protect: ``protect`` and ``retain_on_delete`` every bucket (prod).
    :param force_destroy: let ``pulumi destroy`` empty buckets (never with ``protect``).
    :param tags: tags on every bucket (besides the provider's default tags).
    """

    zones: Sequence[str]
    bucket_prefix: str
    account_id: pulumi.Input[str]
    region: str
    kms_key_arn: pulumi.Input[str]
    lifecycle: LakeLifecycle = field(default_factory=LakeLifecycle)
    replica: LakeReplica | None = None
    protect: bool = False
    force_destroy: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        zones, region, replica = list(self.zones), self.region, self.replica
        if not zones:
            raise ValueError("zones: give at least one zone")
        if len(set(zones)) != len(zones):
            raise ValueError(f"zones {zones} must be unique")
        longest = max([*zones, LOG_ZONE], key=len)
        for zone in zones:
            if not _ZONE.match(zone):
                raise ValueError(f"zone {zone!r} must be a lowercase DNS label")
            if zone == LOG_ZONE:
                raise ValueError(f"zone {LOG_ZONE!r} is reserved for the access-log buckets")
        regions = [region] + ([replica.region] if replica else [])
        if replica and replica.region == region:
            raise ValueError(f"replica region {replica.region!r} must differ from region {region!r}")
        name_len = len(self.bucket_prefix) + len(longest) + 12 + max(len(r) for r in regions) + 3
        if not _ZONE.match(self.bucket_prefix) or name_len > 63:
            raise ValueError(f"bucket_prefix {self.bucket_prefix!r}: a lowercase DNS label giving names of at most 63 characters")
        if self.force_destroy and self.protect:
            raise ValueError("force_destroy with protect: protected (prod) buckets are never force-destroyed")
        object.__setattr__(self, "zones", tuple(zones))


class DataLake(Component):
    """Zone buckets, their access-log bucket and (optionally) DR replicas; the primary AWS provider
    comes through ``opts``, the DR region's with ``args.replica``.

    Outputs: ``bucket_names``, ``bucket_arns``, ``replica_bucket_names`` (zone -> value), ``log_bucket_name``.
    """

    buckets: dict[str, aws.s3.Bucket]
    bucket_names: dict[str, pulumi.Output[str]]
    bucket_arns: dict[str, pulumi.Output[str]]
    replica_buckets: dict[str, aws.s3.Bucket]
    replica_bucket_names: dict[str, pulumi.Output[str]]
    log_bucket_name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:DataLake", resource_name, opts)
        zones, account_id, region, kms_key_arn = args.zones, args.account_id, args.region, args.kms_key_arn
        lifecycle, replica, protect, force_destroy = args.lifecycle, args.replica, args.protect, args.force_destroy
        tags = args.tags
        provider = None  # the component's own (inherited through the parent)
        self._lake_account = pulumi.Output.from_input(account_id)
        self._lake_prefix = args.bucket_prefix
        self._lake_protect = protect
        self._lake_force_destroy = force_destroy
        self._lake_tags = dict(tags or {})
        self.region = region
        self._versioning: dict[str, pulumi.Resource] = {}
        self._log_common: dict[str, list[pulumi.Resource]] = {}
        self.kms_key_arn = pulumi.Output.from_input(kms_key_arn)

        self.log_bucket = self._log_bucket(f"{resource_name}-{LOG_ZONE}", region, lifecycle, provider)
        self.buckets: dict[str, aws.s3.Bucket] = {}
        for zone in zones:
            self.buckets[zone] = self._zone_bucket(
                f"{resource_name}-{zone}", zone, "primary", region, kms_key_arn, self.log_bucket, lifecycle, provider
            )
        self._grant_log_delivery(f"{resource_name}-{LOG_ZONE}", self.log_bucket, list(self.buckets.values()), provider)

        self.replica_buckets: dict[str, aws.s3.Bucket] = {}
        self.replica_log_bucket: aws.s3.Bucket | None = None
        self.replication_role: aws.iam.Role | None = None
        if replica is not None:
            rname = f"{resource_name}-replica"
            self.replica_log_bucket = self._log_bucket(f"{rname}-{LOG_ZONE}", replica.region, lifecycle, replica.provider)
            for zone in zones:
                self.replica_buckets[zone] = self._zone_bucket(
                    f"{rname}-{zone}",
                    zone,
                    "replica",
                    replica.region,
                    replica.kms_key_arn,
                    self.replica_log_bucket,
                    lifecycle,
                    replica.provider,
                )
            self._grant_log_delivery(
                f"{rname}-{LOG_ZONE}", self.replica_log_bucket, list(self.replica_buckets.values()), replica.provider
            )
            self._replicate(resource_name, region, kms_key_arn, replica, provider)

        self.publish(
            bucket_names={z: b.bucket for z, b in self.buckets.items()},
            bucket_arns={z: b.arn for z, b in self.buckets.items()},
            replica_bucket_names={z: b.bucket for z, b in self.replica_buckets.items()},
            log_bucket_name=self.log_bucket.bucket,
        )

    # ---- pieces --------------------------------------------------------------------------------

    def _bucket(self, name: str, zone: str, role: str, region: str, provider: aws.Provider | None) -> aws.s3.Bucket:
        name_of = self._lake_account.apply(lambda acct: bucket_name(self._lake_prefix, zone, acct, region))
        return aws.s3.Bucket(
            name,
            bucket=name_of,
            force_destroy=self._lake_force_destroy,
            tags={**self._lake_tags, TAG_LAKE_ZONE: zone, TAG_LAKE_ROLE: role},
            opts=self.child_opts(provider=provider, keep=self._lake_protect),
        )

    def _common(self, name: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        versioning = aws.s3.BucketVersioning(name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts)
        block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        ownership = aws.s3.BucketOwnershipControls(
            name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
        )
        return [versioning, block, ownership]

    def _zone_bucket(
        self,
        name: str,
        zone: str,
        role: str,
        region: str,
        key_arn: pulumi.Input[str],
        log_bucket: aws.s3.Bucket,
        lifecycle: LakeLifecycle,
        provider: aws.Provider | None,
    ) -> aws.s3.Bucket:
        bucket = self._bucket(name, zone, role, region, provider)
        opts = self.child_opts(provider=provider)
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn},
                    "bucket_key_enabled": True,
                }
            ],
            opts=opts,
        )
        common = self._common(name, bucket, opts)
        aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, key_arn).apply(lambda a: bucket_policy(a[0], a[1])),
            opts=opts.merge(pulumi.ResourceOptions(depends_on=common)),  # the public-access block first
        )
        aws.s3.BucketLogging(name, bucket=bucket.id, target_bucket=log_bucket.id, target_prefix=f"{zone}/", opts=opts)
        rules: list[dict[str, Any]] = []
        if zone in lifecycle.tier_zones:
            rules.append(
                {
                    "id": "tiering",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "transitions": [
                        {"days": lifecycle.infrequent_access_days, "storage_class": "STANDARD_IA"},
                        {"days": lifecycle.glacier_ir_days, "storage_class": "GLACIER_IR"},
                    ],
                }
            )
        rules.append(
            {
                "id": "housekeeping",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": lifecycle.noncurrent_expiry_days},
                "abort_incomplete_multipart_upload": {"days_after_initiation": lifecycle.abort_multipart_days},
                "expiration": {"expired_object_delete_marker": True},
            }
        )
        aws.s3.BucketLifecycleConfiguration(
            name, bucket=bucket.id, rules=rules, opts=opts.merge(pulumi.ResourceOptions(depends_on=common[:1]))
        )
        self._versioning[name] = common[0]  # replication waits for it
        return bucket

    def _log_bucket(self, name: str, region: str, lifecycle: LakeLifecycle, provider: aws.Provider | None) -> aws.s3.Bucket:
        # S3 server access logs can only be delivered to buckets encrypted with SSE-S3 (AES256).
        bucket = self._bucket(name, LOG_ZONE, "logs", region, provider)
        opts = self.child_opts(provider=provider)
        aws.s3.BucketServerSideEncryptionConfiguration(
            name, bucket=bucket.id, rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=opts
        )
        common = self._common(name, bucket, opts)
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": lifecycle.log_expiry_days},
                    "noncurrent_version_expiration": {"noncurrent_days": lifecycle.noncurrent_expiry_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": lifecycle.abort_multipart_days},
                }
            ],
            opts=opts.merge(pulumi.ResourceOptions(depends_on=common[:1])),
        )
        self._log_common[name] = common
        return bucket

    def _grant_log_delivery(
        self, name: str, log_bucket: aws.s3.Bucket, sources: list[aws.s3.Bucket], provider: aws.Provider | None
    ) -> None:
        policy = pulumi.Output.all(log_bucket.arn, self._lake_account, *[b.arn for b in sources]).apply(
            lambda a: log_bucket_policy(a[0], a[1], a[2:])
        )
        aws.s3.BucketPolicy(
            name,
            bucket=log_bucket.id,
            policy=policy,
            opts=self.child_opts(provider=provider, depends_on=self._log_common[name]),
        )

    def _replicate(
        self, resource_name: str, region: str, key_arn: pulumi.Input[str], replica: LakeReplica, provider: aws.Provider | None
    ) -> None:
        opts = self.child_opts(provider=provider)
        assume = self._lake_account.apply(
            lambda acct: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": acct}},
                        }
                    ],
                }
            )
        )
        role = aws.iam.Role(
            f"{resource_name}-replication",
            assume_role_policy=assume,
            description="S3 replication of the data lake to the DR region",
            opts=opts,
        )
        zones = list(self.buckets)
        sources = [self.buckets[z].arn for z in zones]
        replicas = [self.replica_buckets[z].arn for z in zones]
        n = len(zones)
        policy = pulumi.Output.all(*sources, *replicas, key_arn, replica.kms_key_arn).apply(
            lambda a: replication_policy(a[:n], a[n : 2 * n], a[2 * n], a[2 * n + 1], region, replica.region)
        )
        role_policy = aws.iam.RolePolicy(f"{resource_name}-replication", role=role.id, policy=policy, opts=opts)
        self.replication_role = role
        self.replication_configs: dict[str, aws.s3.BucketReplicationConfig] = {}
        for zone in zones:
            destination: dict[str, Any] = {
                "bucket": self.replica_buckets[zone].arn,
                "storage_class": "STANDARD",
                "encryption_configuration": {"replica_kms_key_id": replica.kms_key_arn},
            }
            if replica.replication_time_control:
                destination["replication_time"] = {"status": "Enabled", "time": {"minutes": 15}}
                destination["metrics"] = {"status": "Enabled", "event_threshold": {"minutes": 15}}
            self.replication_configs[zone] = aws.s3.BucketReplicationConfig(
                f"{resource_name}-{zone}",
                bucket=self.buckets[zone].id,
                role=role.arn,
                rules=[
                    {
                        "id": f"{zone}-to-dr",
                        "status": "Enabled",
                        "priority": 1,
                        "filter": {"prefix": ""},
                        "delete_marker_replication": {"status": "Enabled"},
                        "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                        "destination": destination,
                    }
                ],
                opts=opts.merge(
                    pulumi.ResourceOptions(
                        depends_on=[
                            self._versioning[f"{resource_name}-{zone}"],
                            self._versioning[f"{resource_name}-replica-{zone}"],
                            role_policy,
                        ]
                    )
                ),
            )
