"""MLflow and Feast in the cluster (issue: ML services).

Takes the stores the cloud layer built (``CloudLayer.mlflow_db``, ``feast_registry_db``,
``feast_redis``, ``buckets``, ``service_identity``); on ``cloud: existing`` the stack names them
instead (``mlflow.existingDatabaseSecret``, ``feast.onlineStore.existingEndpoint``).
Replicas default to 2 in prod and 1 elsewhere.
"""

from __future__ import annotations

import pulumi

from catalog import conventions as cv
from components.k8s.feast import Feast, FeastArgs, FeastRedis, FeastSqlRegistry, feast_provider
from components.k8s.mlflow import Mlflow, MlflowArgs, MlflowDatabase
from infra import config
from infra.layers.context import CloudLayer
from infra.layers.k8s_context import K8sPlatform

FEAST_PROJECT = "ml_platform"
LABELS = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}


def replicas(cfg: config.PlatformConfig, configured: int | None) -> int:
    """A service's ``replicas`` in effect (:mod:`infra.config.defaults`)."""
    return config.effective(configured, "replicas")


def _mlflow_database(cfg: config.PlatformConfig, cloud: CloudLayer) -> MlflowDatabase | None:
    if cfg.mlflow.existing_database_secret:
        return MlflowDatabase(existing_secret=cfg.mlflow.existing_database_secret)
    info = cloud.mlflow_db
    if info is None:
        return None
    if info.existing_secret:
        return MlflowDatabase(existing_secret=info.existing_secret)
    return MlflowDatabase(host=info.host, port=info.port, database=info.database, username=info.username, password=info.password)


def _feast_redis(cfg: config.PlatformConfig, cloud: CloudLayer) -> FeastRedis | None:
    info = cloud.feast_redis  # on `existing`, the configured endpoint (see infra.layers.existing)
    if info is None:
        return None
    return FeastRedis(host=info.host, port=info.port, password=info.password, tls=info.tls, ca_certificate=info.ca_certificate)


def build(cfg: config.PlatformConfig, platform: K8sPlatform) -> None:
    cloud = platform.cloud
    opts = pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=platform.waits)
    store = cloud.object_store
    if cfg.mlflow.enabled:
        database = _mlflow_database(cfg, cloud)
        bucket = cloud.buckets.get("models") if store else None
        if database is None:
            pulumi.log.warn(f"mlflow: the {cloud.cloud} layer provides no database yet; MLflow is not deployed")
        else:
            mlflow = Mlflow(
                "mlflow",
                MlflowArgs(
                    database=database,
                    namespace=cv.NS_MLFLOW,
                    object_store=store if bucket is not None else None,
                    artifact_bucket=bucket,
                    region=cloud.region,
                    service_account_annotations=dict(cloud.service_identity.get("mlflow", {})),
                    replicas=replicas(cfg, cfg.mlflow.replicas),
                    auth=cfg.mlflow.auth,
                    labels=LABELS,
                    # each team's MLflow user, its credentials a Secret in the team namespace (workloads, notebooks)
                    team_namespaces={name: team.namespace_name for name, team in platform.teams.items()},
                    protect=cfg.is_prod,
                ),
                opts=opts,
            )
            pulumi.export("mlflowTrackingUri", mlflow.tracking_uri)
    if cfg.feast.enabled:
        redis = _feast_redis(cfg, cloud)
        features = cloud.buckets.get("features") if store else None
        registry: FeastSqlRegistry | pulumi.Input[str] | None
        if cfg.feast.registry == "sql":
            info = cloud.feast_registry_db
            registry = (
                None
                if info is None or info.password is None
                else FeastSqlRegistry(
                    host=info.host,
                    port=info.port,
                    username=info.username,
                    password=info.password,
                    database=info.database,
                    bootstrap_database=info.bootstrap_database or info.database,
                )
            )
            if registry is None:
                redis = None  # cannot honour the configured registry
        else:
            registry = pulumi.Output.concat(f"{store}://", features, "/feast/registry.db") if features is not None else None
        if redis is None:
            pulumi.log.warn(
                f"feast: the {cloud.cloud} layer provides no online store or registry database yet; Feast is not deployed"
            )
            return
        feast = Feast(
            "feast",
            FeastArgs(
                project=FEAST_PROJECT,
                online_store=redis,
                provider=feast_provider(store),
                registry=registry,
                offline_root=pulumi.Output.concat(f"{store}://", features, "/offline") if features is not None else None,
                namespace=cv.NS_FEAST,
                replicas=replicas(cfg, cfg.feast.replicas),
                service_account_annotations=dict(cloud.service_identity.get("feast", {})),
                region=cloud.region,
                labels=LABELS,
            ),
            opts=opts,
        )
        pulumi.export("feastEndpoint", feast.endpoint)
        if feast.offline_root is not None:
            pulumi.export("feastOfflineRoot", feast.offline_root)
