"""GCS data lake: one bucket per zone, encrypted with our key, private, versioned, logged.

Disaster recovery uses a *configurable dual-region* location (both regions hold every object,
Google replicates asynchronously, optionally with turbo replication's 15-minute RPO) instead of a
second bucket and a transfer job: there is nothing to fail over, the bucket name stays the same
and reads keep working when one region is down. A dual-region bucket's CMEK key must live in the
multi-region that contains both regions (``us`` for ``us-central1`` + ``us-east1``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from catalog import conventions as cv
from catalog.clouds import GCS_LOG_SUFFIX as LOG_SUFFIX
from catalog.clouds import gcs_multi_region_of as multi_region_of
from components.base import Component

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
LOG_WRITER = "group:cloud-storage-analytics@google.com"
"""The group GCS writes usage and storage logs as."""


def bucket_name(prefix: str, zone: str) -> str:
    """A lake bucket's name: ``<prefix>-<zone>`` (the prefix starts with the project id: globally unique)."""
    return f"{prefix}-{zone}"


@dataclass(frozen=True)
class DataLakeArgs:
    """Arguments of :class:`DataLake`.

    :param bucket_prefix: Bucket names are ``<prefix>-<zone>``; the log bucket ``<prefix>-logs``.
    :param zones: Lake zones (``raw``, ``curated``...), one bucket each.
    :param region: Primary region.
    :param kms_key_id: Full id of the CMEK key for every bucket (located with the buckets).
    :param dr_region: With it, buckets are dual-region (``region`` + ``dr_region``).
    :param turbo_replication: Dual-region only: turbo replication (RPO 15 minutes).
    :param tiered_zones: Zones whose objects move to Nearline, then Coldline, as they age.
    :param nearline_days: Age at which tiered objects move to Nearline.
    :param coldline_days: Age at which tiered objects move to Coldline.
    :param noncurrent_expiry_days: Days after which a replaced or deleted version is removed.
    :param abort_multipart_days: Days after which unfinished multipart uploads are aborted.
    :param log_retention_days: Days access logs are kept.
    :param force_destroy: Let ``pulumi destroy`` delete non-empty buckets (never in prod).
    :param protect: Protect and retain the buckets (prod).
    :param labels: Labels for every bucket.
    """

    bucket_prefix: str
    zones: Sequence[str]
    region: str
    kms_key_id: pulumi.Input[str]
    dr_region: str | None = None
    turbo_replication: bool = False
    tiered_zones: Sequence[str] = ("raw",)
    nearline_days: int = 30
    coldline_days: int = 90
    noncurrent_expiry_days: int = 90
    abort_multipart_days: int = 7
    log_retention_days: int = 365
    force_destroy: bool = False
    protect: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.zones:
            raise ValueError("zones must name at least one zone")
        if len(set(self.zones)) != len(self.zones):
            raise ValueError("zones must be unique")
        for zone in [*self.zones, LOG_SUFFIX]:
            if not _BUCKET.match(f"{self.bucket_prefix}-{zone}"):
                raise ValueError(
                    f"bucket name {self.bucket_prefix}-{zone!s} is not a valid GCS bucket name (3-63 of a-z 0-9 - _)"
                )
        if LOG_SUFFIX in self.zones:
            raise ValueError(f"zone {LOG_SUFFIX!r} is reserved for the access-log bucket")
        for zone in self.tiered_zones:
            if zone not in self.zones:
                raise ValueError(f"tiered zone {zone!r} is not a zone")
        if self.coldline_days <= self.nearline_days:
            raise ValueError("coldline_days must be later than nearline_days")
        if self.dr_region:
            if self.dr_region == self.region:
                raise ValueError("dr_region must differ from region")
            if multi_region_of(self.region) is None or multi_region_of(self.region) != multi_region_of(self.dr_region):
                raise ValueError(
                    f"{self.region} and {self.dr_region} do not share a continent; a dual-region bucket needs both in one"
                )
        elif self.turbo_replication:
            raise ValueError("turbo_replication needs a dual-region bucket (dr_region)")
        if self.protect and self.force_destroy:
            raise ValueError("force_destroy is not allowed on protected buckets")

    @property
    def location(self) -> str:
        """The buckets' location: the multi-region code of a dual-region pair, else the region."""
        if self.dr_region:
            return str(multi_region_of(self.region))
        return self.region.upper()

    @property
    def kms_location(self) -> str:
        """Where the CMEK key must live for these buckets."""
        return self.location.lower()


