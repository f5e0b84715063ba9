"""What a cloud layer hands to the Kubernetes layer.

The cloud layers (``aws``, ``gcp``, ``existing``) build everything cloud-specific - network,
keys, lake, cluster, node pools, IAM, managed stores - and return a :class:`CloudLayer`; the
Kubernetes layer (``k8s``) builds the same in-cluster platform on every cloud from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

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


@dataclass(frozen=True)
class EncryptedVolumes:
    """A CSI provisioner and the StorageClass parameters that encrypt its volumes with the platform's key
    (EBS: ``kmsKeyId``; GCE PD: ``disk-encryption-kms-key``)."""

    provisioner: str
    parameters: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class SharedVolumes:
    """A shared file system (FSx for Lustre) with one pre-bound ReadWriteMany PersistentVolume per team."""

    claim: str
    """The claim name each team namespace gets (the volumes' ``claimRef.name``)."""
    volumes: Mapping[str, tuple[str, str]]
    """Team -> (PersistentVolume name, size such as ``1200Gi``)."""
    file_system: pulumi.Resource
    """What the claims wait for (the volumes are its children)."""


@dataclass
class CloudLayer:
    """Facts and handles from the cloud layer, consumed by the Kubernetes layer.

    The cloud layer sets each field once; the Kubernetes layer only reads them (what it builds for itself
    stays in :class:`infra.layers.k8s.K8sPlatform`). Cloud differences arrive as facts here, so the
    Kubernetes layer never asks which cloud it is on.
    """

    cloud: Literal["aws", "gcp", "existing"]
    """For messages only: the Kubernetes layer does not branch on it."""
    k8s_provider: k8s.Provider
    cluster_name: pulumi.Input[str]
    driver_preinstalled: bool
    """Whether the GPU nodes' image already ships the NVIDIA driver."""
    toolkit_preinstalled: bool = False
    """Whether the GPU nodes' image ships the NVIDIA container toolkit with its driver (EKS GPU AMIs)."""
    host_driver_dir: str | None = None
    """Where a preinstalled driver lives when not at the GPU operator's default path (GKE)."""
    forced_mig_strategy: Literal["single", "mixed"] | None = None
    """How MIG slices appear regardless of ``gpuOperator.migStrategy`` (GKE: ``single``), else ``None``."""
    topology_levels: tuple[str, ...] = ()
    """Node labels of the cloud's network topology, coarsest first (Kueue TAS); empty: none."""
    cluster_version: str | None = None
    """The cluster's Kubernetes minor version when the cloud layer sets it (``1.33``)."""
    cloud_prices: bool = False
    """Whether OpenCost reads the cloud's list prices itself (else the catalog's custom prices)."""
    google_managed_prometheus: bool = False
    """Whether Google Managed Prometheus runs in the cluster (its CRDs installed by GKE)."""
    encrypted_volumes: EncryptedVolumes | None = None
    """How to provision volumes encrypted with the platform key (notebook homes); ``None``: not offered."""
    encrypted_storage_class: str | None = None
    """An existing StorageClass that encrypts volumes (a cluster you bring: its admin's), used when the cloud offers
    no :attr:`encrypted_volumes` of ours."""
    shared_volumes: SharedVolumes | None = None
    object_store: Literal["s3", "gs"] | None = None
    buckets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Lake zone -> bucket name."""
    team_identity: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Team name -> annotations for its ``<team>-workloads`` service account."""
    serving_identity: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Team name -> annotations for its ``<team>-serving`` service account (reads the MLflow registry's artifacts)."""
    service_identity: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Platform service (``mlflow``, ``feast``) -> annotations for its service account."""
    mlflow_db: DatabaseInfo | None = None
    feast_registry_db: DatabaseInfo | None = None
    feast_redis: RedisInfo | None = None
    region: str | None = None
    api_server: pulumi.Input[str] | None = None
    """The cluster's API server URL (EKS / GKE endpoint); ``None`` on a cluster you bring."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the in-cluster workloads must wait for (node groups, add-ons)."""
    identity_egress: list[tuple[str, int]] = field(default_factory=list)
    """(CIDR, TCP port) of non-public endpoints the workloads get cloud credentials from (the GKE
    metadata server); the teams' NetworkPolicies allow egress to them."""
