"""Effective values of the settings a stack may leave unset, decided once per cloud and environment.

:class:`~infra.config.models.platform.PlatformConfig` fills every unset key listed here when it is
validated, so the ``config`` section of a plan states what is built and the layers only map it to
components (they never decide a default). A value the stack sets is kept as set (the checks refuse
what is not allowed, e.g. ``dataLake.forceDestroy: true`` in prod).

A key that means nothing on a cloud stays unset (``null`` in the plan) there: ``cloud: existing``
builds no network, system nodes, database or Redis, and only EKS has a control-plane log group.

=================================================  =======================  ==========================  ======================
key                                                aws                      gcp                         existing
=================================================  =======================  ==========================  ======================
``dr.databaseBackups`` (with DR)                   prod true, else false    -                           -
``dr.fastLakeReplication`` (with DR)               prod true, else false    same                        -
``network.natGateways``                            dev ``single``, else     (Cloud NAT, not set)        -
                                                   ``perAz``
``cluster.name``                                   ``mlp-<environment>``    same                        same
``cluster.controllerReplicas``                     prod 2, else 1           same                        same
``cluster.systemNodes.instanceType``               ``m6i.large``            ``e2-standard-4``           -
``dataLake.forceDestroy``                          prod false, else true    same                        -
``dataLake.accessLogRetentionDays``                365                      prod 365, else 90           -
``mlflow.replicas``, ``feast.replicas``            prod 2, else 1           same                        same
``mlflow.database.instanceClass``                  ``db.t4g.medium``        dev ``db-custom-1-3840``,   -
                                                                            staging ``db-custom-2-7680``,
                                                                            prod ``db-custom-4-15360``
``mlflow.database.backupRetentionDays``            prod 14, else 7          same                        -
``mlflow.database.multiAz``                        dev false, else true     same                        -
``feast.onlineStore.highAvailability``             prod with a replica      same                        -
``feast.onlineStore.nodeType``                     ``cache.t4g.small``      ``STANDARD_HA`` when HA,    -
                                                                            else ``BASIC``
``feast.onlineStore.snapshotRetentionDays``        prod 7, else 1           -                           -
``feast.onlineStore.memoryGb``                     -                        dev 1, staging 2, prod 5    -
``feast.onlineStore.persistence``                  -                        prod true, else false       -
``gpuOperator.enabled``                            true                     false (GKE's driver and     true
                                                                            device plugin)
``gpuOperator.driver``                             false (the EKS AMIs      false (GKE installs it)     true while the
                                                   ship it)                                             operator is on
``monitoring.grafana``                             on with ``inCluster``    same                        same
``audit.enabled``                                  dev false, else true     same                        -
``audit.controlPlaneLogRetentionDays``             prod 365, else 90        -                           -
``audit.objectLockDays``                           prod: ``retentionDays``  -                           -
=================================================  =======================  ==========================  ======================
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from infra.config.base import Cloud, Environment
from infra.config.models.cluster import ClusterConfig, DrConfig, NetworkConfig
from infra.config.models.data import DataLakeConfig
from infra.config.models.operations import AuditConfig, MonitoringConfig
from infra.config.models.services import FeastConfig, GpuOperatorConfig, MlflowConfig

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

SYSTEM_NODE_TYPE: dict[Cloud, str] = {"aws": "m6i.large", "gcp": "e2-standard-4"}
"""The system (controller) nodes' instance / machine type."""
DATABASE_CLASS: dict[Cloud, dict[Environment, str]] = {
    "aws": {"dev": "db.t4g.medium", "staging": "db.t4g.medium", "prod": "db.t4g.medium"},
    "gcp": {"dev": "db-custom-1-3840", "staging": "db-custom-2-7680", "prod": "db-custom-4-15360"},
}
"""RDS instance class / Cloud SQL tier of the platform's PostgreSQL server."""
REDIS_NODE_TYPE_AWS = "cache.t4g.small"
MEMORYSTORE_MEMORY_GB: dict[Environment, int] = {"dev": 1, "staging": 2, "prod": 5}
BUILT_BY_US: tuple[Cloud, ...] = ("aws", "gcp")
"""Clouds where the platform builds the network, nodes, lake, database and Redis itself."""


