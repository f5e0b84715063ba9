"""Monthly cost model: list prices of the non-GPU items and the arithmetic from planned resources to cost.

Pure data and functions (no Pulumi imports), so the offline plan (``infra/cost.py``) and the cost
policy pack (``policies/``) compute the very same figures from the very same prices.

Prices are on-demand list prices in the reference regions (AWS ``us-east-1``, GCP ``us-central1``,
Linux / PostgreSQL / Redis OSS), recorded on :data:`PRICE_DATE` from the providers' public pricing
pages listed in :data:`SOURCES`. GPU node prices and spot discounts come from :mod:`catalog.gpus`.
A month is :data:`HOURS_PER_MONTH` (730) hours. The figures are a budget estimate: data transfer,
EBS / persistent disks of nodes, load balancers, logs and metrics, backups beyond the free
allowance, support plans and discounts (savings plans, CUDs, free tiers) are not included.

The stable entry point is :func:`estimate_items`; see its docstring for the record shapes it accepts.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from catalog import conventions, pools
from catalog import gpus as gpu_catalog
from catalog.inputs import as_list as _list
from catalog.inputs import as_map as _map
from catalog.inputs import number as _number

PRICE_DATE = "2025-07-01"
"""Date the non-GPU list prices below were recorded (same reference date as :data:`catalog.gpus.PRICE_DATE`)."""

HOURS_PER_MONTH = 730
"""Hours in a billing month for every estimate (365 x 24 / 12)."""

REFERENCE_REGION = gpu_catalog.REFERENCE_REGION

SOURCES = {
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "nat": "https://aws.amazon.com/vpc/pricing/",
    "eks": "https://aws.amazon.com/eks/pricing/",
    "rds": "https://aws.amazon.com/rds/postgresql/pricing/",
    "elasticache": "https://aws.amazon.com/elasticache/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
    "secrets": "https://aws.amazon.com/secrets-manager/pricing/",
    "gke": "https://cloud.google.com/kubernetes-engine/pricing",
    "gce": "https://cloud.google.com/compute/vm-instance-pricing",
    "cloud-sql": "https://cloud.google.com/sql/pricing",
    "memorystore": "https://cloud.google.com/memorystore/docs/redis/pricing",
    "gcs": "https://cloud.google.com/storage/pricing",
    "cloud-nat": "https://cloud.google.com/nat/pricing",
    "cloud-kms": "https://cloud.google.com/kms/pricing",
}

# ---- AWS, us-east-1 -----------------------------------------------------------------------------

NAT_GATEWAY_USD_HOUR = 0.045
NAT_GATEWAY_USD_GB = 0.045
"""Per GB processed; traffic is unknown at plan time, so it is only counted when a caller passes ``nat_gb_month``."""
PUBLIC_IPV4_USD_HOUR = 0.005
"""Every public IPv4 address (an Elastic IP of a NAT gateway) since February 2024."""
INTERFACE_ENDPOINT_USD_HOUR = 0.01
"""An interface VPC endpoint, per AZ (subnet) it is placed in."""
EKS_CONTROL_PLANE_USD_HOUR = 0.10
"""Standard support; a version in extended support costs 0.60 per hour."""
KMS_KEY_USD_MONTH = 1.00
SECRET_USD_MONTH = 0.40
S3_STANDARD_USD_GB_MONTH = 0.023
"""S3 Standard, first 50 TB a month."""
RDS_STORAGE_USD_GB_MONTH = 0.115
"""gp2 / gp3 storage, Single-AZ; Multi-AZ doubles it with the instance (:data:`RDS_MULTI_AZ_FACTOR`)."""
RDS_MULTI_AZ_FACTOR = 2.0
"""A Multi-AZ DB instance bills the primary and the standby: twice the Single-AZ instance and storage."""
ELASTICACHE_VALKEY_FACTOR = 0.8
"""ElastiCache for Valkey node-hours are priced 20% below Redis OSS."""

_SIZES_VCPU = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
    "32xlarge": 128,
}


def _family(prefix: str, usd_per_large: float, sizes: Iterable[str]) -> dict[str, float]:
    """Price a family whose hourly price scales linearly with vCPUs (as EC2 / RDS / ElastiCache list them)."""
    return {f"{prefix}.{s}": round(usd_per_large * _SIZES_VCPU[s] / 2, 4) for s in sizes}


EC2_USD_HOUR: dict[str, float] = {
    **_family("m6i", 0.096, _SIZES_VCPU),
    **_family("m5", 0.096, _SIZES_VCPU),
    **_family("m7i", 0.1008, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")),
    **_family("c6i", 0.085, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")),
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
}
"""On-demand Linux EC2 prices of CPU node types (system nodes); GPU node types live in :mod:`catalog.gpus`."""

RDS_USD_HOUR: dict[str, float] = {
    "db.t3.micro": 0.018,
    "db.t3.small": 0.036,
    "db.t3.medium": 0.072,
    "db.t4g.micro": 0.016,
    "db.t4g.small": 0.032,
    "db.t4g.medium": 0.065,
    "db.t4g.large": 0.129,
    "db.t4g.xlarge": 0.258,
    "db.t4g.2xlarge": 0.517,
    **_family("db.m6g", 0.159, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
    **_family("db.r6g", 0.225, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
}
"""RDS for PostgreSQL, Single-AZ DB instance, on-demand per hour."""

ELASTICACHE_USD_HOUR: dict[str, float] = {
    "cache.t3.micro": 0.017,
    "cache.t3.small": 0.034,
    "cache.t3.medium": 0.068,
    "cache.t4g.micro": 0.016,
    "cache.t4g.small": 0.032,
    "cache.t4g.medium": 0.065,
    **_family("cache.m7g", 0.158, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
    **_family("cache.r6g", 0.206, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
    **_family("cache.r7g", 0.219, ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
}
"""ElastiCache for Redis OSS, on-demand per node-hour."""

# ---- GCP, us-central1 ---------------------------------------------------------------------------

GKE_CLUSTER_USD_HOUR = 0.10
"""GKE cluster management fee (Standard edition); the monthly free-tier credit is not deducted."""
GCS_STANDARD_USD_GB_MONTH = 0.020
"""Cloud Storage Standard, regional bucket. A dual-region bucket (``customPlacementConfig``) is
estimated as a regional copy in each of its regions, like an S3 primary plus its replica."""
CLOUD_NAT_USD_HOUR = 0.044
"""Cloud NAT gateway: 0.0014 per VM-hour capped at 32 VMs; the estimate takes the cap (an upper bound)."""
CLOUD_KMS_KEY_USD_MONTH = 0.06
"""Cloud KMS: one active software key version."""
GCE_USD_HOUR: dict[str, float] = {
    "e2-standard-2": 0.067,
    "e2-standard-4": 0.134,
    "e2-standard-8": 0.268,
    "e2-standard-16": 0.536,
    "n2-standard-2": 0.0971,
    "n2-standard-4": 0.1942,
    "n2-standard-8": 0.3885,
    "n2-standard-16": 0.7769,
}
"""On-demand GCE prices of CPU machine types (system nodes)."""
CLOUD_SQL_VCPU_USD_HOUR = 0.0413
CLOUD_SQL_RAM_USD_GB_HOUR = 0.0070
"""Cloud SQL Enterprise edition, dedicated-core (``db-custom-<vCPU>-<MB>``) instances, per vCPU and GB of RAM."""
CLOUD_SQL_SHARED_USD_HOUR = {"db-f1-micro": 0.0105, "db-g1-small": 0.035}
CLOUD_SQL_SSD_USD_GB_MONTH = 0.17
CLOUD_SQL_HDD_USD_GB_MONTH = 0.09
CLOUD_SQL_HA_FACTOR = 2.0
"""A REGIONAL (high-availability) Cloud SQL instance bills instance and storage twice."""
MEMORYSTORE_USD_GB_HOUR: dict[str, tuple[tuple[int, float], ...]] = {
    # tier -> (capacity band upper bound in GB, price per GB-hour) ascending
    "BASIC": ((4, 0.049), (10, 0.027), (35, 0.023), (100, 0.019), (10**9, 0.016)),
    "STANDARD_HA": ((4, 0.064), (10, 0.054), (35, 0.046), (100, 0.038), (10**9, 0.032)),
}
"""Memorystore for Redis per provisioned GB-hour by tier and capacity band (M1..M5)."""

# ---- resource types understood ------------------------------------------------------------------

KARPENTER_NODEPOOL = pools.KARPENTER_NODEPOOL
EKS_NODE_GROUP = pools.EKS_NODE_GROUP
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
ELASTIC_IP = "aws:ec2/eip:Eip"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
RDS_INSTANCE = "aws:rds/instance:Instance"
ELASTICACHE_REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
ELASTICACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
S3_BUCKET = "aws:s3/bucket:Bucket"
FSX_LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
FSX_LUSTRE_USD_GB_MONTH = {125: 0.145, 250: 0.210, 500: 0.290, 1000: 0.420}
"""FSx for Lustre PERSISTENT_2 SSD storage per GB-month by throughput tier (MB/s/TiB), us-east-1
list prices (FSx for Lustre pricing page; backups and data transfer not included)."""
KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
GKE_NODE_POOL = pools.GKE_NODE_POOL
GKE_CLUSTER = "gcp:container/cluster:Cluster"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
MEMORYSTORE = "gcp:redis/instance:Instance"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
CLOUD_NAT = "gcp:compute/routerNat:RouterNat"
CLOUD_KMS_KEY = "gcp:kms/cryptoKey:CryptoKey"

PRICED_TYPES = frozenset(
    {
        KARPENTER_NODEPOOL,
        EKS_NODE_GROUP,
        EKS_CLUSTER,
        NAT_GATEWAY,
        ELASTIC_IP,
        VPC_ENDPOINT,
        RDS_INSTANCE,
        ELASTICACHE_REPLICATION_GROUP,
        ELASTICACHE_CLUSTER,
        S3_BUCKET,
        FSX_LUSTRE,
        KMS_KEY,
        SECRET,
        GKE_NODE_POOL,
        GKE_CLUSTER,
        CLOUD_SQL,
        MEMORYSTORE,
        GCS_BUCKET,
        CLOUD_NAT,
        CLOUD_KMS_KEY,
    }
)
"""Resource types :func:`estimate_items` prices (others are skipped)."""

MIN_NODES_ANNOTATION = conventions.MIN_NODES_ANNOTATION
MAX_NODES_ANNOTATION = conventions.MAX_NODES_ANNOTATION
"""Annotations on a Karpenter NodePool recording the configured node bounds (Karpenter enforces neither)."""

INSTANCE_TYPE_LABEL = pools.INSTANCE_TYPE_LABEL
INSTANCE_FAMILY_LABEL = pools.INSTANCE_FAMILY_LABEL
GPU_NAME_LABEL = pools.GPU_NAME_LABEL
CAPACITY_TYPE_LABEL = pools.CAPACITY_TYPE_LABEL
RESERVED_NODES_ANNOTATION = pools.RESERVED_NODES_ANNOTATION
RESERVED_PRICE_ANNOTATION = pools.RESERVED_PRICE_ANNOTATION


@dataclass(frozen=True)
class CostItem:
    """The monthly cost of one planned resource (or one configured pool / lake zone).

    :param urn: The resource's URN; ``config:...`` for an item derived from config alone.
    :param type: The resource type (``aws:rds/instance:Instance``).
    :param category: ``gpu``, ``compute``, ``network``, ``control-plane``, ``database``, ``cache``,
        ``storage``, ``security``, or ``unknown`` (inputs a preview cannot know yet; priced 0).
    :param monthly_usd_idle: Cost at the baseline (GPU pools at their minimum nodes).
    :param monthly_usd_ceiling: Cost at the ceiling (pools at max nodes / GPU limit). Equal to idle for fixed items.
    :param basis: The arithmetic in words (prices, counts, hours), for reports.
    :param pool: GPU pool name (``ml-platform.io/pool`` label), GPU and CPU node pools only.
    :param gpus_idle: GPUs at the baseline.
    :param gpus_ceiling: GPUs at the ceiling.
    :param spot: Whether the spot price was assumed.
    :param node_type: The node type priced (the cheapest per GPU-hour of those allowed).
    :param zone: Lake zone of a bucket (``lake-zone`` tag / label).
    :param reserved_usd_month: Part of both figures that is reserved capacity (ODCR, Capacity Block,
        GCE reservation): paid whether used or not, so it is in the idle figure too.
    """

    urn: str
    type: str
    category: str
    monthly_usd_idle: float
    monthly_usd_ceiling: float
    basis: str
    pool: str | None = None
    gpus_idle: int = 0
    gpus_ceiling: int = 0
    spot: bool = False
    node_type: str | None = None
    zone: str | None = None
    reserved_usd_month: float = 0.0
    reserved_price_fixed: bool = False
    """The reservation's price was given (a Capacity Block's): no regional factor applies to it."""

    @property
    def monthly_usd(self) -> float:
        """The ceiling figure, the one totals and budgets compare."""
        return self.monthly_usd_ceiling

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["monthly_usd"] = round(self.monthly_usd_ceiling, 2)
        out["monthly_usd_idle"] = round(self.monthly_usd_idle, 2)
        out["monthly_usd_ceiling"] = round(self.monthly_usd_ceiling, 2)
        out["reserved_usd_month"] = round(self.reserved_usd_month, 2)
        return out


def totals(items: Iterable[CostItem]) -> tuple[float, float]:
    """``(idle, ceiling)`` monthly USD of ``items``."""
    idle = ceiling = 0.0
    for item in items:
        idle += item.monthly_usd_idle
        ceiling += item.monthly_usd_ceiling
    return idle, ceiling


# ---- small helpers --------------------------------------------------------------------------------


def _num(value: Any, default: float | None = None) -> float | None:
    """A number from an engine input (ints, floats, numeric strings); ``default`` for unknown / secret."""
    parsed = _number(value)
    return default if parsed is None else parsed


def _int(value: Any, default: int | None = None) -> int | None:
    num = _num(value)
    return default if num is None else int(num)


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def _fixed(urn: str, type_: str, category: str, usd_month: float, basis: str) -> CostItem:
    return CostItem(urn, type_, category, usd_month, usd_month, basis)


def _hourly(urn: str, type_: str, category: str, usd_hour: float, count: float, what: str) -> CostItem:
    monthly = usd_hour * count * HOURS_PER_MONTH
    basis = f"{count:g} x {what} ${usd_hour:g}/h x {HOURS_PER_MONTH} h"
    return _fixed(urn, type_, category, monthly, basis)


# ---- node pools ---------------------------------------------------------------------------------------


def pool_item(
    urn: str,
    type_: str,
    *,
    cloud: str,
    pool: str,
    node_types: Iterable[str],
    spot: bool,
    min_nodes: int,
    max_nodes: int | None,
    gpu_limit: int | None,
    owned: bool = False,
    note: str = "",
    reserved_nodes: int = 0,
    reserved_usd_hour: float | None = None,
    fallback: bool = True,
) -> CostItem:
    """Cost of a GPU node pool allowed to launch ``node_types`` (catalog names on ``cloud``).

    The pool is priced at its cheapest node type per GPU-hour (what Karpenter's and GKE's
    price-aware provisioning lean to), spot price when ``spot``. Idle: ``min_nodes`` nodes.
    Ceiling: the enforced bounds - ``max_nodes`` (a node group's or GKE pool's maximum) and
    ``gpu_limit`` (a Karpenter ``nvidia.com/gpu`` limit, in nodes of the priced type); the
    tighter one binds. ``owned`` hardware (``cloud: existing``) costs nothing but still reports
    its GPUs. ``note`` is appended to the basis.

    ``reserved_nodes`` are reserved capacity, already paid: ``reserved_usd_hour`` per node-hour
    (default: the on-demand list price) in both figures, whatever the pool runs; nodes beyond them
    cost the spot / on-demand price. Without ``fallback`` the pool never grows past its reservation.
    """
    known = [gpu_catalog.NODE_TYPES[(cloud, n)] for n in node_types if (cloud, n) in gpu_catalog.NODE_TYPES]
    if not known:
        names = ", ".join(node_types) or "none"
        return CostItem(
            urn, type_, "gpu", 0.0, 0.0, f"node types not in the GPU catalog ({names}): not priced", pool=pool, spot=spot
        )
    ref = min(known, key=lambda n: (n.hourly_usd(spot=spot) / n.gpus, n.hourly_usd(spot=spot), n.name))
    if max_nodes is not None and gpu_limit is not None:
        ceiling_nodes = min(max_nodes, math.ceil(gpu_limit / ref.gpus))
    elif gpu_limit is not None:
        ceiling_nodes = math.ceil(gpu_limit / ref.gpus)
    elif max_nodes is not None:
        ceiling_nodes = max_nodes
    else:
        ceiling_nodes = min_nodes  # no ceiling configured: nothing above the baseline can be promised
    ceiling_nodes = max(ceiling_nodes, min_nodes)
    gpus_idle = min_nodes * ref.gpus
    gpus_ceiling = ceiling_nodes * ref.gpus
    if gpu_limit is not None:
        gpus_ceiling = max(min(gpus_ceiling, gpu_limit), gpus_idle)
    price = 0.0 if owned else ref.hourly_usd(spot=spot)
    capacity = "spot" if spot else "on-demand"
    if reserved_nodes and not owned:
        if not fallback:
            ceiling_nodes = max(min(ceiling_nodes, reserved_nodes), min_nodes)
            gpus_ceiling = (
                ceiling_nodes * ref.gpus if gpu_limit is None else max(min(ceiling_nodes * ref.gpus, gpu_limit), gpus_idle)
            )
        paid = reserved_usd_hour if reserved_usd_hour is not None else ref.hourly_usd(spot=False)
        fixed = paid * reserved_nodes * HOURS_PER_MONTH
        over_idle, over_ceiling = max(min_nodes - reserved_nodes, 0), max(ceiling_nodes - reserved_nodes, 0)
        basis = (
            f"{ref.name} reserved {_nodes(reserved_nodes)} x ${paid:.4f}/h x {HOURS_PER_MONTH} h (already paid); "
            + (f"beyond it {capacity} ${price:.4f}/h, " if fallback else "no fallback, ")
            + f"idle {_nodes(min_nodes)}, ceiling {_nodes(ceiling_nodes)} ({gpus_ceiling} GPUs)"
        )
        if note:
            basis += f"; {note}"
        return CostItem(
            urn,
            type_,
            "gpu",
            fixed + price * over_idle * HOURS_PER_MONTH,
            fixed + price * over_ceiling * HOURS_PER_MONTH,
            basis,
            pool=pool,
            gpus_idle=max(gpus_idle, min(reserved_nodes, ceiling_nodes) * ref.gpus),
            gpus_ceiling=gpus_ceiling,
            spot=spot and fallback,
            node_type=ref.name,
            reserved_usd_month=fixed,
            reserved_price_fixed=reserved_usd_hour is not None,
        )
    if owned:
        basis = f"owned {ref.gpu} nodes ({ceiling_nodes} x {ref.gpus} GPUs, {gpus_ceiling * HOURS_PER_MONTH} GPU-h/month): no cloud bill"
    else:
        basis = (
            f"{ref.name} {capacity} ${price:.4f}/h x {HOURS_PER_MONTH} h; idle {_nodes(min_nodes)}, "
            f"ceiling {_nodes(ceiling_nodes)} ({gpus_ceiling} GPUs)"
        )
    if note:
        basis += f"; {note}"
    return CostItem(
        urn,
        type_,
        "gpu",
        price * min_nodes * HOURS_PER_MONTH,
        price * ceiling_nodes * HOURS_PER_MONTH,
        basis,
        pool=pool,
        gpus_idle=gpus_idle,
        gpus_ceiling=gpus_ceiling,
        spot=spot and not owned,
        node_type=ref.name,
    )


def _cpu_pool_item(
    urn: str,
    type_: str,
    *,
    table: Mapping[str, float],
    pool: str | None,
    names: list[str],
    spot: bool,
    min_nodes: int,
    max_nodes: int | None,
) -> CostItem:
    priced = sorted((table[n], n) for n in names if n in table)
    if not priced:
        return CostItem(
            urn,
            type_,
            "compute",
            0.0,
            0.0,
            f"node types {', '.join(names) or 'none'} not in the price list: not priced",
            pool=pool,
        )
    price, name = priced[0]
    ceiling = max(max_nodes if max_nodes is not None else min_nodes, min_nodes)
    note = " (on-demand price; spot not modelled for CPU nodes)" if spot else ""
    basis = f"{name} ${price:g}/h x {HOURS_PER_MONTH} h; idle {_nodes(min_nodes)}, ceiling {_nodes(ceiling)}{note}"
    return CostItem(
        urn,
        type_,
        "compute",
        price * min_nodes * HOURS_PER_MONTH,
        price * ceiling * HOURS_PER_MONTH,
        basis,
        pool=pool,
        node_type=name,
    )


def _reserved(pool: pools.Pool) -> dict[str, Any]:
    """:func:`pool_item`'s reservation arguments for ``pool``."""
    return {
        "reserved_nodes": pool.reserved_nodes,
        "reserved_usd_hour": pool.reserved_usd_hour,
        "fallback": bool(pool.fallback),
    }


