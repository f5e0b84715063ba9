"""MLP-COST-004: training pools run on spot capacity in dev and staging.

Reserved capacity is already paid: a pool running only on its reservation passes; past the
reservation (``reserved-then-*``) the same rule applies to what it falls back to.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import gpu
from policies.common.base import Report, aws_tags, environment_of, environments, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    pool = gpu.pool_of(args.resource_type, args.props, args.name)
    if pool is None or pool.purpose not in set(cfg["purposes"]):
        return
    provider = args.provider.props if args.provider is not None else None
    env = environment_of(cfg, aws_tags(args.props, provider))
    if env not in set(cfg["environments"]):
        return
    beyond = pool.fallback  # what the pool launches past its capacity reservation, if it has one
    if pool.reserved and not beyond:
        return  # reserved capacity only (ODCR, Capacity Block, GCE reservation): already paid, spot saves nothing
    if "spot" not in beyond:
        report(f"{pool.purpose} pool {pool.name!r} uses {'/'.join(pool.capacity)} capacity in {env}; allow spot")
    elif cfg["spotOnly"] and beyond != ("spot",):
        report(f"{pool.purpose} pool {pool.name!r} may fall back to on-demand in {env}; spotOnly is set")


POLICY = resource_policy(
    name="mlp-cost-004",
    description="Training node pools use spot capacity in dev and staging.",
    severity=Severity.MEDIUM,
    types=gpu.POOL_TYPES,
    check=check,
    config=schema(
        {
            "environments": environments(["dev", "staging"], "Environments where spot is required."),
            "purposes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["training"],
                "description": "Pool purposes (ml-platform.io/purpose label) that must use spot.",
            },
            "spotOnly": {"type": "boolean", "default": False, "description": "Reject spot-with-on-demand-fallback too."},
        },
        env=True,
    ),
)