class DataLake(Component):
    """One private, CMEK-encrypted, versioned GCS bucket per lake zone plus an access-log bucket."""

    buckets: dict[str, gcp.storage.Bucket]
    log_bucket: gcp.storage.Bucket
    bucket_names: dict[str, pulumi.Output[str]]
    """Zone -> bucket name."""

    def __init__(self, resource_name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:DataLake", resource_name, opts)
        name = resource_name
        placement = {"data_locations": [args.region.upper(), args.dr_region.upper()]} if args.dr_region else None
        rpo = ("ASYNC_TURBO" if args.turbo_replication else "DEFAULT") if args.dr_region else None
        common = {
            "location": args.location,
            "custom_placement_config": placement,
            "rpo": rpo,
            "storage_class": "STANDARD",
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "encryption": {"default_kms_key_name": args.kms_key_id},
            "versioning": {"enabled": True},
            "force_destroy": args.force_destroy,
        }
        log_bucket = gcp.storage.Bucket(
            f"{name}-{LOG_SUFFIX}",
            name=f"{args.bucket_prefix}-{LOG_SUFFIX}",
            labels={**args.labels, cv.TAG_LAKE_ZONE: LOG_SUFFIX, cv.TAG_LAKE_ROLE: "logs"},
            lifecycle_rules=[
                {"action": {"type": "Delete"}, "condition": {"age": args.log_retention_days}},
                {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 1, "with_state": "ARCHIVED"}},
            ],
            **common,
            opts=self.child_opts(keep=args.protect),
        )
        gcp.storage.BucketIAMMember(
            f"{name}-{LOG_SUFFIX}-writer",
            bucket=log_bucket.name,
            role="roles/storage.objectCreator",
            member=LOG_WRITER,
            opts=self.child_opts(),
        )
        buckets: dict[str, gcp.storage.Bucket] = {}
        for zone in args.zones:
            buckets[zone] = gcp.storage.Bucket(
                f"{name}-{zone}",
                name=bucket_name(args.bucket_prefix, zone),
                labels={**args.labels, cv.TAG_LAKE_ZONE: zone, cv.TAG_LAKE_ROLE: "primary"},
                lifecycle_rules=self._rules(args, zone),
                logging={"log_bucket": log_bucket.name, "log_object_prefix": f"{zone}/"},
                **common,
                opts=self.child_opts(keep=args.protect),
            )
        self.publish(buckets=buckets, log_bucket=log_bucket, bucket_names={z: b.name for z, b in buckets.items()})

    @staticmethod
    def _rules(args: DataLakeArgs, zone: str) -> list[dict]:
        rules: list[dict] = [
            {
                "action": {"type": "Delete"},
                "condition": {"days_since_noncurrent_time": args.noncurrent_expiry_days, "with_state": "ARCHIVED"},
            },
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": args.abort_multipart_days}},
        ]
        if zone in args.tiered_zones:
            rules += [
                {
                    "action": {"type": "SetStorageClass", "storage_class": "NEARLINE"},
                    "condition": {"age": args.nearline_days, "matches_storage_classes": ["STANDARD"], "with_state": "LIVE"},
                },
                {
                    "action": {"type": "SetStorageClass", "storage_class": "COLDLINE"},
                    "condition": {"age": args.coldline_days, "matches_storage_classes": ["NEARLINE"], "with_state": "LIVE"},
                },
            ]
        return rules
