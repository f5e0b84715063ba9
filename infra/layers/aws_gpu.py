"""GPU compute on AWS: Karpenter with one NodePool per ``karpenter`` pool, EKS node groups for ``managed`` pools.

Decisions visible in the plan:

* capacity: ``spot`` -> spot only, ``on-demand`` -> on-demand only, ``spot-with-fallback`` -> both
  (Karpenter launches spot first and falls back to on-demand when spot is short);
* NodePool weights prefer spot pools when a pod could land on several pools;
* disruption by purpose: training pools consolidate only when empty (running jobs are never
  evicted to save money), serving and notebooks also when under-utilized;
* Trainium / Inferentia pools: the ``aws.amazon.com/neuron`` taint and limit instead of the NVIDIA
  ones (the Neuron chart's device plugin tolerates the taint; the GPU operator's operands do not);
* limits: ``nvidia.com/gpu`` = the pool's GPU ceiling (``gpuLimit`` or ``maxNodes`` x GPUs per
  node), CPU = the most vCPUs that many GPUs can bring;
* MIG pools (``mixed`` strategy): a NodeOverlay per instance type tells Karpenter how many
  ``nvidia.com/mig-<profile>`` slices a node will offer, so pods asking for slices get nodes;
* ``minNodes``: Karpenter has no minimum - pools start at zero and grow on demand. The configured
  bounds are recorded on the NodePool as ``ml-platform.io/min-nodes`` / ``max-nodes`` annotations;
  a pool that needs a warm floor uses ``mode: managed`` (an EKS node group honours ``minNodes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from catalog import gpus as catalog
from catalog import pool_nodes
from components.aws.efa import EfaDevicePlugin, EfaDevicePluginArgs
from components.aws.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from components.aws.karpenter import Karpenter, KarpenterArgs, NodePoolSpec, capacity_types_for, cpu_limit_for
from infra import config, tagging
from infra.layers.context import CloudLayer

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation

POOL_WEIGHTS = {
    "reserved": 100,
    "reserved-then-spot": 100,
    "reserved-then-on-demand": 100,
    "spot": 90,
    "spot-with-fallback": 50,
    "on-demand": 10,
}
"""Karpenter NodePool weight per capacity setting: reservations (already paid) first, then spot pools."""

DISRUPTION: dict[str, dict[str, Any]] = {
    # running training jobs are never evicted to consolidate; nodes go once empty
    # ... nor drifted away (a new AMI or NodePool change waits until the node is empty and removed);
    # the pods' karpenter.sh/do-not-disrupt annotation (docs/gpu.md) covers other pools they land on
    "training": {
        "consolidation": "WhenEmpty",
        "consolidate_after": "10m",
        "budgets": ({"nodes": "10%"},),
        "termination_grace_period": "24h",
        "do_not_disrupt_reasons": ("Drifted", "Underutilized"),
    },
    "serving": {"consolidation": "WhenEmptyOrUnderutilized", "consolidate_after": "5m", "budgets": ({"nodes": "10%"},)},
    # notebook sessions come and go: wait before repacking, one node at a time
    "notebooks": {"consolidation": "WhenEmptyOrUnderutilized", "consolidate_after": "30m", "budgets": ({"nodes": "1"},)},
}


def pool_node_labels(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> dict[str, str]:
    """Labels on a pool's nodes (:func:`catalog.pool_nodes.node_labels`); Bottlerocket nodes keep the operator's
    device plugin and MIG manager off."""
    return pool_nodes.node_labels(
        pool=pool.name,
        purpose=pool.purpose,
        model=cfg.pool_gpu(pool),
        mig_profile=pool.mig_profile,
        device_plugin_entry=pool_nodes.device_plugin_entry(pool.name, pool.time_slicing_replicas),
        bottlerocket=pool.ami_family == "bottlerocket",
    )


def extended_capacity(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> dict[str, dict[str, int]]:
    """MIG slices per instance type under the ``mixed`` strategy (``nvidia.com/mig-<profile>``).

    Under ``single`` the slices are ``nvidia.com/gpu``, which Karpenter already knows (it counts
    whole GPUs, so it over-provisions until consolidation packs the nodes).
    """
    if not pool.mig_profile or cfg.gpu_operator.mig_strategy != "mixed":
        return {}
    per_gpu = cfg.pool_gpu(pool).mig_profiles[pool.mig_profile]
    resource = catalog.mig_resource_name(pool.mig_profile)
    return {n.name: {resource: n.gpus * per_gpu} for n in cfg.pool_node_types(pool)}


def node_pool_spec(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> NodePoolSpec:
    """The Karpenter NodePool for a ``mode: karpenter`` pool."""
    node_types = cfg.pool_node_types(pool)
    gpu_limit = cfg.pool_gpu_ceiling(pool)
    model = cfg.pool_gpu(pool)
    return NodePoolSpec(
        name=pool.name,
        instance_types=[n.name for n in node_types],
        capacity_types=capacity_types_for(pool.capacity),
        labels=pool_node_labels(cfg, pool),
        gpu_limit=gpu_limit,
        cpu_limit=cpu_limit_for(gpu_limit, [(n.gpus, n.vcpu) for n in node_types]),
        expire_after=pool.expire_after,
        ami_family=pool.ami_family,
        ami_version=pool.ami_version,
        disk_gb=pool.disk_gb,
        weight=None if pool.topology_aware else POOL_WEIGHTS[pool.capacity],
        replicas=pool.min_nodes if pool.topology_aware else None,
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        taints=[pool_nodes.taint(model)],
        accelerator_resource=model.resource,
        extended_capacity=extended_capacity(cfg, pool),
        **DISRUPTION[pool.purpose],
        **training_options(cfg, pool),
    )


def reservation_terms(pool: config.GpuPoolConfig) -> list[dict[str, Any]]:
    """``capacityReservationSelectorTerms``: one term per id (the CRD makes ``id`` exclusive), one for the tags."""
    res = pool.reservation
    if res is None:
        return []
    return [{"id": rid} for rid in res.ids] + ([{"tags": dict(res.tags)}] if res.tags else [])


def efa_interfaces(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> int:
    """EFA interfaces per node of an ``efa`` pool: the fewest any of its types takes (one EC2NodeClass serves them all)."""
    if not pool.efa:
        return 0
    return min(n.efa_interfaces for n in cfg.pool_node_types(pool))


def training_options(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> dict[str, Any]:
    """Reservation, EFA, placement and zone fields of a pool's NodePoolSpec."""
    res = pool.reservation
    return {
        "capacity_reservations": reservation_terms(pool) if pool.reserved else (),
        "reserved_nodes": res.nodes if res and pool.reserved else 0,
        "reserved_usd_hour": res.hourly_usd if res and pool.reserved else None,
        "efa_interfaces": efa_interfaces(cfg, pool),
        "placement_group": pool.placement == "cluster",
        "zone": pool.training_zone,
        "image_snapshot": pool.image_snapshot,
        "fast_image_pull": pool.fast_image_pull,
    }


