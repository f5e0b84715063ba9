"""MLflow and Feast: their database, Redis and replicas, on every cloud."""

from __future__ import annotations

import re
from collections.abc import Iterator

from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def ml_services_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":"
    existing = cfg.cloud == "existing"
    mlflow, feast = cfg.mlflow, cfg.feast
    if mlflow.enabled and existing and not mlflow.existing_database_secret:
        yield (
            ns + "mlflow.existingDatabaseSecret",
            "required for cloud 'existing' (a Secret in namespace mlflow with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD)",
        )
    if mlflow.existing_database_secret and not existing:
        yield ns + "mlflow.existingDatabaseSecret", f"only for cloud 'existing'; cloud {cfg.cloud!r} builds its own database"
    endpoint = feast.online_store.existing_endpoint
    if feast.enabled and existing and not endpoint:
        yield ns + "feast.onlineStore.existingEndpoint", "required for cloud 'existing' (host:port of your Redis)"
    if endpoint and not existing:
        yield ns + "feast.onlineStore.existingEndpoint", f"only for cloud 'existing'; cloud {cfg.cloud!r} builds its own Redis"
    if endpoint and not re.match(r"^(rediss?://)?[A-Za-z0-9.-]+:[0-9]{1,5}$", endpoint):
        yield (
            ns + "feast.onlineStore.existingEndpoint",
            f"{endpoint!r} must be host:port such as redis.data.svc.cluster.local:6379, or rediss://host:port for TLS",
        )
    if cfg.feast_sql_registry and existing:
        yield (
            ns + "feast.registry",
            "'sql' lives on the platform's MLflow database server, which cloud 'existing' does not build; allowed: lake",
        )
    if cfg.is_prod:
        retention = mlflow.database.backup_retention_days
        if mlflow.enabled and retention is not None and retention < 14:
            yield ns + "mlflow.database.backupRetentionDays", f"{retention} is below the prod minimum of 14 days"
        if mlflow.enabled and mlflow.database.multi_az is False and not existing:
            yield ns + "mlflow.database.multiAz", "must be true in prod (a standby in a second zone)"
        for key, svc in (("mlflow", mlflow), ("feast", feast)):
            if svc.enabled and svc.replicas is not None and svc.replicas < 2:
                yield ns + f"{key}.replicas", f"{svc.replicas} is below the prod minimum of 2"
        if feast.enabled and cfg.cloud == "aws" and feast.online_store.replicas < 1:
            yield ns + "feast.onlineStore.replicas", "must be at least 1 in prod (automatic failover needs a replica)"

    yield from _online_store_checks(cfg)


def _online_store_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """Keys of the other cloud's Redis, and ElastiCache failover without a replica."""
    key = NAMESPACE + ":feast.onlineStore."
    store = cfg.feast.online_store
    if cfg.cloud != "aws" and store.snapshot_retention_days is not None:
        yield (
            key + "snapshotRetentionDays",
            f"ElastiCache snapshots (aws); cloud {cfg.cloud!r} leaves it unset (gcp: persistence)",
        )
    for field, value in (("memoryGb", store.memory_gb), ("persistence", store.persistence)):
        if cfg.cloud != "gcp" and value is not None:
            yield key + field, f"a Memorystore setting (gcp); cloud {cfg.cloud!r} leaves it unset"
    if cfg.cloud == "aws" and cfg.feast.enabled and store.high_availability and store.replicas < 1:
        yield (
            key + "highAvailability",
            "true needs a replica to fail over to (replicas: 0); allowed: replicas 1 or more, or highAvailability: false",
        )