def _karpenter(urn: str, type_: str, pool: pools.Pool) -> CostItem:
    names = list(pool.instance_types)
    gpu_limit = int(pool.gpu_limit) if pool.gpu_limit is not None else None
    min_nodes, max_nodes = pool.min_nodes, pool.max_nodes
    spot = pool.spot  # spot-with-fallback lists both: the estimate assumes spot
    if names and not pool.catalog_types:
        return _cpu_pool_item(
            urn, type_, table=EC2_USD_HOUR, pool=pool.name, names=names, spot=spot, min_nodes=min_nodes, max_nodes=max_nodes
        )
    price = functools.partial(pool_item, urn, type_, cloud="aws", pool=pool.name, node_types=names, spot=spot, **_reserved(pool))
    # Karpenter enforces spec.limits only: the max-nodes annotation records intent, the GPU limit binds.
    replicas = pool.replicas
    if replicas is not None:  # a static NodePool keeps its replicas running; kubectl scale may raise them to limits.nodes
        ceiling = pool.node_limit or replicas
        note = f"static NodePool: {_nodes(replicas)} always running, up to limits.nodes {ceiling} when scaled"
        return price(min_nodes=replicas, max_nodes=ceiling, gpu_limit=None, note=note)
    if gpu_limit is None:
        bound = "the max-nodes annotation" if max_nodes is not None else "the baseline (no max-nodes annotation either)"
        return price(
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            gpu_limit=None,
            note=f"no nvidia.com/gpu limit: Karpenter is unbounded, priced at {bound}",
        )
    item = price(min_nodes=min_nodes, max_nodes=None, gpu_limit=gpu_limit)
    if (
        max_nodes is None
        or not item.node_type
        or item.gpus_ceiling <= max_nodes * gpu_catalog.node_type("aws", item.node_type).gpus
    ):
        return item
    note = f"the GPU limit {gpu_limit} binds, not the max-nodes annotation ({max_nodes}), which Karpenter does not enforce"
    return price(min_nodes=min_nodes, max_nodes=None, gpu_limit=gpu_limit, note=note)


