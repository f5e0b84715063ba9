"""Typed stack configuration: everything a stack sets under the ``ml-platform:`` namespace.

One pydantic model validates the whole namespace before any resource is registered, so a bad
stack file fails fast with a one-line reason per mistake and nothing is half-created. Keys are
camelCase in the stack file (``gpuPools``) and snake_case in Python (``gpu_pools``).

The package, one module per job (this module re-exports the public names, so
``from infra import config; config.PlatformConfig`` and ``from infra.config import parse`` work):

- :mod:`~infra.config.models`: the pydantic models, one module per area (cluster, pools, teams, data, services,
  operations, accounts, fleet) and :class:`PlatformConfig` with the facts derived from it;
- :mod:`~infra.config.defaults`: the effective value of every setting a stack may leave unset, per cloud and environment;
- :mod:`~infra.config.checks`: cross-field checks, one module per concern;
- :mod:`~infra.config.errors`: :class:`ConfigError` and how a pydantic error becomes ``key path: reason``;
- :mod:`~infra.config.parsing`: :func:`parse` (models, then checks);
- :mod:`~infra.config.load`: stack files and the running Pulumi program's config; :data:`STACKS_DIR`.

Cloud facts (GKE MIG partition sizes, Cloud SQL tiers, the IAM ARN form ...) live in :mod:`catalog.clouds`.
"""

from __future__ import annotations

from pathlib import Path

from catalog.clouds import AWS_RESERVATION_ID, CLOUDWATCH_RETENTION_DAYS
from infra.config.base import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    DOCUMENTATION_NETS,
    LABEL_NAME,
    LABEL_VALUE,
    NAMESPACE,
    QUANTITY,
    RUNNER_ENV,
    SECRET_PLACEHOLDER,
    Cloud,
    ConfigModel,
    Environment,
    Problem,
)
from infra.config.checks import (
    PROD_SERVING_CAPACITY,
    RESERVED_NAMESPACES,
    SECRET_ONLY_KEYS,
    gpu_capacity,
    runner_problems,
)
from infra.config.defaults import effective
from infra.config.errors import ConfigError
from infra.config.load import (
    DEFAULT_STACKS_DIR,
    check_fleet_stacks,
    from_pulumi,
    load_fleet_stack,
    load_stack,
    mask_secure_values,
    raw_from_pulumi,
    read_stack_file,
    stack_file,
)
from infra.config.models import (
    AuditConfig,
    AwsConfig,
    BudgetConfig,
    ClusterConfig,
    DatabaseConfig,
    DataLakeConfig,
    DrConfig,
    FeastConfig,
    FleetConfig,
    FleetWorkerConfig,
    GcpConfig,
    GpuOperatorConfig,
    GpuPoolConfig,
    GuardDutyConfig,
    KueueConfig,
    LifecycleConfig,
    LustreConfig,
    MlflowConfig,
    MonitoringConfig,
    NetworkConfig,
    NotebookCpuConfig,
    NotebooksConfig,
    OidcConfig,
    OnlineStoreConfig,
    PlatformConfig,
    ReservationConfig,
    SecurityConfig,
    ServingConfig,
    SmtpConfig,
    SystemNodesConfig,
    TeamConfig,
    TeamQuotas,
    pool_gpu_key,
)
from infra.config.parsing import parse

STACKS_DIR: Path = DEFAULT_STACKS_DIR
"""Where stack files are read from when no directory is given. Read at call time by
:func:`stack_file`: the offline plan points it at the directory of the stack it plans (so a
fleet's stacks are read from beside it) by assigning ``infra.config.STACKS_DIR``."""

__all__ = [
    "AWS_RESERVATION_ID",
    "CLOUDWATCH_RETENTION_DAYS",
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "DOCUMENTATION_NETS",
    "LABEL_NAME",
    "LABEL_VALUE",
    "NAMESPACE",
    "PROD_SERVING_CAPACITY",
    "QUANTITY",
    "RESERVED_NAMESPACES",
    "RUNNER_ENV",
    "SECRET_ONLY_KEYS",
    "SECRET_PLACEHOLDER",
    "STACKS_DIR",
    "AuditConfig",
    "AwsConfig",
    "BudgetConfig",
    "Cloud",
    "ClusterConfig",
    "ConfigError",
    "ConfigModel",
    "DataLakeConfig",
    "DatabaseConfig",
    "DrConfig",
    "Environment",
    "FeastConfig",
    "FleetConfig",
    "FleetWorkerConfig",
    "GcpConfig",
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
    "Problem",
    "ReservationConfig",
    "SecurityConfig",
    "ServingConfig",
    "SmtpConfig",
    "SystemNodesConfig",
    "TeamConfig",
    "TeamQuotas",
    "check_fleet_stacks",
    "effective",
    "from_pulumi",
    "gpu_capacity",
    "load_fleet_stack",
    "load_stack",
    "mask_secure_values",
    "parse",
    "pool_gpu_key",
    "raw_from_pulumi",
    "read_stack_file",
    "runner_problems",
    "stack_file",
]
