"""MLP-COST-006: GPU node pools scale to zero in dev (no minimum above zero)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import gpu
from policies.common.base import Report, aws_tags, environment_of, environments, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    pool = gpu.pool_of(args.resource_type, args.props, args.name)
    if pool is None or not pool.gpu:
        return
    provider = args.provider.props if args.provider is not None else None
    env = environment_of(cfg, aws_tags(args.props, provider))
    if env in set(cfg["environments"]) and pool.min_nodes > 0:
        report(f"GPU pool {pool.name!r} keeps {pool.min_nodes} node(s) running in {env}; set the minimum to 0")


POLICY = resource_policy(
    name="mlp-cost-006",
    description="GPU node pools have a minimum of zero nodes in dev.",
    severity=Severity.MEDIUM,
    types=gpu.POOL_TYPES,
    check=check,
    config=schema(
        {"environments": environments(["dev"], "Environments where GPU pools must scale to zero.")},
        env=True,
    ),
)