def _managed_pool(urn: str, type_: str, pool: pools.Pool) -> CostItem:
    """An EKS node group or a GKE node pool: a GPU pool when it may launch a catalog GPU type, else CPU nodes.

    A GKE pool consuming a specific reservation is reserved capacity for all its nodes, without fallback.
    """
    names = list(pool.instance_types)
    if pool.catalog_types:
        return pool_item(
            urn,
            type_,
            cloud=pool.cloud,
            pool=pool.name,
            node_types=names,
            spot=pool.spot,
            min_nodes=pool.min_nodes,
            max_nodes=pool.max_nodes,
            gpu_limit=None,
            **_reserved(pool),
        )
    table = GCE_USD_HOUR if pool.cloud == "gcp" else EC2_USD_HOUR
    return _cpu_pool_item(
        urn,
        type_,
        table=table,
        pool=pool.pool_label,
        names=names,
        spot=pool.spot,
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
    )


# ---- managed stores ---------------------------------------------------------------------------------


def _rds(urn: str, type_: str, inputs: Mapping[str, Any]) -> CostItem:
    cls = str(inputs.get("instanceClass") or "")
    storage = _num(inputs.get("allocatedStorage"), 20.0) or 0.0
    multi = bool(inputs.get("multiAz"))
    factor = RDS_MULTI_AZ_FACTOR if multi else 1.0
    hourly = RDS_USD_HOUR.get(cls)
    if hourly is None:
        return _fixed(
            urn,
            type_,
            "database",
            storage * RDS_STORAGE_USD_GB_MONTH * factor,
            f"instance class {cls!r} not in the price list; storage only",
        )
    monthly = (hourly * HOURS_PER_MONTH + storage * RDS_STORAGE_USD_GB_MONTH) * factor
    az = "Multi-AZ x2" if multi else "Single-AZ"
    return _fixed(
        urn,
        type_,
        "database",
        monthly,
        f"{cls} ${hourly:g}/h x {HOURS_PER_MONTH} h + {storage:g} GB x ${RDS_STORAGE_USD_GB_MONTH}/GB-month, {az}",
    )


