"""The pydantic models of the ``ml-platform:`` namespace, one module per area."""

from infra.config.models.accounts import AwsConfig, GcpConfig
from infra.config.models.cluster import ClusterConfig, DrConfig, NetworkConfig, SystemNodesConfig
from infra.config.models.data import DataLakeConfig, GcsFuseConfig, LifecycleConfig, LustreConfig
from infra.config.models.fleet import FleetConfig, FleetWorkerConfig
from infra.config.models.operations import (
    AuditConfig,
    BudgetConfig,
    GuardDutyConfig,
    MonitoringConfig,
    SecurityConfig,
    SmtpConfig,
)
from infra.config.models.platform import PlatformConfig, pool_gpu_key
from infra.config.models.pools import GpuPoolConfig, ReservationConfig
from infra.config.models.services import (
    DatabaseConfig,
    FeastConfig,
    GpuOperatorConfig,
    KueueConfig,
    MlflowConfig,
    NotebookCpuConfig,
    NotebooksConfig,
    OidcConfig,
    OnlineStoreConfig,
    ServingConfig,
)
from infra.config.models.teams import TeamConfig, TeamQuotas

__all__ = [
    "AuditConfig",
    "AwsConfig",
    "BudgetConfig",
    "ClusterConfig",
    "DataLakeConfig",
    "DatabaseConfig",
    "DrConfig",
    "FeastConfig",
    "FleetConfig",
    "FleetWorkerConfig",
    "GcpConfig",
    "GcsFuseConfig",
    "GpuOperatorConfig",
    "GpuPoolConfig",
    "GuardDutyConfig",
    "KueueConfig",
    "LifecycleConfig",
    "LustreConfig",
    "MlflowConfig",
    "MonitoringConfig",
    "NetworkConfig",
    "NotebookCpuConfig",
    "NotebooksConfig",
    "OidcConfig",
    "OnlineStoreConfig",
    "PlatformConfig",
    "ReservationConfig",
    "SecurityConfig",
    "ServingConfig",
    "SmtpConfig",
    "SystemNodesConfig",
    "TeamConfig",
    "TeamQuotas",
    "pool_gpu_key",
]
