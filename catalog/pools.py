"""One interpreter of node pools: a resource's inputs -> a typed :class:`Pool`.

A Karpenter ``NodePool``, an EKS managed node group and a GKE node pool each say in their own
words which node types a pool may launch, on which capacity, between how many nodes. The cost
estimate (:mod:`catalog.cost_model`) prices pools and the cost policies (:mod:`policies.common.gpu`)
check them; both read them through :func:`pool_of` only, so they can no longer size the same
pool differently.

How each input is read (the reasons, from the providers' own definitions):

* Karpenter ``spec.template.spec.requirements`` are ANDed: a node must satisfy every requirement
  (Karpenter v1 ``NodePool`` CRD, ``requirements`` "are used to constrain the node's
  characteristics"; see ``../shared/upstream`` for the pinned CRD). Only the ``In`` operator narrows
  the set we can name; ``instance-type``, ``instance-family`` and ``instance-gpu-name`` are
  intersected. A family requirement also keeps ``<family>.*`` patterns (:attr:`Pool.type_patterns`)
  so families the GPU catalog does not list stay visible to the policies.
* Karpenter enforces ``spec.limits`` only; our ``ml-platform.io/min-nodes`` / ``max-nodes``
  annotations record intent (metadata or template metadata).
* Karpenter's ``reserved`` capacity type launches into the EC2NodeClass's capacity reservations
  (ODCRs, Capacity Blocks); how many instances they hold and their price are not in the NodePool,
  so the AWS GPU layer records them in the ``ml-platform.io/reserved-nodes`` / ``reserved-usd-hour``
  annotations. A static NodePool (``spec.replicas``, Karpenter v1.14 CRD) keeps that many nodes;
  ``kubectl scale`` may raise them up to ``spec.limits.nodes``, the only limit a static pool may
  set besides resources (CRD validation rule).
* EKS ``scalingConfig.minSize`` / ``maxSize``; ``capacityType`` ``SPOT`` or ``ON_DEMAND``, or
  ``CAPACITY_BLOCK``; a reserved node group (Capacity Block, or an ODCR its launch template targets)
  carries the same two keys as node-group tags.
* GKE ``autoscaling.total*NodeCount`` bound the whole pool; ``min/maxNodeCount`` apply per zone
  (``nodeLocations``); without autoscaling ``nodeCount`` (else ``initialNodeCount``) nodes run in
  each zone. ``nodeCount: 0`` means zero nodes (it is not "unset"). ``nodeConfig.spot`` /
  ``preemptible`` may arrive as booleans or as the strings ``"true"`` / ``"false"``.

Pure: standard library and :mod:`catalog` only (the policy packs' virtualenvs import it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog import conventions as cv
from catalog import gpus as gpu_catalog
from catalog.inputs import as_list, as_map, get_in, number, truthy

KARPENTER_NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
POOL_TYPES = (KARPENTER_NODEPOOL, EKS_NODE_GROUP, GKE_NODE_POOL)

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
INSTANCE_FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
RESERVED_NODES_ANNOTATION = "ml-platform.io/reserved-nodes"
"""On a Karpenter NodePool (annotation) or an EKS node group (tag): instances its capacity reservations hold
(set by the AWS GPU layer)."""
RESERVED_PRICE_ANNOTATION = "ml-platform.io/reserved-usd-hour"
"""On a Karpenter NodePool (annotation) or an EKS node group (tag): the price paid per reserved node-hour, when
not the on-demand list price."""
GKE_DEFAULT_MACHINE = "e2-medium"
"""GKE's machine type when ``nodeConfig.machineType`` is not set."""