def _elasticache(urn: str, type_: str, inputs: Mapping[str, Any]) -> CostItem:
    node = str(inputs.get("nodeType") or "")
    if type_ == ELASTICACHE_CLUSTER:
        nodes = _int(inputs.get("numCacheNodes"), 1) or 1
    elif inputs.get("numCacheClusters") is not None:
        nodes = _int(inputs.get("numCacheClusters"), 1) or 1
    else:
        groups = _int(inputs.get("numNodeGroups"), 1) or 1
        nodes = groups * ((_int(inputs.get("replicasPerNodeGroup"), 0) or 0) + 1)
    hourly = ELASTICACHE_USD_HOUR.get(node)
    if hourly is None:
        return _fixed(urn, type_, "cache", 0.0, f"node type {node!r} not in the price list: not priced")
    what = node
    if str(inputs.get("engine") or "").lower() == "valkey":
        hourly *= ELASTICACHE_VALKEY_FACTOR
        what += " (valkey)"
    return _hourly(urn, type_, "cache", hourly, nodes, what)


def _cloud_sql(urn: str, type_: str, inputs: Mapping[str, Any]) -> CostItem:
    settings = _map(inputs.get("settings"))
    tier = str(settings.get("tier") or "")
    ha = str(settings.get("availabilityType") or "ZONAL").upper() == "REGIONAL"
    disk = _num(settings.get("diskSize"), 10.0) or 0.0
    disk_price = (
        CLOUD_SQL_HDD_USD_GB_MONTH
        if str(settings.get("diskType") or "PD_SSD").upper() == "PD_HDD"
        else CLOUD_SQL_SSD_USD_GB_MONTH
    )
    factor = CLOUD_SQL_HA_FACTOR if ha else 1.0
    match = re.match(r"^db-custom-(\d+)-(\d+)$", tier)
    if match:
        vcpu, mb = int(match.group(1)), int(match.group(2))
        hourly = vcpu * CLOUD_SQL_VCPU_USD_HOUR + mb / 1024 * CLOUD_SQL_RAM_USD_GB_HOUR
        what = f"{tier} ({vcpu} vCPU x ${CLOUD_SQL_VCPU_USD_HOUR} + {mb / 1024:g} GB x ${CLOUD_SQL_RAM_USD_GB_HOUR})"
    elif tier in CLOUD_SQL_SHARED_USD_HOUR:
        hourly = CLOUD_SQL_SHARED_USD_HOUR[tier]
        what = f"{tier} ${hourly:g}/h"
    else:
        return _fixed(urn, type_, "database", disk * disk_price * factor, f"tier {tier!r} not in the price list; storage only")
    monthly = (hourly * HOURS_PER_MONTH + disk * disk_price) * factor
    return _fixed(
        urn,
        type_,
        "database",
        monthly,
        f"{what} x {HOURS_PER_MONTH} h + {disk:g} GB x ${disk_price}/GB-month{', REGIONAL x2' if ha else ''}",
    )


