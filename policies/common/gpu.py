"""Facts about node pools (Karpenter NodePools, EKS node groups, GKE node pools) for the cost rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog import conventions as cv
from catalog import cost_model
from catalog import gpus as catalog
from policies.common.base import as_number, get, items, plain

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
POOL_TYPES = (NODE_POOL, NODE_GROUP, GKE_NODE_POOL)
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
INSTANCE_FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"


@dataclass
class Pool:
    """What a node pool resource allows."""

    kind: str
    name: str
    purpose: str | None
    cloud: str
    instance_types: list[str] = field(default_factory=list)
    """Node types the pool may launch (empty with ``unconstrained``)."""
    unconstrained: bool = False
    """A NodePool without an instance-type / family / GPU-name requirement: it may launch anything."""
    gpu: bool = False
    capacity: list[str] = field(default_factory=list)
    """Capacity types allowed: ``spot`` and/or ``on-demand``."""
    min_nodes: int = 0
    max_nodes: int | None = None
    gpu_limit: float | None = None
    """Karpenter ``spec.limits[nvidia.com/gpu]``."""
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def gpus_per_node(self) -> int:
        known = [catalog.NODE_TYPES[(self.cloud, n)].gpus for n in self.instance_types if (self.cloud, n) in catalog.NODE_TYPES]
        return max(known, default=0)

    @property
    def gpu_ceiling(self) -> float | None:
        """Most GPUs the pool can hold: the Karpenter GPU limit, else max nodes x GPUs per node."""
        if self.kind == NODE_POOL:
            return self.gpu_limit
        if self.max_nodes is None:
            return None
        return float(self.max_nodes * self.gpus_per_node)


def family(cloud: str, name: str) -> str:
    return name.split(".")[0] if cloud == "aws" else name.rsplit("-", 1)[0]


def _requirement(reqs: list[Any], key: str) -> list[str] | None:
    for req in reqs:
        if get(req, "key") == key and get(req, "operator", default="In") == "In":
            return [str(v) for v in items(get(req, "values"))]
    return None


def _aws_types_by(pred: Any) -> list[str]:
    return [n.name for (c, _), n in catalog.NODE_TYPES.items() if c == "aws" and pred(n)]


def _gpu_taint(taints: list[Any]) -> bool:
    return any(get(t, "key") == cv.GPU_TAINT_KEY for t in taints)


def pool_of(resource_type: str, props: Mapping[str, Any], name: str) -> Pool | None:
    """The :class:`Pool` a resource describes, or ``None`` for other types."""
    if resource_type == NODE_POOL:
        template = get(props, "spec", "template", default={})
        labels = {**(plain(get(props, "metadata", "labels", default={})) or {}),
                  **(plain(get(template, "metadata", "labels", default={})) or {})}
        annotations = plain(get(props, "metadata", "annotations", default={})) or {}
        reqs = items(get(template, "spec", "requirements"))
        types = _requirement(reqs, INSTANCE_TYPE_LABEL)
        if types is None and _requirement(reqs, INSTANCE_FAMILY_LABEL) is not None:
            fams = set(_requirement(reqs, INSTANCE_FAMILY_LABEL) or [])
            types = [*_aws_types_by(lambda n: n.family in fams), *(f"{f}.*" for f in sorted(fams))]
        if types is None and _requirement(reqs, GPU_NAME_LABEL) is not None:
            gpu_names = {g.lower() for g in _requirement(reqs, GPU_NAME_LABEL) or []}
            types = _aws_types_by(lambda n: n.gpu.split("-")[0].lower() in gpu_names)
        limits = plain(get(props, "spec", "limits", default={})) or {}
        instance_types = types or []
        is_gpu = (
            _gpu_taint(items(get(template, "spec", "taints")))
            or cv.GPU_RESOURCE in limits
            or any(("aws", t) in catalog.NODE_TYPES for t in instance_types)
        )
        max_nodes = as_number(annotations.get(cost_model.MAX_NODES_ANNOTATION))
        gpu_limit = as_number(limits.get(cv.GPU_RESOURCE, limits.get(catalog.NEURON_RESOURCE)))
        static_nodes = as_number(limits.get("nodes"))
        if gpu_limit is None and get(props, "spec", "replicas") is not None and static_nodes is not None:
            # a static NodePool (spec.replicas) may limit only nodes (CRD rule): its GPU bound is that many nodes
            per_node = max((catalog.NODE_TYPES[("aws", t)].gpus for t in instance_types if ("aws", t) in catalog.NODE_TYPES), default=0)
            gpu_limit = float(static_nodes * per_node) if per_node else None
        return Pool(
            kind=resource_type,
            name=str(labels.get(cv.POOL_LABEL) or get(props, "metadata", "name", default=name)),
            purpose=labels.get(cv.PURPOSE_LABEL),
            cloud="aws",
            instance_types=instance_types,
            unconstrained=types is None,
            gpu=is_gpu,
            capacity=_requirement(reqs, CAPACITY_TYPE_LABEL) or ["on-demand"],
            min_nodes=int(as_number(annotations.get(cost_model.MIN_NODES_ANNOTATION)) or 0),
            max_nodes=int(max_nodes) if max_nodes is not None else None,
            # a Trainium / Inferentia NodePool limits its Neuron devices instead
            gpu_limit=gpu_limit,
            limits=limits,
        )
    if resource_type == NODE_GROUP:
        labels = plain(get(props, "labels", default={})) or {}
        types = [str(t) for t in items(get(props, "instanceTypes"))]
        scaling = get(props, "scalingConfig", default={})
        max_nodes = as_number(get(scaling, "maxSize"))
        return Pool(
            kind=resource_type,
            name=str(labels.get(cv.POOL_LABEL) or get(props, "nodeGroupName", default=name)),
            purpose=labels.get(cv.PURPOSE_LABEL),
            cloud="aws",
            instance_types=types,
            gpu=any(("aws", t) in catalog.NODE_TYPES for t in types) or _gpu_taint(items(get(props, "taints"))),
            capacity=["spot" if str(get(props, "capacityType", default="ON_DEMAND")).upper() == "SPOT" else "on-demand"],
            min_nodes=int(as_number(get(scaling, "minSize")) or 0),
            max_nodes=int(max_nodes) if max_nodes is not None else None,
        )
    if resource_type == GKE_NODE_POOL:
        node_config = get(props, "nodeConfig", default={})
        labels = plain(get(node_config, "labels", default={})) or {}
        machine = str(get(node_config, "machineType", default="e2-medium"))
        accelerators = items(get(node_config, "guestAccelerators"))
        autoscaling = get(props, "autoscaling", default={})
        zones = len(items(get(props, "nodeLocations"))) or 1
        if get(autoscaling, "totalMaxNodeCount") is not None or get(autoscaling, "totalMinNodeCount") is not None:
            lo, hi = as_number(get(autoscaling, "totalMinNodeCount")) or 0, as_number(get(autoscaling, "totalMaxNodeCount"))
        elif autoscaling:
            lo = (as_number(get(autoscaling, "minNodeCount")) or 0) * zones
            per_zone = as_number(get(autoscaling, "maxNodeCount"))
            hi = per_zone * zones if per_zone is not None else None
        else:
            fixed = as_number(get(props, "nodeCount")) or as_number(get(props, "initialNodeCount")) or 0
            lo = hi = fixed * zones
        spot = get(node_config, "spot") is True or get(node_config, "preemptible") is True
        return Pool(
            kind=resource_type,
            name=str(labels.get(cv.POOL_LABEL) or get(props, "name", default=name)),
            purpose=labels.get(cv.PURPOSE_LABEL),
            cloud="gcp",
            instance_types=[machine],
            gpu=("gcp", machine) in catalog.NODE_TYPES or bool(accelerators),
            capacity=["spot" if spot else "on-demand"],
            min_nodes=int(lo),
            max_nodes=int(hi) if hi is not None else None,
        )
    return None
