"""Effective values of the settings a stack may leave unset, decided once per cloud and environment.

Layers read the resolved value; they never decide a default themselves.
"""

from __future__ import annotations

from infra.config.base import Cloud, Environment
from infra.config.models.data import DataLakeConfig


def lake_force_destroy(environment: Environment, data_lake: DataLakeConfig) -> bool:
    """``dataLake.forceDestroy`` as set, else on outside prod; never in prod."""
    if environment == "prod":
        return False
    if "force_destroy" in data_lake.model_fields_set:
        return data_lake.force_destroy
    return True


def gpu_operator_enabled(cloud: Cloud, enabled: bool | None) -> bool:
    """``gpuOperator.enabled``; default on for aws / existing, off on gcp (GKE installs drivers and plugin)."""
    return enabled if enabled is not None else cloud != "gcp"


def audit_enabled(environment: Environment, enabled: bool | None) -> bool:
    """``audit.enabled``; default on in staging and prod, off in dev."""
    return enabled if enabled is not None else environment != "dev"


def control_plane_log_retention_days(environment: Environment, days: int | None) -> int:
    """``audit.controlPlaneLogRetentionDays``; default 365 in prod, 90 elsewhere."""
    return days if days is not None else (365 if environment == "prod" else 90)