@dataclass(frozen=True)
class Pool:
    """What a node-pool resource allows, read once for cost and policies alike."""

    kind: str
    """The resource type (one of :data:`POOL_TYPES`)."""
    name: str
    """The ``ml-platform.io/pool`` label, else the resource's own name."""
    pool_label: str | None
    """The ``ml-platform.io/pool`` label alone (``None`` on pools we did not label, e.g. system nodes)."""
    purpose: str | None
    cloud: str
    """``aws`` or ``gcp``."""
    instance_types: tuple[str, ...] = ()
    """Concrete node types the pool may launch (empty with :attr:`unconstrained`)."""
    families: tuple[str, ...] = ()
    """Instance families a Karpenter ``instance-family`` requirement allows."""
    unconstrained: bool = False
    """A NodePool without an instance-type / family / GPU-name requirement: it may launch anything."""
    gpu: bool = False
    """Carries GPUs: a catalog GPU node type, the GPU taint, a GPU limit or guest accelerators."""
    capacity: tuple[str, ...] = ("on-demand",)
    """Capacity types allowed: ``reserved``, ``spot`` and/or ``on-demand``."""
    min_nodes: int = 0
    max_nodes: int | None = None
    gpu_limit: float | None = None
    """Karpenter ``spec.limits[nvidia.com/gpu]`` (``aws.amazon.com/neuron`` on a Neuron pool)."""
    limit_keys: tuple[str, ...] = ()
    """The resources Karpenter ``spec.limits`` bounds (empty: no limits at all)."""
    replicas: int | None = None
    """A static Karpenter NodePool's ``spec.replicas`` (``None``: a dynamic pool)."""
    node_limit: int | None = None
    """Karpenter ``spec.limits.nodes``: how far a static NodePool may be scaled."""
    reserved_nodes: int = 0
    """Nodes reserved capacity holds for the pool (paid whether used or not)."""
    reserved_usd_hour: float | None = None
    """The price paid per reserved node-hour when given (a Capacity Block's); ``None``: on-demand list price."""

    @property
    def spot(self) -> bool:
        """Spot capacity allowed (with both, Karpenter and the estimate take spot first)."""
        return "spot" in self.capacity

    @property
    def reserved(self) -> bool:
        """The pool launches into capacity reservations first."""
        return "reserved" in self.capacity

    @property
    def fallback(self) -> tuple[str, ...]:
        """Capacity types used beyond the reservation (empty: the pool never grows past it)."""
        return tuple(c for c in self.capacity if c != "reserved")

    @property
    def static(self) -> bool:
        """A static Karpenter NodePool (``spec.replicas``)."""
        return self.replicas is not None

    @property
    def type_patterns(self) -> tuple[str, ...]:
        """:attr:`instance_types` plus ``<family>.*`` for each allowed family (what a policy matches families on)."""
        return (*self.instance_types, *(f"{f}.*" for f in self.families))

    @property
    def catalog_types(self) -> list[gpu_catalog.NodeType]:
        """The GPU catalog's entries for :attr:`instance_types` (types it does not list are left out)."""
        return [gpu_catalog.NODE_TYPES[(self.cloud, n)] for n in self.instance_types if (self.cloud, n) in gpu_catalog.NODE_TYPES]

    @property
    def gpus_per_node(self) -> int:
        return max((n.gpus for n in self.catalog_types), default=0)

    @property
    def gpu_ceiling(self) -> float | None:
        """Most GPUs the pool can hold: the Karpenter GPU limit, else max nodes x GPUs per node.

        A static NodePool without a GPU limit is bounded by ``spec.limits.nodes`` x GPUs per node
        (the CRD lets a static pool limit only nodes).
        """
        if self.kind == KARPENTER_NODEPOOL:
            if self.gpu_limit is None and self.static and self.node_limit is not None and self.gpus_per_node:
                return float(self.node_limit * self.gpus_per_node)
            return self.gpu_limit
        if self.max_nodes is None:
            return None
        return float(self.max_nodes * self.gpus_per_node)


def family(cloud: str, name: str) -> str:
    """The family of a node type (``p5`` of ``p5.48xlarge``, ``a2-highgpu`` of ``a2-highgpu-8g``)."""
    return name.split(".")[0] if cloud == "aws" else name.rsplit("-", 1)[0]


def _int(value: Any) -> int | None:
    num = number(value)
    return None if num is None else int(num)


def _label(key: str, *maps: Mapping[str, Any]) -> str | None:
    """``key`` from the last of ``maps`` that has it (only that key is read: other values may be unknown)."""
    found = None
    for labels in maps:
        value = labels.get(key)
        if value is not None:
            found = str(value)
    return found


def _requirement(reqs: Sequence[Any], key: str) -> list[str] | None:
    """Values of the ``In`` requirement on ``key``; ``None`` when there is none."""
    for req in reqs:
        req = as_map(req)
        if req.get("key") == key and (req.get("operator") or "In") == "In":
            return [str(v) for v in as_list(req.get("values"))]
    return None


def _gpu_taint(taints: Sequence[Any]) -> bool:
    return any(as_map(t).get("key") == cv.GPU_TAINT_KEY for t in taints)


