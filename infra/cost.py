"""Monthly cost estimate of a plan: idle and at-ceiling figures, by item, by GPU pool and by team.

The arithmetic and the prices live in :mod:`catalog.cost_model` (shared with the cost policy
pack); this module feeds it the plan's resources and the stack config (lake sizes, team quotas,
pools the plan has no resource for yet). See ``docs/cost.md``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from catalog import cost_model
from catalog import gpus as gpu_catalog

if TYPE_CHECKING:
    from infra import config
    from infra.plan.model import Plan


def _round(value: float) -> float:
    return round(value, 2)


def _pool_name(name: str, known: list[str]) -> str:
    """Map a resource's pool name to a configured pool (``mlp-prod-train-h100`` -> ``train-h100``)."""
    if name in known:
        return name
    matches = [k for k in known if name.endswith(f"-{k}") or name.startswith(f"{k}-")]
    return max(matches, key=len) if matches else name


def config_pool_item(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> cost_model.CostItem:
    """A configured pool priced from config alone (no resource in the plan, or ``cloud: existing``)."""
    cloud = "gcp" if cfg.cloud == "gcp" else "aws"
    urn = f"config:gpuPools.{pool.name}"
    try:
        names = [n.name for n in cfg.pool_node_types(pool)]
    except gpu_catalog.CatalogError:
        names = []
    if cfg.cloud == "existing":
        nodes = pool.nodes_count_for_existing or 0
        return cost_model.pool_item(
            urn,
            "config:gpuPool",
            cloud=cloud,
            pool=pool.name,
            node_types=names,
            spot=False,
            min_nodes=nodes,
            max_nodes=nodes,
            gpu_limit=pool.gpu_limit,
            owned=True,
        )
    max_nodes: int | None
    gpu_limit: int | None
    if cfg.cloud == "aws" and pool.mode == "karpenter":  # Karpenter enforces the pool's GPU ceiling, not a node count
        try:
            max_nodes, gpu_limit = None, cfg.pool_gpu_ceiling(pool)
        except gpu_catalog.CatalogError:
            max_nodes, gpu_limit = pool.max_nodes, pool.gpu_limit
    else:
        max_nodes, gpu_limit = pool.max_nodes, pool.gpu_limit
    res = pool.reservation if pool.reserved else None
    return cost_model.pool_item(
        urn,
        "config:gpuPool",
        cloud=cloud,
        pool=pool.name,
        node_types=names,
        spot=pool.capacity in ("spot", "spot-with-fallback") or pool.fallback == "spot",
        min_nodes=pool.min_nodes,
        max_nodes=max_nodes,
        gpu_limit=gpu_limit,
        reserved_nodes=res.nodes if res else 0,
        reserved_usd_hour=res.hourly_usd if res else None,
        fallback=pool.capacity != "reserved",
    )


def gpu_quota_equivalents(cfg: config.PlatformConfig) -> dict[str, float]:
    """Each team's GPU quota plus its MIG slice quotas as whole-GPU equivalents.

    ``n`` slices of a profile count ``n / slices-per-GPU`` GPUs, for the GPU of the pool that
    offers the profile (``56 x 1g.5gb`` on A100-40GB = 8 GPUs).
    """
    per_gpu: dict[str, int] = {}
    for pool in cfg.gpu_pools:
        if pool.mig_profile:
            try:
                per_gpu.setdefault(pool.mig_profile, cfg.pool_gpu(pool).mig_profiles[pool.mig_profile])
            except (gpu_catalog.CatalogError, KeyError):
                continue
    out = {}
    for team in cfg.teams:
        mig = sum(n / per_gpu[p] for p, n in team.quotas.mig.items() if per_gpu.get(p))
        out[team.name] = team.quotas.gpu + mig + team.quotas.neuron  # a Neuron device counts as one accelerator
    return out


CLOUDTRAIL_DATA_EVENT_USD_MILLION = 1.00
"""CloudTrail data events delivered to a trail: USD 0.10 per 100,000 (https://aws.amazon.com/cloudtrail/pricing/)."""
GUARDDUTY_S3_USD_MILLION = 0.80
"""GuardDuty S3 Protection: USD 0.80 per million S3 data events, first 500 million a month (https://aws.amazon.com/guardduty/pricing/)."""
GUARDDUTY_RUNTIME_USD_VCPU_MONTH = 1.50
"""GuardDuty EKS Runtime Monitoring: USD 1.50 per vCPU-month, first 500 vCPUs (https://aws.amazon.com/guardduty/pricing/)."""


def audit_cost_items(cfg: config.PlatformConfig) -> list[cost_model.CostItem]:
    """The usage-priced security items (from config assumptions: volumes are unknown at plan time)."""
    if cfg.cloud != "aws":
        return []
    items = []
    events = cfg.audit.data_events_millions_per_month
    if cfg.audit_enabled:
        usd = events * CLOUDTRAIL_DATA_EVENT_USD_MILLION
        items.append(
            cost_model.CostItem(
                "config:audit/cloudtrail-data-events",
                "aws:cloudtrail/trail:Trail",
                "security",
                usd,
                usd,
                f"{events:g} M S3 data events x ${CLOUDTRAIL_DATA_EVENT_USD_MILLION:g}/M (audit.dataEventsMillionsPerMonth)",
            )
        )
    gd = cfg.security.guard_duty
    if gd.s3_protection:
        usd = events * GUARDDUTY_S3_USD_MILLION
        items.append(
            cost_model.CostItem(
                "config:guardduty/s3-protection",
                "aws:guardduty/detectorFeature:DetectorFeature",
                "security",
                usd,
                usd,
                f"{events:g} M S3 data events x ${GUARDDUTY_S3_USD_MILLION:g}/M (audit.dataEventsMillionsPerMonth)",
            )
        )
    if gd.eks_runtime_monitoring:
        nodes = cfg.cluster.system_nodes
        from infra.config.defaults import effective

        size = effective(nodes.instance_type, "cluster.systemNodes.instanceType").rsplit(".", 1)[-1]
        per_node = {"medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}.get(size, 2)
        vcpus = gd.monitored_vcpus or nodes.max_nodes * per_node
        usd = vcpus * GUARDDUTY_RUNTIME_USD_VCPU_MONTH
        items.append(
            cost_model.CostItem(
                "config:guardduty/eks-runtime-monitoring",
                "aws:guardduty/detectorFeature:DetectorFeature",
                "security",
                usd,
                usd,
                f"{vcpus} vCPUs x ${GUARDDUTY_RUNTIME_USD_VCPU_MONTH:g}/vCPU-month "
                "(security.guardDuty.monitoredVcpus; GPU nodes add theirs)",
            )
        )
    return items


def estimate_config(cfg: config.PlatformConfig, resources: list[Any]) -> dict[str, Any]:
    """The estimate for ``resources`` (records :func:`catalog.cost_model.estimate_items` accepts) under ``cfg``."""
    sizes = {} if cfg.cloud == "existing" else dict(cfg.data_lake.size_gb)
    region = cfg.region if cfg.cloud != "existing" else None
    items = cost_model.estimate_items(resources, storage_gb=sizes, region=region)
    names = [p.name for p in cfg.gpu_pools]
    items = [dataclasses.replace(i, pool=_pool_name(i.pool, names)) if i.pool else i for i in items]
    # Configured pools the plan has no resource for (and every pool of an existing cluster).
    planned = {i.pool for i in items if i.category == "gpu"}
    cloud = "gcp" if cfg.cloud == "gcp" else "aws"
    items += [
        cost_model.in_region(config_pool_item(cfg, p), cloud=cloud, region=region) for p in cfg.gpu_pools if p.name not in planned
    ]
    # Lake zones with a configured size but no bucket tagged with the zone.
    priced_zones = {i.zone for i in items if i.zone}
    copies = 2 if cfg.dr_region else 1  # a DR replica (S3) or dual-region placement (GCS) stores it twice
    items += [cost_model.lake_item(z, gb, cloud=cfg.cloud, copies=copies) for z, gb in sizes.items() if z not in priced_zones]

    items += audit_cost_items(cfg)

    idle, ceiling = cost_model.totals(items)
    by_pool: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.category != "gpu" or not item.pool:
            continue
        entry = by_pool.setdefault(
            item.pool, {"idle": 0.0, "ceiling": 0.0, "reserved": 0.0, "gpus_idle": 0, "gpus_ceiling": 0, "items": []}
        )
        entry["reserved"] += item.reserved_usd_month
        entry["idle"] += item.monthly_usd_idle
        entry["ceiling"] += item.monthly_usd_ceiling
        entry["gpus_idle"] += item.gpus_idle
        entry["gpus_ceiling"] += item.gpus_ceiling
        entry["items"].append(item)
    for pool, entry in by_pool.items():
        pool_items = entry.pop("items")
        gpu_hours = entry["gpus_ceiling"] * cost_model.HOURS_PER_MONTH
        entry.update(
            idle=_round(entry["idle"]),
            ceiling=_round(entry["ceiling"]),
            reserved=_round(entry["reserved"]),
            gpu_hours_ceiling=gpu_hours,
            usd_per_gpu_hour=round(entry["ceiling"] / gpu_hours, 4) if gpu_hours else 0.0,
            capacity="owned" if cfg.cloud == "existing" else ("spot" if any(i.spot for i in pool_items) else "on-demand"),
            node_type=pool_items[0].node_type,
            source="config" if all(i.urn.startswith("config:") for i in pool_items) else "plan",
        )
        by_pool[pool] = entry

    by_team = cost_model.allocate_to_teams(items, gpu_quota_equivalents(cfg))
    by_team = {t: {k: (_round(v) if k.startswith("monthly") else round(v, 4)) for k, v in e.items()} for t, e in by_team.items()}
    for team in cfg.teams:
        if team.budget_usd is not None:
            by_team[team.name]["budget_usd"] = team.budget_usd
    return {
        "monthly_usd": _round(ceiling),
        "monthly_usd_idle": _round(idle),
        # reserved capacity (ODCRs, Capacity Blocks, GCE reservations): already paid, inside both figures
        "monthly_usd_reserved": _round(sum(i.reserved_usd_month for i in items)),
        "currency": "USD",
        "hours_per_month": cost_model.HOURS_PER_MONTH,
        "price_date": cost_model.PRICE_DATE,
        "gpu_price_date": gpu_catalog.PRICE_DATE,
        "reference_region": dict(cost_model.REFERENCE_REGION),
        "region": region,
        "region_multiplier": gpu_catalog.region_multiplier(cloud, region) if region else 1.0,
        "by_team": by_team,
        "by_pool": by_pool,
        "by_item": [
            {
                "urn": i.urn,
                "type": i.type,
                "category": i.category,
                "monthly_usd": _round(i.monthly_usd_ceiling),
                "monthly_usd_idle": _round(i.monthly_usd_idle),
                "basis": i.basis,
                **({"pool": i.pool} if i.pool else {}),
                **({"reserved_usd_month": _round(i.reserved_usd_month)} if i.reserved_usd_month else {}),
            }
            for i in items
        ],
    }


def estimate(plan: Plan) -> dict[str, Any]:
    """Return the plan's cost estimate.

    ``monthly_usd`` (at ceiling), ``monthly_usd_idle``, ``by_team`` (``{team: {monthly_usd,
    monthly_usd_idle, ...}}`` plus ``(platform)`` and ``(unallocated GPUs)``, adding up to the totals),
    ``by_pool`` (``{pool: {idle, ceiling, gpus_idle, gpus_ceiling, ...}}``) and ``by_item``
    (``[{urn, monthly_usd, monthly_usd_idle, basis, ...}]``).
    """
    return estimate_config(plan.config, [r for r in plan.resources if r.custom])
