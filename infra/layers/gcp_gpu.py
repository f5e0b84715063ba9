"""GPU compute on GCP: one GKE node pool per configured pool (``components.gcp.gpu_node_pool``), and the
GPUDirect networking of A3 Mega / A3 Ultra / A4 training pools.

Decisions visible in the plan:

* capacity: ``spot`` -> Spot VMs, ``spot-with-fallback`` -> a spot pool plus an on-demand twin
  (``<pool>-ondemand``); a reserved pool consumes its reservations (``reservation_affinity``) and
  ``reserved-then-*`` adds a twin without them for when the reservation is used up; ``flex-start``
  -> DWS flex-start with queued provisioning (Kueue's ProvisioningRequest admission check);
* GKE bounds nodes, not GPUs: ``gpuLimit`` becomes a node ceiling in whole nodes;
* without the GPU operator (the GKE default) GKE partitions MIG GPUs and time-shares them; with
  it, GKE's device plugin is switched off on the pools and the operator applies the MIG and
  time-slicing configs named by the nodes' labels;
* ``gpuDirect: true`` (a machine type with GPU NICs, ``catalog.gpus.NodeType.gpu_direct``): the pool's nodes
  get the extra NICs on the GPUDirect VPCs (:mod:`components.gcp.gpu_network`), the cluster multi-networking,
  and the cluster the GKE ``Network`` objects and the NCCL plugin installer of the layout
  (:mod:`components.gcp.gpudirect`);
* ``placement: cluster``: a compact placement policy (the pool runs in one zone);
* ``secondaryBootDisk``: an image-cache disk on every node (with image streaming).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from catalog import gpus as catalog
from catalog import pool_nodes
from components.gcp.gpu_network import GpuNetworks, GpuNetworksArgs
from components.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.gcp.gpudirect import GpuDirect, GpuDirectArgs
from infra import config
from infra.layers.context import CloudLayer
from infra.layers.gcp_foundation import GcpFoundation, gpu_direct_layouts

NO_GKE_DEVICE_PLUGIN = "gke-no-default-nvidia-gpu-device-plugin"
"""Node label that keeps GKE's own device plugin off, for nodes the GPU operator manages."""


@dataclass
class GkeGpu:
    """The GPU node pools (what the in-cluster workloads wait for) and the GPUDirect VPCs, if any."""

    pools: list[pulumi.Resource] = field(default_factory=list)
    networks: GpuNetworks | None = None
    accelerators: dict[str, list[str]] = field(default_factory=dict)
    """GPUDirect layout (``tcpxo`` / ``rdma``) -> the GKE accelerator types of its pools."""


def build(cfg: config.PlatformConfig, foundation: GcpFoundation) -> GkeGpu:
    """The node pools, one per configured pool plus its fallback twin, and the GPUDirect VPCs."""
    operator = cfg.gpu_operator_enabled
    gke_driver = foundation.gke_driver
    cluster = foundation.cluster
    out = GkeGpu()
    layouts = gpu_direct_layouts(cfg)
    if layouts:
        zones = {p.training_zone for pools in layouts.values() for p in pools}
        out.networks = GpuNetworks(
            "gpu-networks",
            GpuNetworksArgs(
                name=cfg.cluster_name,
                project=foundation.project,
                region=foundation.region,
                cidr=cfg.network.gpu_cidr,
                tcpxo="tcpxo" in layouts,
                rdma="rdma" in layouts,
                zone=next(iter(zones)) if len(zones) == 1 else None,  # config: every GPUDirect pool in one zone
            ),
            foundation.opts,
        )
    for pool in cfg.gpu_pools:
        node = cfg.pool_node_types(pool)[0]  # the listed machine type, or the cheapest carrying the GPU
        gpu = cfg.pool_gpu(pool)
        accelerator = catalog.gke_accelerator(node)
        nics: tuple[tuple[pulumi.Input[str], pulumi.Input[str]], ...] = ()
        if out.networks is not None and pool.gpu_direct and node.gpu_direct:
            nics = tuple((a.network, a.subnetwork) for a in out.networks.attachments[node.gpu_direct])
            out.accelerators.setdefault(node.gpu_direct, [])
            if accelerator not in out.accelerators[node.gpu_direct]:
                out.accelerators[node.gpu_direct].append(accelerator)
        # (node pool, spot, reservations): a reserved pool consumes its reservations; reserved-then-*
        # and spot-with-fallback add a twin without them for when the first is used up
        reserved = tuple(pool.reservation.ids) if pool.reserved and pool.reservation else ()
        variants = [(pool.name, pool.capacity in ("spot", "spot-with-fallback"), reserved)]
        if pool.capacity == "spot-with-fallback" or pool.fallback == "on-demand":
            variants.append((f"{pool.name}-ondemand", False, ()))
        elif pool.fallback == "spot":
            variants.append((f"{pool.name}-spot", True, ()))
        # the fallback twin keeps the pool label: one Kueue flavor
        node_labels = pool_nodes.node_labels(
            pool=pool.name,
            purpose=pool.purpose,
            model=gpu,
            mig_profile=pool.mig_profile,
            device_plugin_entry=pool_nodes.device_plugin_entry(pool.name, pool.time_slicing_replicas),
        )
        max_nodes = int(pool.max_nodes or 1)
        if pool.gpu_limit is not None:  # GKE bounds nodes, not GPUs: honour the GPU ceiling in whole nodes
            max_nodes = min(max_nodes, pool.gpu_limit // node.gpus)
        if operator:
            node_labels[NO_GKE_DEVICE_PLUGIN] = "true"
        for i, (pool_name, spot, reservations) in enumerate(variants):
            built = GpuNodePool(
                f"gpu-{pool_name}",
                GpuNodePoolArgs(
                    cluster=cluster.cluster.id,
                    location=foundation.region,
                    pool=pool_name,
                    purpose=pool.purpose,
                    gpu_model=gpu.key,
                    machine_type=node.name,
                    accelerator_type=accelerator,
                    accelerator_count=node.gpus,
                    min_nodes=pool.min_nodes if i == 0 else 0,
                    max_nodes=max_nodes,
                    spot=spot,
                    partition_size=None if operator else pool.mig_profile,
                    time_sharing_clients=None
                    if operator or (pool.time_slicing_replicas or 0) < 2
                    else pool.time_slicing_replicas,
                    driver_version="LATEST" if gke_driver else "INSTALLATION_DISABLED",
                    disk_gb=pool.disk_gb,
                    service_account=cluster.node_service_account.email,
                    labels=foundation.labels,
                    node_labels=node_labels,
                    reservations=reservations,
                    zone=pool.training_zone,
                    flex_start=pool.capacity == "flex-start",
                    image_streaming=pool.image_streaming,
                    secondary_boot_disk=pool.secondary_boot_disk,
                    compact_placement=pool.placement == "cluster",
                    placement_policy=pool.placement_policy,
                    additional_networks=nics,
                ),
                foundation.opts,
            )
            out.pools.append(built.node_pool)
    return out


def build_in_cluster(gpu: GkeGpu, layer: CloudLayer) -> GpuDirect | None:
    """The GKE ``Network`` objects of the GPUDirect NICs and the NCCL plugin installers (on the cluster's provider)."""
    if gpu.networks is None:
        return None
    return GpuDirect(
        "gpudirect",
        GpuDirectArgs(attachments=gpu.networks.attachments, accelerators=gpu.accelerators),
        pulumi.ResourceOptions(provider=layer.k8s_provider),
    )
