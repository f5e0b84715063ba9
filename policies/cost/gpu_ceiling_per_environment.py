"""MLP-COST-003: all GPU pools together stay under the environment's GPU ceiling."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common import gpu
from policies.common.base import Report, per_env, per_environment, schema, stack_environment, stack_policy


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    env = stack_environment(cfg, args.resources)
    ceiling = per_env(cfg["maxGpusPerEnvironment"], env)
    total, parts = 0.0, []
    for res in args.resources:
        pool = gpu.pool_of(res.resource_type, res.props, res.name)
        if pool is not None and pool.gpu and pool.gpu_ceiling:
            total += pool.gpu_ceiling
            parts.append(f"{pool.name}={pool.gpu_ceiling:g}")
    if ceiling is not None and total > ceiling:
        report(f"GPU pools may hold {total:g} GPUs together ({', '.join(parts)}), above the {env} ceiling of {ceiling}")


POLICY = stack_policy(
    name="mlp-cost-003",
    description="The GPU pools of an environment together stay under its GPU ceiling.",
    severity=Severity.HIGH,
    check=check,
    config=schema(
        {
            "maxGpusPerEnvironment": per_environment(
                {"type": "number"},
                {"dev": 16, "staging": 64, "prod": 256},
                "Most GPUs all pools together may hold, per environment.",
            )
        },
        env=True,
    ),
)
