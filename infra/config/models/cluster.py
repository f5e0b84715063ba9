"""Where the platform runs: the network, the cluster, its system nodes, the DR region."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, SecretStr, field_serializer, field_validator

from catalog.clouds import IAM_PRINCIPAL_ARN
from infra.config.base import DNS_LABEL, DOCUMENTATION_NETS, SECRET_PLACEHOLDER, ConfigModel, cidr_block


class DrConfig(ConfigModel):
    """Disaster recovery: a second region holding replicas of the stateful data."""

    enabled: bool = False
    region: str | None = None
    fast_lake_replication: bool | None = None
    """With DR: the lake replicates with a 15-minute RPO (S3 Replication Time Control on aws, turbo replication of the
    dual-region buckets on gcp). Default: on in prod."""
    database_backups: bool | None = None
    """AWS, with DR: the database's automated backups and its credentials secret replicated to the DR region.
    Default: on in prod."""


class NetworkConfig(ConfigModel):
    cidr: str = "10.0.0.0/16"
    az_count: int = Field(default=3, ge=2, le=6)
    nat_gateways: Literal["single", "perAz"] | None = None
    """AWS NAT gateways: ``single`` (cheap) or ``perAz`` (HA). Default: ``single`` in dev, ``perAz`` elsewhere."""
    pods_cidr: str = "10.64.0.0/14"
    services_cidr: str = "10.68.0.0/20"
    gpu_cidr: str = "192.168.0.0/16"
    """GKE: the range the GPUDirect VPCs' subnets are carved from (pools with ``gpuDirect: true``); /19 or larger."""

    @field_validator("cidr", "pods_cidr", "services_cidr", "gpu_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a CIDR block such as 10.0.0.0/16") from None
        return value


class SystemNodesConfig(ConfigModel):
    instance_type: str | None = None
    """EC2 instance type (aws) or GCE machine type (gcp). Default: ``m6i.large`` on aws, ``e2-standard-4`` on gcp."""
    min_nodes: int = Field(default=2, ge=1)
    max_nodes: int = Field(default=4, ge=1)
    disk_gb: int = Field(default=50, ge=20)


class ClusterConfig(ConfigModel):
    name: str | None = Field(default=None, pattern=DNS_LABEL, max_length=40)
    version: str = Field(default="1.33", pattern=r"^1\.[0-9]{2}$")
    public_access_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach a public API endpoint; empty keeps the endpoint private only."""
    private_access_cidrs: list[str] = Field(default_factory=list)
    """EKS: networks besides the VPC allowed to the private API endpoint (VPN, peered VPCs,
    Transit Gateway ranges where a runner or operators sit)."""
    deploy_from: Literal["vpc", "githubHosted", "publicCidrs"] = "vpc"
    """Where ``pulumi up`` runs, which must reach the API endpoint: ``vpc`` (a machine with a network
    path into the VPC: a self-hosted CI runner there, a VPN, a bastion), ``githubHosted`` (GitHub's
    runners; needs ``publicAccessCidrs`` listing their static egress IPs) or ``publicCidrs``
    (anywhere else through the public endpoint; needs ``publicAccessCidrs``)."""
    system_nodes: SystemNodesConfig = Field(default_factory=SystemNodesConfig)
    admin_role_arns: list[str] = Field(default_factory=list)
    """EKS: IAM roles/users granted cluster-admin through access entries (besides the creator)."""
    workload_identity: Literal["irsa", "podIdentity"] = "irsa"
    """EKS: how pods get AWS credentials: IRSA (OIDC, service-account annotation) or EKS Pod Identity (agent add-on, associations)."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    kubeconfig: SecretStr | None = None
    """``cloud: existing`` only: the kubeconfig of the cluster you bring (set it as a secret)."""
    context: str | None = None
    """``cloud: existing`` only: the kubeconfig context to use."""
    controller_replicas: int | None = Field(default=None, ge=1, le=5)
    """Replicas of the platform's controllers (Karpenter, Kueue, JobSet / LeaderWorkerSet, the Prometheus operator
    stack). Default: 2 in prod, 1 elsewhere."""

    @field_validator("private_access_cidrs")
    @classmethod
    def _private_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            cidr_block(cidr, everything="is everything; list the VPN / peered ranges that need the API")
        return value

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            net = cidr_block(cidr, everything="opens the API endpoint to the whole internet; list your own ranges")
            if any(net.network_address in doc and net.broadcast_address in doc for doc in DOCUMENTATION_NETS):  # subnet_of
                raise ValueError(
                    f"{cidr!r} is a documentation range (RFC 5737 / RFC 3849): no deployer has such an address; "
                    "list your runners' or office egress CIDRs, or leave it empty (private endpoint only)"
                )
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _admin_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(IAM_PRINCIPAL_ARN, arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_serializer("kubeconfig")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None
