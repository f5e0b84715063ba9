"""Facts of the clouds' managed services that the stack config checks and the components build with.

Both ``infra/config`` (which refuses a stack that breaks them, exit 2) and ``components/`` (which
validate their args) read them here, so the two never disagree and the config needs no component.
"""

from __future__ import annotations

import re

# ---- AWS ------------------------------------------------------------------------------------

IAM_PRINCIPAL_ARN = r"^arn:aws[-a-z]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+$"
"""An IAM role or user ARN (any partition): what EKS access entries and the config's role lists take."""

LAKE_ACCESS_LOG_ZONE = "access-logs"
"""AWS: name part of the lake's server-access-log buckets (``<prefix>-access-logs``), so no lake zone may have it."""

CLOUDWATCH_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""The retention values CloudWatch Logs accepts (``PutRetentionPolicy``)."""


AWS_RESERVATION_ID = r"^cr-[0-9a-z]+$"
"""An EC2 capacity reservation id: the EC2NodeClass CRD's pattern for ``capacityReservationSelectorTerms[].id``."""


def fsx_lustre_capacity_valid(gb: int) -> bool:
    """FSx for Lustre PERSISTENT_2 sizes: 1200 GiB, then multiples of 2400 GiB."""
    return gb == 1200 or (gb >= 2400 and gb % 2400 == 0)


# ---- GCP ------------------------------------------------------------------------------------

GKE_PARTITION_SIZES: dict[str, tuple[str, ...]] = {
    "nvidia-tesla-a100": ("1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"),
    "nvidia-a100-80gb": ("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"),
    "nvidia-h100-80gb": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "7g.80gb"),
}
"""MIG partition sizes GKE accepts per accelerator type."""

GKE_MAX_TIME_SHARING_CLIENTS = 48
"""GKE time-sharing: most containers sharing one GPU (``max_shared_clients_per_gpu``)."""

GCS_LOG_SUFFIX = "logs"
"""GCP: suffix of the lake's access-log bucket's name (``<prefix>-logs``), so no lake zone may be called ``logs``."""

_GCS_CONTINENTS = {"us": "US", "northamerica": "US", "europe": "EU", "asia": "ASIA"}

CLOUD_SQL_TIER = re.compile(r"^db-(custom-[0-9]+-[0-9]+|f1-micro|g1-small|perf-optimized-N-[0-9]+|n1-(standard|highmem)-[0-9]+)$")
"""Cloud SQL machine tiers (``db-custom-<vCPUs>-<MiB>`` and the named shared / legacy tiers)."""

GCP_BILLING_ACCOUNT = r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$"
"""A Cloud Billing account id (``012345-6789AB-CDEF01``)."""

MEMORYSTORE_TIERS = ("BASIC", "STANDARD_HA")
"""Memorystore for Redis service tiers."""


def gcs_multi_region_of(region: str) -> str | None:
    """The GCS multi-region containing ``region`` (``us-east1`` -> ``US``), or ``None``."""
    return _GCS_CONTINENTS.get(region.split("-")[0])


def is_cloud_sql_tier(name: str) -> bool:
    """Whether ``name`` is a Cloud SQL machine tier (``db-custom-2-7680``)."""
    return bool(CLOUD_SQL_TIER.match(name))