def memorystore_usd_gb_hour(tier: str, size_gb: float) -> float:
    """Memorystore for Redis price per GB-hour for an instance of ``size_gb`` in ``tier``."""
    bands = MEMORYSTORE_USD_GB_HOUR.get(tier.upper(), MEMORYSTORE_USD_GB_HOUR["BASIC"])
    return next(price for upper, price in bands if size_gb <= upper)


def _memorystore(urn: str, type_: str, inputs: Mapping[str, Any]) -> CostItem:
    tier = str(inputs.get("tier") or "BASIC").upper()
    size = _num(inputs.get("memorySizeGb"), 1.0) or 1.0
    rate = memorystore_usd_gb_hour(tier, size)
    return _fixed(urn, type_, "cache", rate * size * HOURS_PER_MONTH, f"{tier} {size:g} GB x ${rate}/GB-h x {HOURS_PER_MONTH} h")


# ---- storage -----------------------------------------------------------------------------------------


def _bucket(urn: str, type_: str, inputs: Mapping[str, Any], storage_gb: Mapping[str, float]) -> CostItem | None:
    tags = inputs.get("tags") if type_ == S3_BUCKET else inputs.get("labels")
    tags = tags if isinstance(tags, Mapping) else {}
    zone = tags.get(conventions.TAG_LAKE_ZONE)
    role = tags.get(conventions.TAG_LAKE_ROLE, "primary")
    if not zone or zone not in storage_gb or role == "logs":
        return None
    size = float(storage_gb[zone])
    price = S3_STANDARD_USD_GB_MONTH if type_ == S3_BUCKET else GCS_STANDARD_USD_GB_MONTH
    copies = len(_list(_map(inputs.get("customPlacementConfig")).get("dataLocations"))) if type_ == GCS_BUCKET else 0
    where = f" x {copies} regions (dual-region)" if copies > 1 else ""
    copies = max(copies, 1)
    basis = f"lake zone {zone} ({role}): {size:g} GB x ${price}/GB-month (Standard class){where}"
    return CostItem(urn, type_, "storage", size * price * copies, size * price * copies, basis, zone=str(zone))


