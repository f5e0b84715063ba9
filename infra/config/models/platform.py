"""The whole ``ml-platform:`` namespace of one stack, and the facts derived from it."""

from __future__ import annotations

from pydantic import Field, model_validator

from catalog import gpus as catalog
from infra.config import defaults
from infra.config.base import Cloud, ConfigModel, Environment
from infra.config.models.accounts import AwsConfig, GcpConfig
from infra.config.models.cluster import ClusterConfig, DrConfig, NetworkConfig
from infra.config.models.data import DataLakeConfig
from infra.config.models.fleet import FleetConfig
from infra.config.models.operations import AuditConfig, BudgetConfig, MonitoringConfig, SecurityConfig
from infra.config.models.pools import GpuPoolConfig
from infra.config.models.services import (
    FeastConfig,
    GpuOperatorConfig,
    KueueConfig,
    MlflowConfig,
    NotebooksConfig,
    ServingConfig,
)
from infra.config.models.teams import TeamConfig


class PlatformConfig(ConfigModel):
    """Everything one stack sets under ``ml-platform:``."""

    cloud: Cloud
    environment: Environment
    region: str | None = None
    dr: DrConfig = Field(default_factory=DrConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list)
    gpu_overcommit: float = Field(default=1.0, ge=1.0, le=10.0)
    """How far team GPU quotas may add up beyond the pools' GPU ceiling (1.0: not at all)."""
    teams: list[TeamConfig] = Field(default_factory=list)
    data_lake: DataLakeConfig = Field(default_factory=DataLakeConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    feast: FeastConfig = Field(default_factory=FeastConfig)
    gpu_operator: GpuOperatorConfig = Field(default_factory=GpuOperatorConfig)
    kueue: KueueConfig = Field(default_factory=KueueConfig)
    notebooks: NotebooksConfig = Field(default_factory=NotebooksConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    tags: dict[str, str] = Field(default_factory=dict)
    gcp: GcpConfig = Field(default_factory=GcpConfig)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)

    @model_validator(mode="after")
    def _effective_defaults(self) -> PlatformConfig:
        """Fill every key the stack left unset with its effective value for this cloud and environment
        (:mod:`infra.config.defaults`); ``model_fields_set`` keeps saying what the stack itself set."""
        cloud, env = self.cloud, self.environment
        resolved = {
            "dr": defaults.dr(cloud, env, self.dr),
            "network": defaults.network(cloud, env, self.network),
            "cluster": defaults.cluster(cloud, env, self.cluster),
            "data_lake": defaults.data_lake(cloud, env, self.data_lake),
            "mlflow": defaults.mlflow(cloud, env, self.mlflow),
            "feast": defaults.feast(cloud, env, self.feast),
            "gpu_operator": defaults.gpu_operator(cloud, self.gpu_operator),
            "audit": defaults.audit(cloud, env, self.audit),
            "monitoring": defaults.monitoring(self.monitoring),
        }
        for name, value in resolved.items():
            if value is not getattr(self, name):
                object.__setattr__(self, name, value)  # the model is frozen once this validator returns
        return self

    # ---- derived facts shared by the components' args builders -------------------------------

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def lake_force_destroy(self) -> bool:
        """``dataLake.forceDestroy`` in effect (:func:`infra.config.defaults.data_lake`)."""
        return bool(self.data_lake.force_destroy)

    @property
    def dr_region(self) -> str | None:
        return self.dr.region if self.dr.enabled else None

    @property
    def cluster_name(self) -> str:
        return defaults.effective(self.cluster.name, "cluster.name")

    @property
    def gpu_operator_enabled(self) -> bool:
        """``gpuOperator.enabled``; default on for aws / existing, off on gcp (GKE installs drivers and plugin)."""
        return bool(self.gpu_operator.enabled)

    @property
    def feast_sql_registry(self) -> bool:
        """Feast keeps its registry in a database on the platform's PostgreSQL server."""
        return self.feast.enabled and self.feast.registry == "sql"

    @property
    def needs_database(self) -> bool:
        """The platform's PostgreSQL server serves MLflow and/or the Feast SQL registry (also alone)."""
        return self.mlflow.enabled or self.feast_sql_registry

    @property
    def audit_enabled(self) -> bool:
        """``audit.enabled``; default on in staging and prod, off in dev."""
        return bool(self.audit.enabled)

    @property
    def control_plane_log_retention_days(self) -> int:
        """Retention of the EKS control-plane log group (and GKE's log bucket)."""
        return defaults.effective(self.audit.control_plane_log_retention_days, "audit.controlPlaneLogRetentionDays")

    def pool_gpu(self, pool: GpuPoolConfig) -> catalog.GpuModel:
        """The GPU model a pool carries (validated to be unique)."""
        return catalog.gpu_model(pool_gpu_key(self, pool))

    def pool_node_types(self, pool: GpuPoolConfig) -> list[catalog.NodeType]:
        """The catalog node types a pool may launch."""
        cloud = "gcp" if self.cloud == "gcp" else "aws"
        if pool.instance_types:
            return [catalog.node_type(cloud, name) for name in pool.instance_types]
        if self.cloud == "existing":
            return catalog.node_types("aws", gpu=pool.gpu)[:1]
        return catalog.node_types(cloud, gpu=pool.gpu)

    def pool_gpu_ceiling(self, pool: GpuPoolConfig) -> int:
        """Most ``nvidia.com/gpu`` the pool can ever hold."""
        if pool.gpu_limit is not None:
            return pool.gpu_limit
        per_node = max((n.gpus for n in self.pool_node_types(pool)), default=0)  # 0: reported by the pool checks
        if self.cloud == "existing":
            nodes = pool.nodes_count_for_existing or 0
        else:
            nodes = pool.max_nodes or 0
        return nodes * per_node

    @property
    def gpu_ceiling(self) -> int:
        return sum(self.pool_gpu_ceiling(p) for p in self.gpu_pools)


def pool_gpu_key(cfg: PlatformConfig, pool: GpuPoolConfig) -> str:
    """The catalog key of the GPU model a pool carries: its ``gpu``, else its first instance type's."""
    if pool.gpu:
        return pool.gpu
    cloud = "gcp" if cfg.cloud == "gcp" else "aws"
    return catalog.node_type(cloud, pool.instance_types[0]).gpu