def _aws_catalog_types(keep: Callable[[gpu_catalog.NodeType], bool]) -> list[str]:
    return [n.name for (c, _), n in gpu_catalog.NODE_TYPES.items() if c == "aws" and keep(n)]


def _gpu_short_name(node: gpu_catalog.NodeType) -> str:
    """The ``karpenter.k8s.aws/instance-gpu-name`` value of a catalog type (``a100``, ``h100``, ``l4``, ``a10g``)."""
    return node.gpu.split("-")[0].lower()


def _karpenter(inputs: Mapping[str, Any], name: str) -> Pool:
    meta = as_map(inputs.get("metadata"))
    template = as_map(get_in(inputs, "spec", "template"))
    tmeta = as_map(template.get("metadata"))
    labels = (as_map(meta.get("labels")), as_map(tmeta.get("labels")))
    annotations = (as_map(meta.get("annotations")), as_map(tmeta.get("annotations")))
    tspec = as_map(template.get("spec"))
    reqs = as_list(tspec.get("requirements"))
    types = _requirement(reqs, INSTANCE_TYPE_LABEL)
    fams = _requirement(reqs, INSTANCE_FAMILY_LABEL)
    gpu_names = _requirement(reqs, GPU_NAME_LABEL)
    if types is None and (fams is not None or gpu_names is not None):
        types = _aws_catalog_types(lambda n: True)
    if types is not None and fams is not None:
        types = [t for t in types if family("aws", t) in fams]
    if types is not None and gpu_names is not None:
        wanted = {g.lower() for g in gpu_names}
        # a type the catalog does not know may still carry a wanted GPU: kept, so policies still see it
        types = [
            t
            for t in types
            if ("aws", t) not in gpu_catalog.NODE_TYPES or _gpu_short_name(gpu_catalog.NODE_TYPES[("aws", t)]) in wanted
        ]
    limits = as_map(get_in(inputs, "spec", "limits"))
    # a Trainium / Inferentia NodePool limits its Neuron devices instead
    gpu_limit = number(limits.get(cv.GPU_RESOURCE, limits.get(gpu_catalog.NEURON_RESOURCE)))
    instance_types = tuple(types or ())
    pool_label = _label(cv.POOL_LABEL, *labels)
    capacity = tuple(_requirement(reqs, CAPACITY_TYPE_LABEL) or ["on-demand"])
    reserved_nodes = (_int(_label(RESERVED_NODES_ANNOTATION, *annotations)) or 0) if "reserved" in capacity else 0
    return Pool(
        kind=KARPENTER_NODEPOOL,
        name=str(pool_label or meta.get("name") or name),
        pool_label=pool_label,
        purpose=_label(cv.PURPOSE_LABEL, *labels),
        cloud="aws",
        instance_types=instance_types,
        families=tuple(sorted(set(fams))) if fams else (),
        unconstrained=types is None,
        gpu=(
            _gpu_taint(as_list(tspec.get("taints")))
            or cv.GPU_RESOURCE in limits
            or any(("aws", t) in gpu_catalog.NODE_TYPES for t in instance_types)
        ),
        capacity=capacity,
        min_nodes=_int(_label(cv.MIN_NODES_ANNOTATION, *annotations)) or 0,
        max_nodes=_int(_label(cv.MAX_NODES_ANNOTATION, *annotations)),
        gpu_limit=gpu_limit,
        limit_keys=tuple(str(k) for k in limits),
        replicas=_int(get_in(inputs, "spec", "replicas")),
        node_limit=_int(limits.get("nodes")),
        reserved_nodes=reserved_nodes,
        reserved_usd_hour=number(_label(RESERVED_PRICE_ANNOTATION, *annotations)) if reserved_nodes else None,
    )