def lake_item(zone: str, size_gb: float, *, cloud: str, copies: int = 1) -> CostItem:
    """A lake zone priced from its configured size when the plan has no bucket tagged with the zone.

    ``copies``: 2 when a DR replica (S3) or a dual-region placement (GCS) stores the data twice.
    """
    price = GCS_STANDARD_USD_GB_MONTH if cloud == "gcp" else S3_STANDARD_USD_GB_MONTH
    type_ = GCS_BUCKET if cloud == "gcp" else S3_BUCKET
    monthly = size_gb * price * copies
    twice = f" x {copies} copies (DR)" if copies > 1 else ""
    basis = f"lake zone {zone} (from config, no bucket in the plan): {size_gb:g} GB x ${price}/GB-month{twice}"
    return CostItem(f"config:dataLake.sizeGb.{zone}", type_, "storage", monthly, monthly, basis, zone=zone)


# ---- the entry point -----------------------------------------------------------------------------------


def _record(res: Any) -> tuple[str, str, Mapping[str, Any]]:
    if hasattr(res, "resource_type") and hasattr(res, "props"):  # pulumi_policy.PolicyResource
        return str(res.urn), str(res.resource_type), _map(res.props)
    if hasattr(res, "type") and hasattr(res, "inputs"):  # infra.plan RecordedResource
        return str(res.urn), str(res.type), _map(res.inputs)
    urn, type_, inputs = res
    return str(urn), str(type_), _map(inputs)