def node_group_args(cfg: config.PlatformConfig, pool: config.GpuPoolConfig, foundation: AwsFoundation) -> GpuNodeGroupArgs:
    """The EKS managed node group for a ``mode: managed`` pool."""
    assert pool.max_nodes is not None  # required on aws (config check)
    subnets: Any = foundation.vpc.private_subnet_ids
    zone = pool.training_zone
    if zone is not None:  # one subnet: the pool's zone (a reservation is zonal)

        def in_zone(pairs: list[list[str]], z: str = zone) -> list[str]:
            return [sid for az, sid in pairs if az == z]  # none: aws_zones fails the plan naming the key

        subnets = pulumi.Output.all(
            *[pulumi.Output.all(s.availability_zone, s.id) for s in foundation.vpc.private_subnets]
        ).apply(in_zone)
    res = pool.reservation if pool.reserved else None
    return GpuNodeGroupArgs(
        cluster_name=foundation.cluster.name,
        subnet_ids=subnets,
        instance_types=[n.name for n in cfg.pool_node_types(pool)],
        capacity="reserved" if res else "spot" if pool.capacity == "spot" else "on-demand",
        capacity_reservation_id=res.ids[0] if res else None,
        capacity_block=bool(res and res.kind == "capacity-block"),
        reserved_nodes=res.nodes if res else 0,
        reserved_usd_hour=res.hourly_usd if res else None,
        fast_image_pull=pool.fast_image_pull,
        image_snapshot=pool.image_snapshot,
        efa_interfaces=efa_interfaces(cfg, pool),
        vpc_id=foundation.vpc.vpc_id if pool.efa else None,
        cluster_security_group_id=foundation.cluster.cluster_security_group_id if pool.efa else None,
        placement_group=pool.placement == "cluster",
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        labels=pool_node_labels(cfg, pool),
        ami_family=pool.ami_family,
        disk_gb=pool.disk_gb,
        kms_key_arn=foundation.key.arn,
        taints=[pool_nodes.GPU_TAINT],
        tags=tagging.platform_tags(cfg),
    )


