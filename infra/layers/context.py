"""What a cloud layer hands to the Kubernetes layer.

The cloud layers (``aws``, ``gcp``, ``existing``) build everything cloud-specific - network,
keys, lake, cluster, node pools, IAM, managed stores - and return a :class:`CloudLayer`; the
Kubernetes layer (``k8s``) builds the same in-cluster platform on every cloud from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s


@dataclass
class DatabaseInfo:
    """A PostgreSQL server the in-cluster services connect to."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    username: pulumi.Input[str]
    password: pulumi.Output[str] | None
    """A Pulumi secret; ``None`` when ``existing_secret`` names a Kubernetes Secret instead."""
    database: str = "mlflow"
    existing_secret: str | None = None
    bootstrap_database: str | None = None
    """A database that already exists on the server (to connect to while creating ``database``)."""


@dataclass
class RedisInfo:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    password: pulumi.Output[str] | None
    tls: bool = True
    ca_certificate: pulumi.Input[str] | None = None
    """PEM of the server CA to trust for TLS (Memorystore); ``None``: the system trust store."""


@dataclass
class CloudLayer:
    """Facts and handles from the cloud layer, consumed by the Kubernetes layer."""

    cloud: Literal["aws", "gcp", "existing"]
    k8s_provider: k8s.Provider
    cluster_name: pulumi.Input[str]
    driver_preinstalled: bool
    """Whether the GPU nodes' image already ships the NVIDIA driver."""
    object_store: Literal["s3", "gs"] | None = None
    buckets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Lake zone -> bucket name."""
    team_identity: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Team name -> annotations for its ``<team>-workloads`` service account."""
    service_identity: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Platform service (``mlflow``, ``feast``) -> annotations for its service account."""
    mlflow_db: DatabaseInfo | None = None
    feast_registry_db: DatabaseInfo | None = None
    feast_redis: RedisInfo | None = None
    region: str | None = None
    api_server: pulumi.Input[str] | None = None
    """The cluster's API server URL (EKS / GKE endpoint); ``None`` on a cluster you bring."""
    extras: dict[str, Any] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the in-cluster workloads must wait for (node groups, add-ons)."""
    identity_egress: list[tuple[str, int]] = field(default_factory=list)
    """(CIDR, TCP port) of non-public endpoints the workloads get cloud credentials from (the GKE
    metadata server); the teams' NetworkPolicies allow egress to them."""