def in_region(item: CostItem, *, cloud: str, region: str | None) -> CostItem:
    """``item`` priced in ``region``: GPU and CPU node items scaled by :func:`catalog.gpus.region_multiplier`.

    Managed services, storage, network and control-plane items keep their reference-region price
    (their regional differences are small next to compute; ``docs/cost.md``). A region the
    multiplier table lacks keeps the reference price and says so in the basis.
    """
    if item.category not in ("gpu", "compute") or not region or region == REFERENCE_REGION.get(cloud):
        return item
    if not gpu_catalog.region_priced(cloud, region):
        return replace(
            item, basis=f"{item.basis}; {region} not in the regional price table: {REFERENCE_REGION.get(cloud)} prices"
        )
    factor = gpu_catalog.region_multiplier(cloud, region)
    reserved = item.reserved_usd_month
    new_reserved = reserved if item.reserved_price_fixed else reserved * factor
    return replace(
        item,
        monthly_usd_idle=(item.monthly_usd_idle - reserved) * factor + new_reserved,
        monthly_usd_ceiling=(item.monthly_usd_ceiling - reserved) * factor + new_reserved,
        reserved_usd_month=new_reserved,
        basis=f"{item.basis}; x {factor:g} for {region} (regional price factor"
        + ("; not on the reservation's given price)" if reserved and item.reserved_price_fixed else ")"),
    )


def _cloud_of_type(type_: str) -> str | None:
    head = type_.split(":", 1)[0]
    return head if head in ("aws", "gcp") else ("aws" if type_ == KARPENTER_NODEPOOL else None)


def estimate_items(
    resources: Iterable[Any],
    *,
    storage_gb: Mapping[str, float] | None = None,
    nat_gb_month: float = 0.0,
    region: str | None = None,
) -> list[CostItem]:
    """Monthly cost items of the priced resources among ``resources`` (others are skipped).

    Stable contract, shared by ``infra/cost.py`` and the cost policy pack.

    :param resources: ``(urn, type, inputs)`` triples with the engine's camelCase inputs; objects
        with ``urn``/``type``/``inputs`` (plan ``RecordedResource``) or ``urn``/``resource_type``/``props``
        (``pulumi_policy.PolicyResource``) are accepted as they are.
    :param storage_gb: Lake zone -> stored GB (``dataLake.sizeGb``); buckets tagged with that
        ``lake-zone`` (primary and DR replica) are priced at it. Without it buckets cost nothing.
    :param nat_gb_month: GB each NAT gateway processes a month (default 0: traffic is unknown).
    :param region: The stack's region; GPU and CPU nodes are priced there (:func:`in_region`).
        Default: the reference regions.
    :returns: One :class:`CostItem` per priced resource, in input order.
    """
    storage_gb = storage_gb or {}
    items: list[CostItem] = []
    for res in resources:
        urn, type_, inputs = _record(res)
        try:
            item = _price(urn, type_, inputs, storage_gb, nat_gb_month)
        except Exception as exc:
            # pulumi_policy raises UnknownValueError when a rule reads a value a preview cannot know yet
            if type(exc).__name__ != "UnknownValueError":
                raise
            item = (
                _fixed(urn, type_, "unknown", 0.0, f"not priced: {getattr(exc, 'message', exc)}")
                if type_ in PRICED_TYPES
                else None
            )
        if item is not None:
            cloud = _cloud_of_type(type_)
            items.append(in_region(item, cloud=cloud, region=region) if cloud else item)
    return _fold_fallback_twins(items)


def _price(
    urn: str, type_: str, inputs: Mapping[str, Any], storage_gb: Mapping[str, float], nat_gb_month: float
) -> CostItem | None:
    item: CostItem | None = None
    pool = pools.pool_of(type_, inputs, urn.rsplit("::", 1)[-1])
    if pool is not None and type_ == KARPENTER_NODEPOOL:
        item = _karpenter(urn, type_, pool)
    elif pool is not None:
        item = _managed_pool(urn, type_, pool)
    elif type_ == NAT_GATEWAY:
        monthly = NAT_GATEWAY_USD_HOUR * HOURS_PER_MONTH + NAT_GATEWAY_USD_GB * nat_gb_month
        item = _fixed(
            urn,
            type_,
            "network",
            monthly,
            f"${NAT_GATEWAY_USD_HOUR}/h x {HOURS_PER_MONTH} h + {nat_gb_month:g} GB x ${NAT_GATEWAY_USD_GB}/GB processed",
        )
    elif type_ == ELASTIC_IP:
        item = _hourly(urn, type_, "network", PUBLIC_IPV4_USD_HOUR, 1, "public IPv4")
    elif type_ == VPC_ENDPOINT and str(inputs.get("vpcEndpointType") or "Gateway") == "Interface":
        azs = len(_list(inputs.get("subnetIds"))) or 1
        item = _hourly(urn, type_, "network", INTERFACE_ENDPOINT_USD_HOUR, azs, "interface endpoint AZ")
    elif type_ == CLOUD_NAT:
        item = _hourly(urn, type_, "network", CLOUD_NAT_USD_HOUR, 1, "Cloud NAT gateway (32+ VM cap)")
    elif type_ == EKS_CLUSTER:
        item = _hourly(urn, type_, "control-plane", EKS_CONTROL_PLANE_USD_HOUR, 1, "EKS control plane")
    elif type_ == GKE_CLUSTER:
        item = _hourly(urn, type_, "control-plane", GKE_CLUSTER_USD_HOUR, 1, "GKE cluster fee")
    elif type_ == RDS_INSTANCE:
        item = _rds(urn, type_, inputs)
    elif type_ in (ELASTICACHE_REPLICATION_GROUP, ELASTICACHE_CLUSTER):
        if type_ == ELASTICACHE_REPLICATION_GROUP or not inputs.get("replicationGroupId"):
            item = _elasticache(urn, type_, inputs)
    elif type_ == CLOUD_SQL:
        item = _cloud_sql(urn, type_, inputs)
    elif type_ == MEMORYSTORE:
        item = _memorystore(urn, type_, inputs)
    elif type_ in (S3_BUCKET, GCS_BUCKET):
        item = _bucket(urn, type_, inputs, storage_gb)
    elif type_ == FSX_LUSTRE:
        gb = _num(inputs.get("storageCapacity"), 0.0) or 0.0
        tier = _int(inputs.get("perUnitStorageThroughput"), 125) or 125
        price = FSX_LUSTRE_USD_GB_MONTH.get(tier, FSX_LUSTRE_USD_GB_MONTH[125])
        item = _fixed(
            urn, type_, "storage", gb * price, f"FSx for Lustre PERSISTENT_2 {gb:g} GB x ${price}/GB-month ({tier} MB/s/TiB)"
        )
    elif type_ == KMS_KEY:
        item = _fixed(urn, type_, "security", KMS_KEY_USD_MONTH, f"KMS key ${KMS_KEY_USD_MONTH}/month")
    elif type_ == CLOUD_KMS_KEY:
        item = _fixed(urn, type_, "security", CLOUD_KMS_KEY_USD_MONTH, f"Cloud KMS key version ${CLOUD_KMS_KEY_USD_MONTH}/month")
    elif type_ == SECRET:
        item = _fixed(urn, type_, "security", SECRET_USD_MONTH, f"secret ${SECRET_USD_MONTH}/month")
    return item


