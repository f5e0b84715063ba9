"""GPU pools: the GPU and node types, capacity, reservations, MIG / time-slicing, training options."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from catalog import gpus as catalog
from catalog.clouds import AWS_RESERVATION_ID
from infra.config.base import DNS_LABEL, NAMESPACE, Problem
from infra.config.models import GpuPoolConfig, PlatformConfig

PROD_SERVING_CAPACITY = ("on-demand", "reserved", "reserved-then-on-demand")
"""Capacity a prod serving pool may use: nothing that can be taken back (spot)."""


def pool_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":"
    seen: set[str] = set()
    cloud = "gcp" if cfg.cloud == "gcp" else "aws"
    for i, pool in enumerate(cfg.gpu_pools):
        key = f"{ns}gpuPools[{i}]"
        if pool.name in seen:
            yield f"{key}.name", f"duplicate pool name {pool.name!r}; pool names must be unique"
        seen.add(pool.name)
        offered = sorted({n.gpu for n in catalog.node_types(cloud)} - set(catalog.UNSUPPORTED_GPUS))
        if not pool.gpu and not pool.instance_types:
            yield f"{key}.gpu", f"set gpu ({', '.join(offered)}) or instanceTypes"
            continue
        if pool.gpu and pool.gpu not in catalog.GPU_MODELS:
            yield f"{key}.gpu", f"unknown GPU {pool.gpu!r}; allowed on {cloud}: {', '.join(offered)}"
            continue
        if pool.gpu in catalog.UNSUPPORTED_GPUS:
            refused = catalog.UNSUPPORTED_GPUS[pool.gpu]
            yield f"{key}.gpu", f"{pool.gpu!r} is refused: {refused.reason}; use instead: {refused.instead}"
            continue
        models: set[str] = set()
        bad_type = False
        for j, name in enumerate(pool.instance_types):
            problem = _instance_type_problem(cloud, name, pool.gpu)
            if problem:
                yield f"{key}.instanceTypes[{j}]", problem
                bad_type = True
            else:
                models.add(catalog.node_type(cloud, name).gpu)
        if bad_type:
            continue
        if pool.gpu:
            models.add(pool.gpu)
        if len(models) > 1:
            yield f"{key}.instanceTypes", f"mixes GPU models {sorted(models)}; one pool carries one GPU model"
            continue
        gpu = catalog.gpu_model(models.pop())
        if cfg.cloud != "existing" and not cfg.pool_node_types(pool):
            yield f"{key}.gpu", f"{gpu.key} is not offered on {cloud}; allowed: {', '.join(offered)}"
            continue
        if gpu.is_neuron:
            yield from _neuron_pool_checks(cfg, pool, key, gpu)
        spot_only = [n.name for n in cfg.pool_node_types(pool) if (n.cloud, n.name) in catalog.SPOT_ONLY]
        if cfg.cloud != "existing" and spot_only and pool.capacity != "spot":
            yield (
                f"{key}.capacity",
                f"{pool.capacity!r}: {', '.join(spot_only)} is not sold on demand on {cloud} (spot, flex-start or a "
                "reservation only; reservations are not built here); allowed: spot",
            )
        if pool.mig_profile is not None and pool.mig_profile not in gpu.mig_profiles:
            allowed = ", ".join(gpu.mig_profiles) if gpu.mig_profiles else f"none ({gpu.key} has no MIG)"
            yield f"{key}.migProfile", f"{pool.mig_profile!r} is not a MIG profile of {gpu.key}; allowed: {allowed}"
        if pool.mig_profile and pool.time_slicing_replicas:
            yield f"{key}.timeSlicingReplicas", "use either migProfile or timeSlicingReplicas on a pool, not both"
        if cfg.cloud != "existing" and pool.max_nodes is None:
            yield f"{key}.maxNodes", f"required for cloud {cfg.cloud!r}"
        elif pool.max_nodes is not None and pool.min_nodes > pool.max_nodes:
            yield f"{key}.minNodes", f"{pool.min_nodes} exceeds maxNodes ({pool.max_nodes})"
        if cfg.is_prod and pool.purpose == "serving" and pool.capacity not in PROD_SERVING_CAPACITY:
            yield (
                f"{key}.capacity",
                f"{pool.capacity!r} is not allowed for a serving pool in prod; allowed: {', '.join(PROD_SERVING_CAPACITY)}",
            )
        if pool.mode == "managed" and cfg.cloud != "aws":
            yield f"{key}.mode", f"'managed' is an EKS node group; cloud {cfg.cloud!r} allows: karpenter"
        elif pool.mode == "managed" and (pool.capacity == "spot-with-fallback" or pool.fallback):
            yield (
                f"{key}.capacity",
                f"{pool.capacity!r}: an EKS managed node group has one capacity type; allowed with mode 'managed': spot, on-demand, reserved",
            )
        yield from _training_pool_checks(cfg, pool, key)
        if cfg.cloud == "aws" and pool.ami_family == "bottlerocket" and (pool.mig_profile or pool.time_slicing_replicas):
            yield (
                f"{key}.amiFamily",
                "Bottlerocket runs its own NVIDIA device plugin, which the GPU operator's MIG / time-slicing configs do not reach; "
                "use amiFamily al2023 for a pool with migProfile or timeSlicingReplicas",
            )
        if cfg.cloud == "existing" and pool.nodes_count_for_existing is None:
            yield f"{key}.existingNodes", "required for cloud 'existing': how many such nodes the cluster has"


def _training_pool_checks(cfg: PlatformConfig, pool: GpuPoolConfig, key: str) -> Iterator[Problem]:
    """Reserved capacity, EFA, placement and the one-zone rule of a pool whose shape is already valid."""
    res = pool.reservation
    if pool.reserved and res is None:
        yield (
            f"{key}.reservation",
            f"required with capacity {pool.capacity!r}: the reservation ids (or tags) and how many nodes it holds",
        )
    if res is not None and not pool.reserved:
        yield (
            f"{key}.reservation",
            f"set, but capacity is {pool.capacity!r}; allowed with a reservation: reserved, reserved-then-spot, reserved-then-on-demand",
        )
    if pool.image_snapshot and cfg.cloud != "aws":
        yield f"{key}.imageSnapshot", f"an EBS snapshot (AWS); on cloud {cfg.cloud!r} leave it unset (gcp: imageStreaming)"
    elif pool.image_snapshot and pool.ami_family != "bottlerocket":
        yield (
            f"{key}.imageSnapshot",
            f"needs amiFamily bottlerocket (its data volume holds the images); {pool.ami_family!r} keeps them on the AMI's root volume; allowed: bottlerocket",
        )
    if pool.image_streaming and cfg.cloud != "gcp":
        yield (
            f"{key}.imageStreaming",
            f"GKE image streaming; on cloud {cfg.cloud!r} leave it unset (aws: imageSnapshot, fastImagePull)",
        )
    if pool.fast_image_pull and cfg.cloud != "aws":
        other = "imageStreaming" if cfg.cloud == "gcp" else "your nodes' containerd configuration"
        yield (
            f"{key}.fastImagePull",
            f"SOCI parallel pull on EKS nodes; on cloud {cfg.cloud!r} leave it unset ({cfg.cloud}: {other})",
        )
    if pool.secondary_boot_disk and cfg.cloud != "gcp":
        yield f"{key}.secondaryBootDisk", f"a GKE secondary boot disk; on cloud {cfg.cloud!r} leave it unset (aws: imageSnapshot)"
    elif pool.secondary_boot_disk and not pool.image_streaming:
        yield (
            f"{key}.imageStreaming",
            "must be true with secondaryBootDisk: GKE reads the image cache through image streaming (gcfs_config); allowed: true",
        )
    if pool.topology_aware and pool.min_nodes < 1:
        yield (
            f"{key}.minNodes",
            "must be at least 1 with topologyAware: Kueue's topology-aware scheduling places pods only on nodes that "
            "already exist (a pool scaled to zero would never admit a job); allowed: 1 or more",
        )
    if pool.capacity == "flex-start":
        if cfg.cloud != "gcp":
            yield (
                f"{key}.capacity",
                "'flex-start' is GKE's Dynamic Workload Scheduler; allowed on aws: spot, on-demand, spot-with-fallback, reserved*",
            )
        elif not cfg.kueue.enabled:
            yield (
                f"{key}.capacity",
                "'flex-start' is requested through Kueue's ProvisioningRequest admission check; needs kueue.enabled: true",
            )
        elif pool.min_nodes:
            yield f"{key}.minNodes", f"{pool.min_nodes}: a flex-start pool gets nodes per queued job only; allowed: 0"
    if pool.topology_aware and not cfg.kueue.enabled:
        yield f"{key}.topologyAware", "needs Kueue (kueue.enabled: true)"
    if cfg.cloud == "existing" and (pool.reserved or pool.efa or pool.placement or pool.zone or pool.topology_aware):
        field = (
            "capacity"
            if pool.reserved
            else "efa"
            if pool.efa
            else "placement"
            if pool.placement
            else "zone"
            if pool.zone
            else "topologyAware"
        )
        yield f"{key}.{field}", "cloud 'existing' does not launch nodes; set it up on your cluster and leave it unset here"
        return
    region = cfg.region or ""
    zone_pattern = rf"^{re.escape(region)}[a-z]$" if cfg.cloud == "aws" else rf"^{re.escape(region)}-[a-z]$"
    example = f"{region}a" if cfg.cloud == "aws" else f"{region}-a"
    for path, zone in ((f"{key}.zone", pool.zone), (f"{key}.reservation.zone", res.zone if res else None)):
        if zone is not None and region and not re.match(zone_pattern, zone):
            yield path, f"{zone!r} is not a zone of region {region!r}; allowed: a zone such as {example}"
    if res is not None:
        if not res.ids and not res.tags:
            yield f"{key}.reservation.ids", "set ids (or, on aws, tags) to choose the reservation"
        if cfg.cloud == "aws":
            for j, rid in enumerate(res.ids):
                if not re.match(AWS_RESERVATION_ID, rid):
                    yield (
                        f"{key}.reservation.ids[{j}]",
                        f"{rid!r} is not a capacity reservation id; allowed: cr- followed by lowercase letters and digits",
                    )
            if pool.mode == "managed" and (len(res.ids) != 1 or res.tags):
                yield (
                    f"{key}.reservation.ids",
                    "a managed node group's launch template targets exactly one reservation id (no tags); list one id",
                )
        else:
            if res.tags:
                yield f"{key}.reservation.tags", "GKE selects reservations by name; allowed on gcp: ids (reservation names)"
            if res.kind != "odcr":
                yield (
                    f"{key}.reservation.kind",
                    f"{res.kind!r} is an EC2 Capacity Block; allowed on gcp: odcr (a Compute Engine reservation)",
                )
            for j, rid in enumerate(res.ids):
                if not re.match(DNS_LABEL, rid):
                    yield (
                        f"{key}.reservation.ids[{j}]",
                        f"{rid!r} is not a Compute Engine reservation name (a lowercase DNS label)",
                    )
        if pool.zone and res.zone and pool.zone != res.zone:
            yield (
                f"{key}.reservation.zone",
                f"{res.zone!r} is not the pool's zone {pool.zone!r}: instances launch into the reservation's zone only; allowed: {pool.zone}",
            )
        if pool.max_nodes is not None and res.nodes > pool.max_nodes:
            yield (
                f"{key}.reservation.nodes",
                f"{res.nodes} exceeds maxNodes ({pool.max_nodes}); the pool could never use the whole reservation",
            )
    if cfg.cloud == "gcp":
        yield from _gke_training_pool_checks(cfg, pool, key, example)
        return
    for field, value in (("gpuDirect", pool.gpu_direct), ("placementPolicy", pool.placement_policy)):
        if value is not None:
            yield f"{key}.{field}", f"a GKE option; on cloud {cfg.cloud!r} leave it unset (aws: efa, placement)"
    if pool.efa:
        types = cfg.pool_node_types(pool)
        without = [n.name for n in types if not n.efa_interfaces]
        if without:
            model = cfg.pool_gpu(pool).key
            allowed = (
                ", ".join(n.name for n in catalog.node_types("aws", gpu=model) if n.efa_interfaces)
                or f"none ({model} has no EFA type)"
            )
            path = f"{key}.instanceTypes" if pool.instance_types else f"{key}.gpu"
            yield (
                path,
                f"efa: true, but {', '.join(without)} {'has' if len(without) == 1 else 'have'} no EFA: a pool mixing EFA and non-EFA "
                f"nodes makes NCCL fall back to TCP; allowed: {allowed}",
            )
    if (pool.efa or pool.placement) and pool.training_zone is None:
        field = "efa" if pool.efa else "placement"
        yield (
            f"{key}.zone",
            f"required with {field}: multi-node training stays in one availability zone (one subnet); e.g. {example}",
        )
    elif pool.mode == "managed" and pool.reserved and pool.training_zone is None:
        # the node group's subnets are the pool's zone's: an instance launched in another zone cannot use the
        # reservation (a Capacity Block's instances start only in its zone)
        yield (
            f"{key}.reservation.zone",
            f"required for a managed node group on a reservation: its subnets must be the reservation's zone; e.g. {example}",
        )


def _gke_training_pool_checks(cfg: PlatformConfig, pool: GpuPoolConfig, key: str, example: str) -> Iterator[Problem]:
    """GPUDirect and compact placement on GKE (cluster-toolkit v1.95.0 gke-node-pool preconditions, GKE docs)."""
    if pool.efa:
        yield f"{key}.efa", "an AWS option (Elastic Fabric Adapter); on gcp use gpuDirect (A3 Mega / A3 Ultra / A4)"
    node = cfg.pool_node_types(pool)[0]
    direct = [n.name for n in catalog.node_types("gcp") if n.gpu_direct]
    if pool.gpu_direct and not node.gpu_direct:
        yield f"{key}.gpuDirect", f"{node.name} has no GPU NICs to attach; allowed for gpuDirect: {', '.join(direct)}"
    elif node.gpu_direct and pool.gpu_direct is None and pool.purpose == "training":
        how = "GPUDirect-TCPXO" if node.gpu_direct == "tcpxo" else "GPUDirect-RDMA"
        yield (
            f"{key}.gpuDirect",
            f"required on {node.name} training pools: true attaches its {node.gpu_nics} GPU NICs ({how}: the extra VPCs, "
            "multi-networking, the NCCL plugin); without them NCCL between nodes falls back to TCP over the node's one NIC. "
            "allowed: true, or false for single-node jobs only",
        )
    if pool.gpu_direct and node.gpu_direct and pool.training_zone is None:
        yield (
            f"{key}.zone",
            f"required with gpuDirect: multi-node training stays in one zone (the RoCE network profile is zonal); e.g. {example}",
        )
    if pool.placement == "cluster":
        if pool.training_zone is None:
            yield (
                f"{key}.zone",
                f"required with placement: GKE compact placement is only available for a node pool in one zone; e.g. {example}",
            )
        if pool.capacity == "flex-start":
            yield (
                f"{key}.placement",
                "compact placement cannot be combined with flex-start's queued provisioning; allowed with flex-start: unset",
            )
    elif pool.placement_policy is not None:
        yield f"{key}.placementPolicy", "names a compact placement policy; needs placement: cluster"


def gke_gpu_direct_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """The GPUDirect VPCs are built once per cluster: one zone for every pool, and a range apart from the cluster's."""
    ns = NAMESPACE + ":"
    zones: dict[str, int] = {}
    for i, pool in enumerate(cfg.gpu_pools):
        try:
            if not (pool.gpu_direct and cfg.pool_node_types(pool)[0].gpu_direct and pool.training_zone):
                continue
        except (catalog.CatalogError, IndexError):
            continue
        zones.setdefault(str(pool.training_zone), i)
        if len(zones) > 1:
            first = next(iter(zones))
            yield (
                f"{ns}gpuPools[{i}].zone",
                f"{pool.training_zone!r}: every gpuDirect pool trains in one zone (the GPUDirect RDMA VPC's network profile is "
                f"zonal); gpuPools[{zones[first]}] uses {first!r}; allowed: {first}",
            )
            return
    if not zones:
        return
    gpu = ipaddress.ip_network(cfg.network.gpu_cidr)
    if gpu.version != 4 or gpu.prefixlen > 19:
        yield f"{ns}network.gpuCidr", f"{cfg.network.gpu_cidr}: the GPUDirect subnets need an IPv4 /19 or larger (32 subnets)"
    for field, cidr in (
        ("cidr", cfg.network.cidr),
        ("podsCidr", cfg.network.pods_cidr),
        ("servicesCidr", cfg.network.services_cidr),
        ("(the control plane's)", "172.16.0.0/28"),
    ):
        if gpu.overlaps(ipaddress.ip_network(cidr)):
            yield (
                f"{ns}network.gpuCidr",
                f"{cfg.network.gpu_cidr} overlaps network.{field} {cidr}; allowed: a range apart from the cluster's",
            )


