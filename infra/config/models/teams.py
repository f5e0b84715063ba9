"""Teams: namespace, quotas, budget and the identities that own it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from catalog.clouds import IAM_PRINCIPAL_ARN
from infra.config.base import DNS_LABEL, QUANTITY, ConfigModel


class TeamQuotas(ConfigModel):
    cpu: int = Field(ge=1)
    memory: str = Field(pattern=QUANTITY)
    gpu: int = Field(default=0, ge=0)
    mig: dict[str, int] = Field(default_factory=dict)
    """MIG slices per profile the team may request (mixed strategy)."""
    neuron: int = Field(default=0, ge=0)
    """Trainium / Inferentia devices (``aws.amazon.com/neuron``) the team may request; its
    ``aws.amazon.com/neuroncore`` quota is these devices' NeuronCores."""
    pods: int = Field(default=200, ge=1)
    storage: str = Field(default="1Ti", pattern=QUANTITY)


class TeamConfig(ConfigModel):
    name: str = Field(pattern=DNS_LABEL, max_length=40)
    owners: str = Field(min_length=1)
    """Identity-provider group bound to ``edit`` in the team's namespace."""
    viewers: str | None = None
    cost_center: str = Field(min_length=1)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    quotas: TeamQuotas
    budget_usd: float | None = Field(default=None, gt=0)
    gpu_borrowing_limit: int = Field(default=0, ge=0)
    """GPUs (per GPU resource) the team may borrow beyond its quota from idle capacity of the cohort. Default: 0."""
    pod_security: Literal["baseline", "restricted", "privileged"] = "baseline"
    """Pod Security level enforced in the namespace (``restricted`` is always warned and audited). ``privileged``
    only for a team that runs GPUDirect jobs on GKE (their pods mount the node's NCCL plugin by hostPath, which
    ``baseline`` refuses); the config refuses it on a stack without a ``gpuDirect`` pool."""
    internet_egress: bool = False
    owner_role_arns: list[str] = Field(default_factory=list)
    """EKS: IAM roles (e.g. SSO permission-set roles) whose users join the ``owners`` group (access entries)."""
    viewer_role_arns: list[str] = Field(default_factory=list)
    """EKS: IAM roles whose users join the ``viewers`` group (requires ``viewers``)."""

    @field_validator("owner_role_arns", "viewer_role_arns")
    @classmethod
    def _role_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(IAM_PRINCIPAL_ARN, arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
        return value