def _fold_fallback_twins(items: list[CostItem]) -> list[CostItem]:
    """Price a ``spot-with-fallback`` pool built as a spot node pool plus an on-demand twin (GKE) at spot.

    Both carry the same pool label. The twin keeps its idle figure (its minimum is enforced) but
    adds nothing at ceiling: the estimate assumes spot capacity is there; the basis states what
    the twin would add at on-demand prices.
    """
    spot_pools = {i.pool for i in items if i.category == "gpu" and i.pool and i.spot}
    out = []
    for item in items:
        if (
            item.category == "gpu"
            and item.pool in spot_pools
            and not item.spot
            and item.monthly_usd_ceiling > item.monthly_usd_idle
        ):
            extra = item.monthly_usd_ceiling - item.monthly_usd_idle
            item = replace(
                item,
                monthly_usd_ceiling=item.monthly_usd_idle,
                gpus_ceiling=item.gpus_idle,
                basis=f"{item.basis}; on-demand fallback of spot pool {item.pool}: the estimate assumes spot capacity "
                f"(at its ceiling this twin would add ${extra:,.0f}/month)",
            )
        out.append(item)
    return out


# ---- allocation to teams ------------------------------------------------------------------------------

PLATFORM_KEY = "(platform)"
"""``by_team`` entry holding the shared platform overhead (everything but GPU pools)."""
UNALLOCATED_KEY = "(unallocated GPUs)"
"""``by_team`` entry holding GPU capacity no team quota covers."""


def allocate_to_teams(items: Iterable[CostItem], gpu_quotas: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Split the estimate by team; the entries add up to the totals of ``items``.

    A team is charged its GPU quota (GPU equivalents, see ``docs/cost.md``) at the pools' average
    price per GPU-hour at ceiling. When the quotas add up to more than the pools' GPU ceiling
    (``gpuOvercommit``), every quota is scaled down in proportion, since at most the ceiling can
    run. Idle GPU cost is shared in the same proportions. GPU capacity no quota covers goes to
    :data:`UNALLOCATED_KEY`; everything that is not a GPU pool (network, control plane, system nodes,
    databases, caches, storage, keys) is platform overhead under :data:`PLATFORM_KEY`, not spread
    over teams.
    """
    items = list(items)
    gpu_items = [i for i in items if i.category == "gpu"]
    other = [i for i in items if i.category != "gpu"]
    gpu_idle, gpu_ceiling = totals(gpu_items)
    ceiling_gpus = sum(i.gpus_ceiling for i in gpu_items)
    wanted = sum(max(q, 0.0) for q in gpu_quotas.values())
    scale = min(1.0, ceiling_gpus / wanted) if wanted else 0.0
    rate = gpu_ceiling / (ceiling_gpus * HOURS_PER_MONTH) if ceiling_gpus else 0.0
    out: dict[str, dict[str, float]] = {}
    for team, quota in gpu_quotas.items():
        gpus = max(quota, 0.0) * scale
        share = gpus / ceiling_gpus if ceiling_gpus else 0.0
        out[team] = {
            "monthly_usd": gpus * rate * HOURS_PER_MONTH,
            "monthly_usd_idle": gpu_idle * share,
            "gpu_quota": float(quota),
            "gpus_allocated": gpus,
            "usd_per_gpu_hour": rate,
        }
    allocated = sum(v["gpus_allocated"] for v in out.values())
    rest = (ceiling_gpus - allocated) / ceiling_gpus if ceiling_gpus else 0.0
    out[UNALLOCATED_KEY] = {
        "monthly_usd": gpu_ceiling * rest,
        "monthly_usd_idle": gpu_idle * rest,
        "gpus_allocated": ceiling_gpus - allocated,
    }
    other_idle, other_ceiling = totals(other)
    out[PLATFORM_KEY] = {"monthly_usd": other_ceiling, "monthly_usd_idle": other_idle}
    return out
