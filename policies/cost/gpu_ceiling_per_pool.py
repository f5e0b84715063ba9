"""MLP-COST-002: no node pool can grow past the per-pool GPU ceiling."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from catalog import conventions as cv
from catalog import gpus as gpu_catalog
from policies.common import gpu
from policies.common.base import Report, aws_tags, environment_of, per_env, per_environment, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
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
        # the key catalog.pools read the ceiling from: nvidia.com/gpu first, else a Neuron pool's device limit
        key = (
            gpu_catalog.NEURON_RESOURCE
            if cv.GPU_RESOURCE not in pool.limit_keys and gpu_catalog.NEURON_RESOURCE in pool.limit_keys
            else cv.GPU_RESOURCE
        )
        if pool.kind != gpu.NODE_POOL:
            what = "max nodes x GPUs per node"
        elif pool.gpu_limit is None:  # a static NodePool bounded by its node limit
            what = "spec.limits.nodes x GPUs per node"
        else:
            what = f"spec.limits[{key}]"
        report(f"pool {pool.name!r} may hold {value:g} GPUs ({what}), above the {env} per-pool ceiling of {ceiling}")


POLICY = resource_policy(
    name="mlp-cost-002",
    description="Each GPU node pool's GPU ceiling stays under the environment's per-pool limit.",
    severity=Severity.HIGH,
    types=gpu.POOL_TYPES,
    check=check,
    config=schema(
        {
            "maxGpusPerPool": per_environment(
                {"type": "number"}, {"dev": 8, "staging": 32, "prod": 64}, "Most GPUs one pool may hold, per environment."
            )
        },
        env=True,
    ),
)
