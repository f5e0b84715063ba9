"""The data lake: zones, lifecycle, what the services need of it, FSx for Lustre."""

from __future__ import annotations

import re
from collections.abc import Iterator

from catalog.clouds import LAKE_ACCESS_LOG_ZONE, fsx_lustre_capacity_valid
from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def data_lake_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":"
    lc = cfg.data_lake.lifecycle
    if lc.raw_glacier_ir_days <= lc.raw_infrequent_access_days:
        yield (
            ns + "dataLake.lifecycle.rawGlacierIrDays",
            f"{lc.raw_glacier_ir_days} must be later than rawInfrequentAccessDays ({lc.raw_infrequent_access_days})",
        )
    for zone in cfg.data_lake.shared_zones:
        if zone not in cfg.data_lake.zones:
            yield ns + "dataLake.sharedZones", f"{zone!r} is not a zone; zones: {', '.join(cfg.data_lake.zones)}"
    yield from _lustre_checks(cfg)
    yield from _gcs_fuse_checks(cfg)
    for zone in cfg.data_lake.size_gb:
        if zone not in cfg.data_lake.zones:
            yield ns + f"dataLake.sizeGb.{zone}", f"{zone!r} is not a zone; zones: {', '.join(cfg.data_lake.zones)}"
    if LAKE_ACCESS_LOG_ZONE in cfg.data_lake.zones:
        yield ns + "dataLake.zones", f"{LAKE_ACCESS_LOG_ZONE!r} is reserved for the lake's access-log buckets"
    if cfg.is_prod and cfg.data_lake.force_destroy:
        yield ns + "dataLake.forceDestroy", "never allowed in prod: prod buckets are protected and retained"
    for needed, user in (("models", cfg.mlflow.enabled), ("features", cfg.feast.enabled)):
        if user and needed not in cfg.data_lake.zones:
            yield ns + "dataLake.zones", f"needs a {needed!r} zone while {'mlflow' if needed == 'models' else 'feast'} is enabled"


def _gcs_fuse_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """Cloud Storage FUSE team volumes: GKE only, on a lake zone."""
    fuse = cfg.data_lake.gcs_fuse
    if fuse is None:
        return
    key = NAMESPACE + ":dataLake.gcsFuse"
    if cfg.cloud != "gcp":
        yield key, f"GKE's Cloud Storage FUSE CSI driver; cloud {cfg.cloud!r} has none here (aws: dataLake.lustre); remove it"
        return
    if fuse.zone not in cfg.data_lake.zones:
        yield f"{key}.zone", f"{fuse.zone!r} is not a lake zone; allowed: {', '.join(cfg.data_lake.zones)}"


def _lustre_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """FSx for Lustre: AWS only, linked to at least one lake zone, a valid size, a zone of the region."""
    lustre = cfg.data_lake.lustre
    if lustre is None:
        return
    key = NAMESPACE + ":dataLake.lustre"
    zones = ", ".join(cfg.data_lake.zones)
    if cfg.cloud != "aws":
        yield (
            key,
            f"FSx for Lustre is AWS; cloud {cfg.cloud!r} has no Lustre here (on gcp read the lake through GCS FUSE); remove it",
        )
        return
    if not lustre.zones:
        yield f"{key}.zones", f"Lustre without a lake zone links nothing; list the zones to link; allowed: {zones}"
    for j, zone in enumerate(lustre.zones):
        if zone not in cfg.data_lake.zones:
            yield f"{key}.zones[{j}]", f"{zone!r} is not a lake zone; allowed: {zones}"
    if not fsx_lustre_capacity_valid(lustre.storage_gb):
        yield f"{key}.storageGb", f"{lustre.storage_gb} is not a PERSISTENT_2 size; allowed: 1200, or a multiple of 2400"
    region = cfg.region or ""
    if lustre.availability_zone is None:
        yield f"{key}.availabilityZone", f"required: the one zone the file system (and the training pools) sit in, e.g. {region}a"
    elif region and not re.match(rf"^{re.escape(region)}[a-z]$", lustre.availability_zone):
        yield (
            f"{key}.availabilityZone",
            f"{lustre.availability_zone!r} is not a zone of region {region!r}; allowed: a zone such as {region}a",
        )
