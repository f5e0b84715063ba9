"""A GKE GPU node pool: accelerators, GKE-installed driver, MIG partitions or time-sharing, spot.

GKE partitions MIG GPUs itself (``gpu_partition_size``) and shares GPUs by time-slicing
(``gpu_sharing_config``), so neither needs the GPU operator's MIG manager or device-plugin
config. Nodes carry the platform's pool/purpose/GPU labels and the ``nvidia.com/gpu`` taint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from catalog import conventions as cv
from catalog.clouds import GKE_MAX_TIME_SHARING_CLIENTS, GKE_PARTITION_SIZES
from components.base import Component
from components.gcp.gke import shielded_node_config

GKE_GPU_TAINT_VALUE = "present"
"""GKE taints GPU nodes ``nvidia.com/gpu=present:NoSchedule`` itself; a taint with the same key and
effect but another value would clash with it (taints are unique per key and effect), so GKE pools
carry GKE's own value. Tolerations use ``operator: Exists`` and match either value."""

GKE_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
DRIVER_VERSIONS = ("DEFAULT", "LATEST", "INSTALLATION_DISABLED")


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """Arguments of :class:`GpuNodePool`.

    :param cluster: Cluster id; ``location``: its region.
    :param pool: Pool name (a DNS label, also the value of the pool node label).
    :param purpose: ``training``, ``serving`` or ``notebooks`` (node label).
    :param gpu_model: Our GPU model key (node label), e.g. ``A100-40GB``.
    :param machine_type: GCE machine type, e.g. ``a2-highgpu-1g``.
    :param accelerator_type: GKE accelerator type, e.g. ``nvidia-tesla-a100``.
    :param accelerator_count: GPUs per node.
    :param min_nodes: Fewest nodes across all zones (0 scales to zero).
    :param max_nodes: Most nodes across all zones.
    :param spot: Spot VMs (preemptible, cheaper).
    :param partition_size: MIG partition every GPU is cut into (``3g.20gb``).
    :param time_sharing_clients: Pods sharing each GPU (time-sharing), 2 or more.
    :param driver_version: ``DEFAULT``/``LATEST`` (GKE installs) or ``INSTALLATION_DISABLED``.
    :param disk_gb: Boot disk size.
    :param service_account: Email of the nodes' service account.
    :param labels: GCP labels of the nodes.
    :param node_labels: Extra Kubernetes labels (they win over the pool/purpose/GPU labels).
    """

    cluster: pulumi.Input[str]
    location: str
    pool: str
    purpose: str
    gpu_model: str
    machine_type: str
    accelerator_type: str
    accelerator_count: int
    max_nodes: int
    service_account: pulumi.Input[str]
    min_nodes: int = 0
    spot: bool = False
    partition_size: str | None = None
    time_sharing_clients: int | None = None
    driver_version: str = "LATEST"
    disk_gb: int = 200
    labels: Mapping[str, str] = field(default_factory=dict)
    node_labels: Mapping[str, str] = field(default_factory=dict)
    reservations: tuple[str, ...] = ()
    """Compute Engine reservations (names) the nodes consume (``reservation_affinity`` SPECIFIC_RESERVATION)."""
    zone: str | None = None
    """Run the nodes in this one zone (``node_locations``); a reservation is zonal."""
    image_streaming: bool = False
    """GKE image streaming (``gcfs_config``): containers from Artifact Registry start before the image is read."""
    secondary_boot_disk: str | None = None
    """A disk image of pre-pulled container images (``global/images/NAME`` or ``projects/P/global/images/NAME``, built
    with GoogleCloudPlatform/ai-on-gke tools/gke-disk-image-builder) attached to every node as a secondary boot disk in
    ``CONTAINER_IMAGE_CACHE`` mode; needs ``image_streaming`` (terraform-provider-google container_node_pool docs:
    "gcfs_config must be enabled=true for this feature to work")."""
    flex_start: bool = False
    """Dynamic Workload Scheduler flex-start with queued provisioning: nodes come only for a
    ProvisioningRequest (Kueue creates one per admitted job), all at once."""
    compact_placement: bool = False
    """``placement_policy { type = "COMPACT" }``: the nodes are placed close together (lower latency between
    them). GKE allows it for a pool in one zone only, not with queued provisioning and not with blue-green
    upgrades (cluster-toolkit v1.95.0 modules/compute/gke-node-pool preconditions)."""
    placement_policy: str | None = None
    """With ``compact_placement``: the name of a compact resource policy of your own, in the pool's region
    (``placement_policy.policy_name``; e.g. the one a reservation was made with)."""
    additional_networks: tuple[tuple[pulumi.Input[str], pulumi.Input[str]], ...] = ()
    """(VPC name, subnet name) of each extra NIC, in order (``network_config.additional_node_network_configs``):
    the GPUDirect NICs of A3 Mega / A3 Ultra / A4 (:mod:`components.gcp.gpu_network`). Needs a cluster with
    multi-networking."""

    def __post_init__(self) -> None:
        if self.compact_placement:
            if not self.zone:
                raise ValueError("compact placement is only available for a node pool in a single zone (set zone)")
            if self.flex_start:
                raise ValueError("compact placement cannot be combined with queued provisioning (flex_start)")
        elif self.placement_policy:
            raise ValueError("placement_policy names a compact resource policy; set compact_placement too")
        if self.secondary_boot_disk is not None:
            if not re.match(
                r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/)?global/images/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
                self.secondary_boot_disk,
            ):
                raise ValueError(
                    f"secondary_boot_disk {self.secondary_boot_disk!r} is not a disk image path such as global/images/NAME"
                )
            if not self.image_streaming:
                raise ValueError("a secondary boot disk (image cache) needs image_streaming (gcfs_config)")
        if self.placement_policy is not None and not re.match(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", self.placement_policy):
            raise ValueError(f"placement_policy {self.placement_policy!r} is not a resource policy name")
        if self.flex_start and (self.spot or self.reservations or self.min_nodes):
            raise ValueError("a flex-start pool has no spot, no reservation and min_nodes 0")
        if self.reservations and self.spot:
            raise ValueError("a pool consuming a reservation runs reserved (on-demand) VMs, not spot")
        if not re.match(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", self.pool):
            raise ValueError(f"pool {self.pool!r} must be a DNS label of at most 40 characters")
        if self.purpose not in ("training", "serving", "notebooks"):
            raise ValueError(f"purpose {self.purpose!r}; allowed: training, serving, notebooks")
        if not self.accelerator_type.startswith("nvidia-"):
            raise ValueError(f"accelerator_type {self.accelerator_type!r} is not a GKE NVIDIA accelerator")
        if self.accelerator_count < 1:
            raise ValueError("accelerator_count must be at least 1")
        if not 0 <= self.min_nodes <= self.max_nodes:
            raise ValueError(f"need 0 <= min_nodes ({self.min_nodes}) <= max_nodes ({self.max_nodes})")
        if self.partition_size is not None:
            allowed = GKE_PARTITION_SIZES.get(self.accelerator_type, ())
            if self.partition_size not in allowed:
                raise ValueError(
                    f"partition_size {self.partition_size!r} is not a GKE MIG size of {self.accelerator_type}; "
                    f"allowed: {', '.join(allowed) or 'none'}"
                )
            if self.time_sharing_clients:
                raise ValueError("use partition_size or time_sharing_clients, not both")
        if self.time_sharing_clients is not None and not 2 <= self.time_sharing_clients <= GKE_MAX_TIME_SHARING_CLIENTS:
            raise ValueError(f"time_sharing_clients must be between 2 and {GKE_MAX_TIME_SHARING_CLIENTS}")
        if self.driver_version not in DRIVER_VERSIONS:
            raise ValueError(f"driver_version {self.driver_version!r}; allowed: {', '.join(DRIVER_VERSIONS)}")

    @property
    def kubernetes_labels(self) -> dict[str, str]:
        return {cv.POOL_LABEL: self.pool, cv.PURPOSE_LABEL: self.purpose, cv.GPU_MODEL_LABEL: self.gpu_model, **self.node_labels}

    def accelerator(self) -> dict:
        acc: dict = {
            "type": self.accelerator_type,
            "count": self.accelerator_count,
            "gpu_driver_installation_config": {"gpu_driver_version": self.driver_version},
        }
        if self.partition_size:
            acc["gpu_partition_size"] = self.partition_size
        if self.time_sharing_clients:
            acc["gpu_sharing_config"] = {
                "gpu_sharing_strategy": "TIME_SHARING",
                "max_shared_clients_per_gpu": self.time_sharing_clients,
            }
        return acc


class GpuNodePool(Component):
    """One autoscaled GKE node pool of GPU machines."""

    node_pool: gcp.container.NodePool

    def __init__(self, resource_name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:GpuNodePool", resource_name, opts)
        node_pool = gcp.container.NodePool(
            resource_name,
            name=args.pool,
            cluster=args.cluster,
            location=args.location,
            # per zone; a regional pool usually spans 3 zones, the autoscaler keeps the total in bounds
            initial_node_count=-(-args.min_nodes // 3),
            autoscaling={
                "total_min_node_count": args.min_nodes,
                "total_max_node_count": args.max_nodes,
                # spot and flex-start capacity comes and goes per zone: take it wherever it is
                "location_policy": "ANY" if args.spot or args.flex_start else "BALANCED",
            },
            # DWS flex-start nodes must not be auto-repaired, queued-provisioning nodes not auto-upgraded (cluster-toolkit
            # v1.95.0 examples/gke-consumption-options/dws-flex-start-queued-provisioning: "dws flex-start requirement",
            # "queued provisioning requirement"); a broken flex-start node goes with its job instead
            management={"auto_repair": not args.flex_start, "auto_upgrade": not args.flex_start},
            **({"queued_provisioning": {"enabled": True}} if args.flex_start else {}),
            upgrade_settings={"max_surge": 1, "max_unavailable": 0},
            node_config={
                **shielded_node_config(args.service_account, args.labels),
                "machine_type": args.machine_type,
                "disk_size_gb": args.disk_gb,
                "disk_type": "pd-balanced",
                "spot": args.spot,
                "guest_accelerators": [args.accelerator()],
                "labels": args.kubernetes_labels,
                "taints": [
                    {"key": cv.GPU_TAINT_KEY, "value": GKE_GPU_TAINT_VALUE, "effect": GKE_TAINT_EFFECTS[cv.GPU_TAINT_EFFECT]}
                ],
                "gvnic": {"enabled": True},
                **({"gcfs_config": {"enabled": True}} if args.image_streaming else {}),
                **(
                    {"secondary_boot_disks": [{"disk_image": args.secondary_boot_disk, "mode": "CONTAINER_IMAGE_CACHE"}]}
                    if args.secondary_boot_disk
                    else {}
                ),
                **(
                    {
                        "reservation_affinity": {
                            "consume_reservation_type": "SPECIFIC_RESERVATION",
                            "key": "compute.googleapis.com/reservation-name",
                            "values": list(args.reservations),
                        }
                    }
                    if args.reservations
                    else {"reservation_affinity": {"consume_reservation_type": "NO_RESERVATION"}, "flex_start": True}
                    if args.flex_start
                    else {}
                ),
            },
            **({"node_locations": [args.zone]} if args.zone else {}),
            **(
                {
                    "placement_policy": {
                        "type": "COMPACT",
                        **({"policy_name": args.placement_policy} if args.placement_policy else {}),
                    }
                }
                if args.compact_placement
                else {}
            ),
            **(
                {
                    "network_config": {
                        "additional_node_network_configs": [{"network": n, "subnetwork": s} for n, s in args.additional_networks]
                    }
                }
                if args.additional_networks
                else {}
            ),
            opts=self.child_opts(),
        )
        self.publish(node_pool=node_pool)
