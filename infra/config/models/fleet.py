"""A hybrid fleet through Kueue's MultiKueue (manager and worker stacks)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_serializer

from infra.config.base import DNS_LABEL, SECRET_PLACEHOLDER, ConfigModel
from infra.config.models.teams import TeamQuotas


class FleetWorkerConfig(ConfigModel):
    """A worker cluster of a fleet manager: another stack of this project, or a cluster we do not manage."""

    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """The ``MultiKueueCluster`` name (and of its kubeconfig Secret)."""
    stack: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
    """A stack of this project with ``fleet.role: worker``; its outputs are read by ``pulumi.StackReference``."""
    kubeconfig: SecretStr | None = None
    """A cluster we do not manage: the kubeconfig MultiKueue uses (a secret; least privilege, see docs/hybrid.md)."""
    quotas: dict[str, TeamQuotas] = Field(default_factory=dict)
    """Team -> what the worker admits for it; required for a ``kubeconfig`` worker, read from the stack otherwise."""

    @field_serializer("kubeconfig")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class FleetConfig(ConfigModel):
    """A hybrid fleet through Kueue's MultiKueue: a manager stack holds the queues, worker stacks run the jobs."""

    role: Literal["none", "manager", "worker"] = "none"
    workers: list[FleetWorkerConfig] = Field(default_factory=list)
    """Manager: the workers in dispatch order (most preferred first, e.g. on-prem, cloud spot, cloud on-demand)."""
    dispatcher: Literal["incremental", "allAtOnce"] = "incremental"
    """Manager: Kueue's MultiKueue dispatcher; ``incremental`` nominates workers in list order."""
    step_size: int = Field(default=1, ge=1, le=20)
    """Manager, ``incremental``: how many workers are nominated per round (Kueue's default is 3)."""
    organization: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
    """Manager: the Pulumi organization of the worker stacks (default: the manager's own)."""
    manager: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
    """Worker: the manager stack whose teams this worker mirrors."""
    api_server: str | None = Field(default=None, pattern=r"^https://[^\s/]+(:[0-9]+)?/?$")
    """Worker: the API server URL the manager reaches this cluster at (default: the EKS / GKE endpoint;
    required on ``cloud: existing``)."""
