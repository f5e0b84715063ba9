"""GPU node pools and the reserved capacity they use first."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.base import DNS_LABEL, ConfigModel


class ReservationConfig(ConfigModel):
    """Reserved capacity a pool uses first (``capacity: reserved*``).

    AWS: On-Demand Capacity Reservations (ODCRs) and Capacity Blocks for ML, chosen by id or tags
    (Karpenter ``capacityReservationSelectorTerms``). GCP: Compute Engine reservations by name
    (node pool ``reservation_affinity``).
    """

    ids: list[str] = Field(default_factory=list)
    """AWS: capacity reservation ids (``cr-0123...``); GCP: reservation names."""
    tags: dict[str, str] = Field(default_factory=dict)
    """AWS only: select every reservation carrying all these tags."""
    zone: str | None = None
    """Availability zone the reservation is in; the pool trains in it (one subnet)."""
    kind: Literal["odcr", "capacity-block"] = "odcr"
    """AWS: an On-Demand Capacity Reservation or a Capacity Block for ML."""
    nodes: int = Field(ge=1)
    """Instances the reservation holds (its fixed cost and GPUs)."""
    hourly_usd: float | None = Field(default=None, gt=0)
    """Price paid per reserved node-hour (a Capacity Block's price); default: the on-demand list price."""


class GpuPoolConfig(ConfigModel):
    """One GPU node pool."""

    name: str = Field(pattern=DNS_LABEL, max_length=30)
    purpose: Literal["training", "serving", "notebooks"]
    gpu: str | None = None
    """GPU model from the catalog (``A100-40GB``); the pool may use every node type that carries it."""
    instance_types: list[str] = Field(default_factory=list)
    """EC2 instance types (AWS) or GCE machine types (GCP); all must carry the same GPU model."""
    capacity: Literal[
        "spot", "on-demand", "spot-with-fallback", "reserved", "reserved-then-spot", "reserved-then-on-demand", "flex-start"
    ] = "on-demand"
    """Reserved capacity (``reserved*``) needs ``reservation``; ``reserved-then-*`` falls back when it is used up.
    ``flex-start`` (GKE): Dynamic Workload Scheduler flex-start with queued provisioning, through Kueue."""
    reservation: ReservationConfig | None = None
    efa: bool = False
    """AWS: attach every Elastic Fabric Adapter the instance type has (multi-node training); all types must have EFA."""
    placement: Literal["cluster"] | None = None
    """Place the nodes close together (needs ``zone``): AWS a cluster placement group, GKE a compact placement policy."""
    placement_policy: str | None = Field(default=None, pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    """GKE, with ``placement: cluster``: the name of a compact resource policy of your own in the region (e.g. the
    one a reservation was created with); default: GKE creates one for the pool."""
    gpu_direct: bool | None = None
    """GKE, A3 Mega / A3 Ultra / A4: attach the machine's GPU NICs (GPUDirect-TCPXO / -RDMA VPCs, multi-networking,
    the NCCL plugin) for multi-node training. Required (true or false) on a training pool of those machine types."""
    zone: str | None = None
    """Train in this one availability zone / subnet (default: the reservation's zone, else every zone)."""
    image_snapshot: str | None = Field(default=None, pattern=r"^snap-[0-9a-f]+$")
    """AWS, Bottlerocket pools: each node's data volume (its container images) is restored from this EBS
    snapshot of pre-pulled images, so multi-GB images need no pull."""
    image_streaming: bool = False
    """GKE: image streaming (containers from Artifact Registry start while the image is still being read)."""
    fast_image_pull: bool = False
    """AWS: SOCI parallel pull and unpack of container images (AL2023: nodeadm's ``FastImagePull`` gate;
    Bottlerocket: the SOCI snapshotter in ``parallel-pull-unpack`` mode); no image change needed."""
    secondary_boot_disk: str | None = Field(
        default=None, pattern=r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/)?global/images/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
    )
    """GKE, with ``imageStreaming``: a disk image of pre-pulled container images (``global/images/NAME``, built with
    gke-disk-image-builder) attached to every node as an image cache; multi-GB images then start without a pull."""
    topology_aware: bool = False
    """Kueue Topology Aware Scheduling on this pool's flavor (jobs can ask for one network block). Kueue
    places pods only on nodes that exist, so the pool keeps ``minNodes`` nodes (on EKS a static NodePool)."""
    mode: Literal["karpenter", "managed"] = "karpenter"
    """AWS only: Karpenter NodePool (default) or an EKS managed node group."""
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int | None = Field(default=None, ge=1, le=1000)
    """Most nodes the pool may grow to (required on aws and gcp)."""
    gpu_limit: int | None = Field(default=None, ge=1)
    """Ceiling on ``nvidia.com/gpu`` in the pool; default: max nodes x GPUs per node."""
    mig_profile: str | None = None
    """Cut every GPU into this MIG profile (``1g.10gb``); the GPU must support MIG."""
    time_slicing_replicas: int | None = Field(default=None, ge=1, le=64)
    """Share each GPU between this many pods (time-slicing)."""
    disk_gb: int = Field(default=200, ge=50, le=16384)
    ami_family: Literal["al2023", "bottlerocket"] = "al2023"
    ami_version: str = Field(default="latest", pattern=r"^(latest|v[0-9]+(\.[0-9]+)*)$")
    """Karpenter pools: the EKS-optimized AMI release (``v20250715``; Bottlerocket ``v1.40.0``), or ``latest`` (nodes roll to every new release)."""
    expire_after: str = Field(default="720h", pattern=r"^([0-9]+(s|m|h))+$|^Never$")
    nodes_count_for_existing: int | None = Field(default=None, ge=0, alias="existingNodes")
    """``cloud: existing`` only: how many such nodes the cluster has (for quotas and cost)."""

    @property
    def reserved(self) -> bool:
        """The pool uses reserved capacity first (``reserved``, ``reserved-then-spot``, ``reserved-then-on-demand``)."""
        return self.capacity.startswith("reserved")

    @property
    def fallback(self) -> str | None:
        """What a ``reserved-then-*`` pool falls back to (``spot`` / ``on-demand``); ``None`` otherwise."""
        return self.capacity.removeprefix("reserved-then-") if self.capacity.startswith("reserved-then-") else None

    @property
    def training_zone(self) -> str | None:
        """The one zone the pool's nodes run in: ``zone``, else its reservation's zone, else ``None`` (every zone)."""
        return self.zone or (self.reservation.zone if self.reservation else None)
