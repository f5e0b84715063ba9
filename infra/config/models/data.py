"""The data lake: zones, lifecycle, FSx for Lustre next to it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from infra.config.base import DNS_LABEL, ConfigModel


class LifecycleConfig(ConfigModel):
    raw_infrequent_access_days: int = Field(default=30, ge=30)
    raw_glacier_ir_days: int = Field(default=90, ge=1)
    noncurrent_expiry_days: int = Field(default=90, ge=1)
    abort_multipart_days: int = Field(default=7, ge=1)


class LustreConfig(ConfigModel):
    """FSx for Lustre (AWS) linked to lake zones: ``/<zone>`` on the file system is the zone's bucket."""

    zones: list[str] = Field(default_factory=list)
    """Lake zones to link (a data repository association each), e.g. ``[curated]``."""
    availability_zone: str | None = None
    """The file system's availability zone (one subnet): where the training pools run."""
    storage_gb: int = 1200
    """1200, or a multiple of 2400 (PERSISTENT_2)."""
    throughput_mb_per_tib: Literal[125, 250, 500, 1000] = 250


class GcsFuseConfig(ConfigModel):
    """The lake as a file system on GKE (Cloud Storage FUSE CSI driver): each team's prefix of one zone as the
    claim ``lake`` in its namespace, with a file cache on the node."""

    zone: str
    """The lake zone mounted (e.g. ``curated``): each team sees ``teams/<team>/`` of its bucket."""
    file_cache_gi: int = Field(default=100, ge=0, le=65536)
    """File cache per mount in GiB (0: none); the pod's ``gke-gcsfuse/ephemeral-storage-limit`` must be larger."""


class DataLakeConfig(ConfigModel):
    lustre: LustreConfig | None = None
    """FSx for Lustre next to the lake (AWS)."""
    gcs_fuse: GcsFuseConfig | None = None
    """Cloud Storage FUSE volumes of the teams' prefixes (GKE)."""
    zones: list[str] = Field(default_factory=lambda: ["raw", "curated", "features", "models"], min_length=1)
    shared_zones: list[str] = Field(default_factory=list)
    """Zones every team may read (read-only) besides its own prefix."""
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    size_gb: dict[str, int] = Field(default_factory=dict)
    """Expected stored GB per zone, for the cost estimate."""
    force_destroy: bool | None = None
    """Let ``pulumi destroy`` empty the buckets (every object version) before deleting them; ``true``
    is refused in prod. Default (aws, gcp): true outside prod, false in prod."""
    access_log_retention_days: int | None = Field(default=None, ge=1, le=3650)
    """Days the lake's access logs are kept. Default: 365 on aws; on gcp 365 in prod, 90 elsewhere."""

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        for zone in value:
            if not re.match(DNS_LABEL, zone) or len(zone) > 20:
                raise ValueError(f"zone {zone!r} must be a lowercase DNS label of at most 20 characters")
        if len(set(value)) != len(value):
            raise ValueError("zones must be unique")
        return value