def _instance_type_problem(cloud: str, name: str, gpu: str | None) -> str | None:
    """Why ``name`` cannot be a pool's instance type on ``cloud`` (``None``: it can)."""
    if (cloud, name) in catalog.NODE_TYPES:
        return None
    refused = catalog.UNSUPPORTED.get((cloud, name))
    if refused:
        return f"{name!r} is refused: {refused.reason}; use instead: {refused.instead}"
    allowed = ", ".join(n.name for n in catalog.node_types(cloud, gpu=gpu if gpu in catalog.GPU_MODELS else None))
    other = catalog.cloud_of(name)
    if other and other != cloud:
        kind = "an EC2 instance type" if other == "aws" else "a GCE machine type"
        return f"{name!r} is {kind} ({other}), but this stack's cloud is {cloud}; allowed: {allowed}"
    return f"{name!r} is not a {cloud} GPU node type in the catalog; allowed: {allowed}"


def _neuron_pool_checks(cfg: PlatformConfig, pool: GpuPoolConfig, key: str, gpu: catalog.GpuModel) -> Iterator[Problem]:
    """What a Trainium / Inferentia pool cannot do: NVIDIA-only features and the NVIDIA node group AMI."""
    if pool.time_slicing_replicas:
        yield (
            f"{key}.timeSlicingReplicas",
            f"time-slicing is an NVIDIA device-plugin feature; {gpu.key} is shared by requesting "
            f"{catalog.NEURONCORE_RESOURCE} ({gpu.neuron_cores} per device) instead; allowed: unset",
        )
    if pool.mode == "managed":
        yield (
            f"{key}.mode",
            f"an EKS managed node group here launches the NVIDIA AMI, which has no Neuron driver; allowed for {gpu.key}: karpenter "
            "(Karpenter picks the Neuron variant of the AMI family per instance type)",
        )
