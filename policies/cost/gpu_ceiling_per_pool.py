"""MLP-COST-002: no node pool can grow past the per-pool GPU ceiling."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.common import gpu
from policies.common.base import aws_tags, environment_of, per_env, resource_policy, schema


def check(args: ResourceValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    pool = gpu.pool_of(args.resource_type, args.props, args.name)
    if pool is None or not pool.gpu:
        return
    provider = args.provider.props if args.provider is not None else None
    env = environment_of(cfg, aws_tags(args.props, provider))
    ceiling = per_env(cfg["maxGpusPerPool"], env)
    value = pool.gpu_ceiling
    if value is None or ceiling is None:
        return  # no GPU limit at all is mlp-cost-005's finding
    if value > ceiling:
        key = "aws.amazon.com/neuron" if "aws.amazon.com/neuron" in (pool.limits or {}) else "nvidia.com/gpu"
        what = f"spec.limits[{key}]" if pool.kind == gpu.NODE_POOL else "max nodes x GPUs per node"
        report(f"pool {pool.name!r} may hold {value:g} GPUs ({what}), above the {env} per-pool ceiling of {ceiling}")


POLICY = resource_policy(
    name="mlp-cost-002",
    description="Each GPU node pool's GPU ceiling stays under the environment's per-pool limit.",
    severity=Severity.HIGH,
    types=gpu.POOL_TYPES,
    check=check,
    config=schema(
        {
            "maxGpusPerPool": {
                "type": "object",
                "properties": {e: {"type": "number"} for e in ("dev", "staging", "prod")},
                "additionalProperties": False,
                "default": {"dev": 8, "staging": 32, "prod": 64},
                "description": "Most GPUs one pool may hold, per environment.",
            }
        },
        env=True,
    ),
)
