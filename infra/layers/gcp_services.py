"""Managed stores and identities for MLflow and Feast on GCP: Cloud SQL, Memorystore, Workload Identity (issue: ML services).

The tier, HA, backup days, Memorystore tier / size / persistence are the config's effective values
(:mod:`infra.config.defaults`: per environment unless the stack sets them); backups are stored in the DR
region when there is one, deletion protection in prod.
Both sit on private services access and wait for its connection.
"""

from __future__ import annotations

import pulumi

from catalog import conventions as cv
from components.gcp.cloudsql import CloudSqlPostgres, CloudSqlPostgresArgs
from components.gcp.memorystore import Memorystore, MemorystoreArgs
from components.gcp.team_iam import BucketGrant, WorkloadIdentity, WorkloadIdentityArgs, account_id
from components.k8s import feast as feast_k8s
from components.k8s import mlflow as mlflow_k8s
from infra import config
from infra.layers.context import CloudLayer, DatabaseInfo, RedisInfo
from infra.layers.gcp_foundation import GcpFoundation

MLFLOW_PREFIX = "mlflow/"
"""MLflow's artifact prefix in the ``models`` bucket."""
SERVICE_ACCOUNTS = {"mlflow": (cv.NS_MLFLOW, mlflow_k8s.SERVICE_ACCOUNT), "feast": (cv.NS_FEAST, feast_k8s.SERVICE_ACCOUNT)}
"""Platform service -> (namespace, Kubernetes service account) bound to its Google identity."""


def build(cfg: config.PlatformConfig, foundation: GcpFoundation, layer: CloudLayer) -> None:
    buckets = foundation.buckets
    if cfg.mlflow.enabled:
        _service_identity(
            foundation, layer, "mlflow", (BucketGrant(key="models", bucket=buckets["models"], prefix=MLFLOW_PREFIX),)
        )
    if cfg.feast.enabled:
        _service_identity(foundation, layer, "feast", (BucketGrant(key="features", bucket=buckets["features"], read_only=True),))
    if cfg.needs_database:
        _cloud_sql(cfg, foundation, layer)
    if cfg.feast.enabled:
        _memorystore(cfg, foundation, layer)


def _service_identity(foundation: GcpFoundation, layer: CloudLayer, service: str, grants: tuple[BucketGrant, ...]) -> None:
    """The service's Google identity; its pods run on the system pool."""
    namespace, ksa = SERVICE_ACCOUNTS[service]
    cluster = foundation.cluster
    identity = WorkloadIdentity(
        f"svc-{service}",
        WorkloadIdentityArgs(
            account_id=account_id(foundation.name, service),
            project=foundation.project,
            namespace=namespace,
            service_account=ksa,
            grants=grants,
            display_name=f"{service} ({foundation.name})",
            identity_pool=(cluster.cluster, cluster.system_pool),
        ),
        foundation.opts,
    )
    layer.service_identity[service] = dict(identity.annotations)


def _after_private_services(foundation: GcpFoundation) -> pulumi.ResourceOptions:
    """The provider's options, waiting for the private services connection the store's private IP comes from."""
    return pulumi.ResourceOptions.merge(foundation.opts, pulumi.ResourceOptions(depends_on=[foundation.network.private_services]))


def _cloud_sql(cfg: config.PlatformConfig, foundation: GcpFoundation, layer: CloudLayer) -> None:
    db = cfg.mlflow.database
    databases = (["mlflow"] if cfg.mlflow.enabled else []) + (["feast_registry"] if cfg.feast_sql_registry else [])
    # without MLflow the server only holds the Feast registry: nothing is named after MLflow
    owner = "mlflow" if cfg.mlflow.enabled else "feast-registry"
    sql = CloudSqlPostgres(
        f"{owner}-db",
        CloudSqlPostgresArgs(
            instance_name=f"{cfg.cluster_name}-{owner}",
            region=foundation.region,
            network=foundation.network.network.id,
            databases=tuple(databases),
            kms_key_id=foundation.keys.key_ids["cloudsql"],
            tier=config.effective(db.instance_class, "mlflow.database.instanceClass"),
            disk_gb=db.storage_gb,
            high_availability=config.effective(db.multi_az, "mlflow.database.multiAz"),
            backup_retention_days=config.effective(db.backup_retention_days, "mlflow.database.backupRetentionDays"),
            backup_location=cfg.dr_region,
            secret_regions=tuple(r for r in (cfg.region, cfg.dr_region) if r),
            deletion_protection=cfg.is_prod,
            unique_suffix=not cfg.is_prod,
            labels=foundation.labels,
        ),
        _after_private_services(foundation),
    )
    mlflow = sql.credentials.get("mlflow")
    if mlflow is not None:
        layer.mlflow_db = DatabaseInfo(
            host=sql.host, port=5432, username=mlflow.username, password=mlflow.password, database="mlflow"
        )
    reg = sql.credentials.get("feast_registry")
    if reg is not None:
        layer.feast_registry_db = DatabaseInfo(
            host=sql.host, port=5432, username=reg.username, password=reg.password, database=reg.database
        )


def _memorystore(cfg: config.PlatformConfig, foundation: GcpFoundation, layer: CloudLayer) -> None:
    store = cfg.feast.online_store
    redis = Memorystore(
        "feast-online",
        MemorystoreArgs(
            instance_name=f"{cfg.cluster_name}-feast",
            region=foundation.region,
            network=foundation.network.network.id,
            kms_key_id=foundation.keys.key_ids["redis"],
            tier=config.effective(store.node_type, "feast.onlineStore.nodeType"),
            memory_gb=config.effective(store.memory_gb, "feast.onlineStore.memoryGb"),
            persistence=config.effective(store.persistence, "feast.onlineStore.persistence"),
            protect=cfg.is_prod,
            labels=foundation.labels,
        ),
        _after_private_services(foundation),
    )
    layer.feast_redis = RedisInfo(
        host=redis.host, port=redis.port, password=redis.auth, tls=True, ca_certificate=redis.ca_certificate
    )
