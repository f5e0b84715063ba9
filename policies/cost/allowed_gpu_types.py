"""MLP-COST-001: GPU node types allowed per environment (no p5 / p5e in dev by default)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import gpu
from policies.common.base import Report, aws_tags, environment_of, get, per_env, per_environment, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    provider = args.provider.props if args.provider is not None else None
    env = environment_of(cfg, aws_tags(args.props, provider))
    denied = {str(f) for f in per_env(cfg["deniedFamilies"], env) or []}
    if args.resource_type in (gpu.LAUNCH_TEMPLATE, gpu.INSTANCE):
        name = get(args.props, "instanceType")
        types, cloud, unconstrained, is_gpu = ([str(name)] if name else []), "aws", False, False
    else:
        pool = gpu.pool_of(args.resource_type, args.props, args.name)
        assert pool is not None
        types, cloud, unconstrained, is_gpu = list(pool.type_patterns), pool.cloud, pool.unconstrained, pool.gpu
    if unconstrained and is_gpu and denied:
        report(
            f"the GPU NodePool does not constrain instance types, so it may launch {', '.join(sorted(denied))} "
            f"(not allowed in {env}); add a node.kubernetes.io/instance-type requirement"
        )
    bad = sorted({t for t in types if gpu.family(cloud, t) in denied})
    if bad:
        report(f"{', '.join(bad)} not allowed in {env} (denied families: {', '.join(sorted(denied))})")


POLICY = resource_policy(
    name="mlp-cost-001",
    description="Node pools only use GPU node types allowed in the environment (no p5 / p5e / A3 in dev by default).",
    severity=Severity.HIGH,
    types=(*gpu.POOL_TYPES, gpu.LAUNCH_TEMPLATE, gpu.INSTANCE),
    check=check,
    config=schema(
        {
            "deniedFamilies": per_environment(
                {"type": "array", "items": {"type": "string"}},
                {"dev": ["p5", "p5e", "p5en", "a3-highgpu", "a3-megagpu"], "staging": [], "prod": []},
                "Instance families (AWS) or machine series (GCP) denied per environment.",
            )
        },
        env=True,
    ),
)