def effective(value: T | None, key: str) -> T:
    """``value`` of a defaulted key, for a layer that builds it: resolved by the config, so never ``None`` there.

    :raises AssertionError: the key was not resolved (a bug: add it to this module).
    """
    if value is None:
        raise AssertionError(f"{key} has no effective value: infra.config.defaults does not resolve it for this stack")
    return value


def _fill(model: M, **values: object) -> M:
    """``model`` with the keys it left unset (``None``) set to ``values``; set keys stay as set."""
    updates = {k: v for k, v in values.items() if getattr(model, k) is None and v is not None}
    return model.model_copy(update=updates) if updates else model


def dr(cloud: Cloud, environment: Environment, d: DrConfig) -> DrConfig:
    if not d.enabled:
        return d
    prod = environment == "prod"
    return _fill(d, fast_lake_replication=prod, database_backups=prod if cloud == "aws" else None)


def network(cloud: Cloud, environment: Environment, net: NetworkConfig) -> NetworkConfig:
    return _fill(net, nat_gateways=("single" if environment == "dev" else "perAz") if cloud == "aws" else None)


def cluster(cloud: Cloud, environment: Environment, c: ClusterConfig) -> ClusterConfig:
    system = _fill(c.system_nodes, instance_type=SYSTEM_NODE_TYPE.get(cloud))
    c = _fill(c, name=f"mlp-{environment}", controller_replicas=2 if environment == "prod" else 1)
    return c.model_copy(update={"system_nodes": system}) if system is not c.system_nodes else c


def data_lake(cloud: Cloud, environment: Environment, lake: DataLakeConfig) -> DataLakeConfig:
    if cloud not in BUILT_BY_US:
        return lake
    # dev / staging must tear down cleanly: the buckets are versioned (a deleted object leaves versions
    # behind) and S3 keeps delivering server access logs for a while after the last request, so neither a
    # lake nor an access-log bucket is ever empty on its own
    logs = 365 if cloud == "aws" or environment == "prod" else 90
    return _fill(lake, force_destroy=environment != "prod", access_log_retention_days=logs)


def mlflow(cloud: Cloud, environment: Environment, m: MlflowConfig) -> MlflowConfig:
    m = _fill(m, replicas=2 if environment == "prod" else 1)
    if cloud not in BUILT_BY_US:
        return m
    db = _fill(
        m.database,
        instance_class=DATABASE_CLASS[cloud][environment],
        backup_retention_days=14 if environment == "prod" else 7,
        multi_az=environment != "dev",
    )
    return m.model_copy(update={"database": db}) if db is not m.database else m


def feast(cloud: Cloud, environment: Environment, f: FeastConfig) -> FeastConfig:
    f = _fill(f, replicas=2 if environment == "prod" else 1)
    if cloud not in BUILT_BY_US:
        return f
    store = f.online_store
    if cloud == "gcp" and store.node_type is not None:  # the Memorystore tier is the HA switch
        store = _fill(store, high_availability=store.node_type == "STANDARD_HA")
    store = _fill(store, high_availability=environment == "prod" and store.replicas >= 1)
    if cloud == "aws":
        store = _fill(store, node_type=REDIS_NODE_TYPE_AWS, snapshot_retention_days=7 if environment == "prod" else 1)
    else:
        store = _fill(
            store,
            node_type="STANDARD_HA" if store.high_availability else "BASIC",
            memory_gb=MEMORYSTORE_MEMORY_GB[environment],
            persistence=environment == "prod",
        )
    return f.model_copy(update={"online_store": store}) if store is not f.online_store else f


def gpu_operator(cloud: Cloud, op: GpuOperatorConfig) -> GpuOperatorConfig:
    op = _fill(op, enabled=cloud != "gcp")
    # the EKS NVIDIA AMIs ship the driver and GKE installs it; a cluster you bring rarely has it
    return _fill(op, driver=cloud == "existing" and bool(op.enabled))


def monitoring(m: MonitoringConfig) -> MonitoringConfig:
    return _fill(m, grafana=m.backend == "inCluster")


def audit(cloud: Cloud, environment: Environment, a: AuditConfig) -> AuditConfig:
    if cloud not in BUILT_BY_US:  # audit logs are the cloud's (CloudTrail, Cloud Audit Logs)
        return a
    a = _fill(a, enabled=environment != "dev")
    if cloud != "aws":
        return a
    return _fill(
        a,
        control_plane_log_retention_days=365 if environment == "prod" else 90,
        object_lock_days=a.retention_days if environment == "prod" else None,
    )
