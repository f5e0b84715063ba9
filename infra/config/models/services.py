"""The ML services on the cluster: MLflow, Feast, the GPU operator, Kueue, notebooks, serving."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_serializer

from infra.config.base import QUANTITY, SECRET_PLACEHOLDER, ConfigModel


class DatabaseConfig(ConfigModel):
    instance_class: str | None = None
    """RDS instance class (aws) or Cloud SQL tier (gcp). Default: ``db.t4g.medium``; gcp ``db-custom-1-3840`` (dev),
    ``db-custom-2-7680`` (staging), ``db-custom-4-15360`` (prod)."""
    storage_gb: int = Field(default=50, ge=20)
    backup_retention_days: int | None = Field(default=None, ge=1, le=35)
    """Default: 14 in prod, 7 elsewhere."""
    multi_az: bool | None = None
    """A standby in a second zone (RDS Multi-AZ, Cloud SQL regional). Default: on outside dev."""


class MlflowConfig(ConfigModel):
    enabled: bool = True
    replicas: int | None = Field(default=None, ge=1)
    """Default: 2 in prod, 1 elsewhere."""
    auth: bool = True
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    existing_database_secret: str | None = None
    """``cloud: existing``: name of a Kubernetes Secret (namespace ``mlflow``) with the DB connection."""


class OnlineStoreConfig(ConfigModel):
    node_type: str | None = None
    """ElastiCache node type (aws) or Memorystore tier (gcp). Default: ``cache.t4g.small``; gcp ``STANDARD_HA`` with
    ``highAvailability``, else ``BASIC``."""
    replicas: int = Field(default=1, ge=0, le=5)
    existing_endpoint: str | None = None
    """``cloud: existing``: ``host:port`` of a Redis you run."""
    high_availability: bool | None = None
    """Automatic failover to a replica in another zone (ElastiCache Multi-AZ; Memorystore ``STANDARD_HA``).
    Default: on in prod when there is a replica; on gcp, what ``nodeType`` says when it is set."""
    snapshot_retention_days: int | None = Field(default=None, ge=0, le=35)
    """AWS: daily ElastiCache snapshots kept. Default: 7 in prod, 1 elsewhere."""
    memory_gb: int | None = Field(default=None, ge=1, le=300)
    """GCP: Memorystore capacity. Default: 1 (dev), 2 (staging), 5 (prod)."""
    persistence: bool | None = None
    """GCP: Memorystore RDB snapshots. Default: on in prod."""


class FeastConfig(ConfigModel):
    enabled: bool = True
    registry: Literal["lake", "sql"] = "lake"
    replicas: int | None = Field(default=None, ge=1)
    """Default: 2 in prod, 1 elsewhere."""
    online_store: OnlineStoreConfig = Field(default_factory=OnlineStoreConfig)


class GpuOperatorConfig(ConfigModel):
    enabled: bool | None = None
    """Default: on for AWS and existing clusters, off on GKE (GKE installs drivers itself)."""
    driver: bool | None = None
    """Install the driver. Default: off where the node image ships it (EKS NVIDIA AMIs, GKE); on a cluster you bring,
    on while the operator is."""
    mig_strategy: Literal["single", "mixed"] = "mixed"
    monitoring_labels: dict[str, str] = Field(default_factory=dict)
    """Labels on the DCGM exporter's ServiceMonitor and the GPU alert rules, for a Prometheus
    ``serviceMonitorSelector`` / ``ruleSelector`` (kube-prometheus-stack: ``release: <its release>``)."""


class KueueConfig(ConfigModel):
    enabled: bool = True


class OidcConfig(ConfigModel):
    """The identity provider JupyterHub logs users in with (OAuth2 / OIDC endpoints)."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    """Set it as a secret: ``pulumi config set --secret --path ml-platform:notebooks.oidc.clientSecret``."""
    authorize_url: str = Field(pattern=r"^https://")
    token_url: str = Field(pattern=r"^https://")
    userdata_url: str = Field(pattern=r"^https://")
    callback_url: str = Field(pattern=r"^https://.+/hub/oauth_callback$")
    scope: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    username_claim: str = "email"
    groups_claim: str = "groups"
    """Claim listing the user's groups; a team's ``owners`` group makes the user a team member."""

    @field_serializer("client_secret")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class ServingConfig(ConfigModel):
    """KServe (Standard / raw-Deployment mode) with cert-manager, for the serving templates."""

    enabled: bool = False


class NotebookCpuConfig(ConfigModel):
    cpu: float = Field(default=2, gt=0, le=64)
    memory: str = Field(default="8Gi", pattern=QUANTITY)


class NotebooksConfig(ConfigModel):
    """JupyterHub: notebooks on the GPU pools, charged to the user's team."""

    enabled: bool = False
    oidc: OidcConfig | None = None
    users: dict[str, str] = Field(default_factory=dict)
    """User name (as ``oidc.usernameClaim`` gives it) -> team, for users outside every team's owners group."""
    admin_users: list[str] = Field(default_factory=list)
    idle_timeout_minutes: int = Field(default=60, ge=5, le=10080)
    """The idle culler stops a server after this long without activity."""
    home_size_gb: int = Field(default=20, ge=1, le=1024)
    cpu_profile: NotebookCpuConfig = Field(default_factory=NotebookCpuConfig)
    """Size of the CPU-only profile (GPU profiles take a pool's share of a node)."""
    storage_class: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    """``cloud: existing``: the StorageClass of the home volumes, one your cluster's admin made to encrypt volumes
    (required there); on aws / gcp the platform makes its own with the platform key."""