def _eks_node_group(inputs: Mapping[str, Any], name: str) -> Pool:
    """An EKS managed node group. A Capacity Block group (``capacityType: CAPACITY_BLOCK``) or one tagged with
    the reservation's nodes (an ODCR the launch template targets; the AWS GPU layer writes the tags) is
    reserved capacity without fallback: a node group launches only into its one reservation."""
    labels = as_map(inputs.get("labels"))
    tags = as_map(inputs.get("tags"))
    types = tuple(str(t) for t in as_list(inputs.get("instanceTypes")))
    scaling = as_map(inputs.get("scalingConfig"))
    pool_label = _label(cv.POOL_LABEL, labels)
    capacity_type = str(inputs.get("capacityType") or "ON_DEMAND").upper()
    max_nodes = _int(scaling.get("maxSize"))
    tagged = _int(_label(RESERVED_NODES_ANNOTATION, tags)) or 0
    reserved = capacity_type == "CAPACITY_BLOCK" or tagged > 0
    reserved_nodes = (tagged or max_nodes or 0) if reserved else 0
    return Pool(
        kind=EKS_NODE_GROUP,
        name=str(pool_label or inputs.get("nodeGroupName") or name),
        pool_label=pool_label,
        purpose=_label(cv.PURPOSE_LABEL, labels),
        cloud="aws",
        instance_types=types,
        gpu=any(("aws", t) in gpu_catalog.NODE_TYPES for t in types) or _gpu_taint(as_list(inputs.get("taints"))),
        capacity=("reserved",) if reserved else ("spot",) if capacity_type == "SPOT" else ("on-demand",),
        min_nodes=_int(scaling.get("minSize")) or 0,
        max_nodes=max_nodes,
        reserved_nodes=reserved_nodes,
        reserved_usd_hour=number(_label(RESERVED_PRICE_ANNOTATION, tags)) if reserved_nodes else None,
    )


def _gke_node_pool(inputs: Mapping[str, Any], name: str) -> Pool:
    node_config = as_map(inputs.get("nodeConfig"))
    labels = as_map(node_config.get("labels"))
    machine = str(node_config.get("machineType") or GKE_DEFAULT_MACHINE)
    autoscaling = as_map(inputs.get("autoscaling"))
    zones = len(as_list(inputs.get("nodeLocations"))) or 1
    min_nodes: int
    max_nodes: int | None
    if autoscaling and (autoscaling.get("totalMinNodeCount") is not None or autoscaling.get("totalMaxNodeCount") is not None):
        min_nodes, max_nodes = _int(autoscaling.get("totalMinNodeCount")) or 0, _int(autoscaling.get("totalMaxNodeCount"))
    elif autoscaling:  # the per-zone bounds apply in each node location
        min_nodes = (_int(autoscaling.get("minNodeCount")) or 0) * zones
        per_zone = _int(autoscaling.get("maxNodeCount"))
        max_nodes = per_zone * zones if per_zone is not None else None
    else:  # a fixed size per zone: nodeCount when given (0 included), else the initial count
        fixed = _int(inputs.get("nodeCount"))
        if fixed is None:
            fixed = _int(inputs.get("initialNodeCount")) or 0
        min_nodes = max_nodes = fixed * zones
    spot = truthy(node_config.get("spot")) or truthy(node_config.get("preemptible"))
    affinity = as_map(node_config.get("reservationAffinity"))
    # a pool consuming a specific reservation runs only reserved VMs: all its nodes are reserved capacity
    specific = affinity.get("consumeReservationType") == "SPECIFIC_RESERVATION"
    capacity = ("reserved",) if specific else ("spot",) if spot else ("on-demand",)
    pool_label = _label(cv.POOL_LABEL, labels)
    return Pool(
        kind=GKE_NODE_POOL,
        name=str(pool_label or inputs.get("name") or name),
        pool_label=pool_label,
        purpose=_label(cv.PURPOSE_LABEL, labels),
        cloud="gcp",
        instance_types=(machine,),
        gpu=("gcp", machine) in gpu_catalog.NODE_TYPES or bool(as_list(node_config.get("guestAccelerators"))),
        capacity=capacity,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        reserved_nodes=(max_nodes or 0) if specific else 0,
    )


_READERS: dict[str, Callable[[Mapping[str, Any], str], Pool]] = {
    KARPENTER_NODEPOOL: _karpenter,
    EKS_NODE_GROUP: _eks_node_group,
    GKE_NODE_POOL: _gke_node_pool,
}


def pool_of(resource_type: str, inputs: Any, name: str) -> Pool | None:
    """The :class:`Pool` a resource describes, or ``None`` for a type that is not a node pool.

    :param resource_type: The Pulumi type token (``kubernetes:karpenter.sh/v1:NodePool``).
    :param inputs: The engine's camelCase inputs: a dict, a ``pulumi_policy`` proxy or a JSON string.
    :param name: The resource's name, used when no pool label or provider-side name is set.
    """
    reader = _READERS.get(resource_type)
    return reader(as_map(inputs), name) if reader else None