def efa_instance_types(cfg: config.PlatformConfig) -> list[str]:
    """Instance types of the EFA pools (the EFA device plugin's node affinity)."""
    return sorted({n.name for p in cfg.gpu_pools if p.efa for n in cfg.pool_node_types(p)})


def build(cfg: config.PlatformConfig, foundation: AwsFoundation, layer: CloudLayer) -> None:
    cluster = getattr(foundation, "cluster", None)
    if cluster is None:  # the foundation has no cluster to put GPUs in yet
        return
    from components.aws.eks import SYSTEM_NODE_LABEL

    waits = list(getattr(cluster, "depends_on", []) or [])
    assert cfg.region is not None  # required on aws (config check)
    karpenter = Karpenter(
        "karpenter",
        KarpenterArgs(
            cluster_name=cluster.name,
            region=cfg.region,
            account_id=foundation.account_id,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            node_pools=[node_pool_spec(cfg, p) for p in cfg.gpu_pools if p.mode == "karpenter"],
            kms_key_arn=foundation.key.arn,
            tags=tagging.platform_tags(cfg),
            replicas=config.effective(cfg.cluster.controller_replicas, "cluster.controllerReplicas"),
            controller_node_selector={SYSTEM_NODE_LABEL: "system"},
            security_group_id=cluster.cluster_security_group_id,
            vpc_id=foundation.vpc.vpc_id,
            node_repair=bool(cfg.gpu_pools),
        ),
        pulumi.ResourceOptions(
            providers={"aws": foundation.provider, "kubernetes": foundation.k8s_provider}, depends_on=waits or None
        ),
    )
    if cfg.gpu_pools:
        # GPU health: the agent reports XID / NVLink / EFA faults as node conditions, which Karpenter's
        # node repair (and managed node groups' auto repair) act on - a bad GPU is replaced, not retried
        aws.eks.Addon(
            "eks-node-monitoring-agent",
            cluster_name=cluster.name,
            addon_name="eks-node-monitoring-agent",
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tagging.platform_tags(cfg),
            # a child of the Karpenter component: its node repair is the agent's main consumer
            opts=karpenter.child_opts(),
        )
    efa_types = efa_instance_types(cfg)
    if efa_types:
        EfaDevicePlugin(
            "efa-device-plugin",
            EfaDevicePluginArgs(instance_types=efa_types),
            pulumi.ResourceOptions(provider=foundation.k8s_provider, depends_on=waits or None),
        )
    for pool in cfg.gpu_pools:
        if pool.mode == "managed":
            GpuNodeGroup(
                f"gpu-{pool.name}",
                node_group_args(cfg, pool, foundation),
                pulumi.ResourceOptions(provider=foundation.provider, depends_on=waits or None),
            )
