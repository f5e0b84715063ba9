"""MLP-COST-005: every Karpenter NodePool has limits (GPU pools: an nvidia.com/gpu limit)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from catalog import conventions as cv
from policies.common import gpu
from policies.common.base import Report, resource_policy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    pool = gpu.pool_of(args.resource_type, args.props, args.name)
    assert pool is not None
    if not pool.limit_keys:
        report(f"NodePool {pool.name!r} has no spec.limits: Karpenter may launch nodes without bound")
    elif pool.gpu and pool.gpu_ceiling is None:
        # a static NodePool may limit only nodes (Karpenter CRD rule): limits.nodes x GPUs per node bounds it
        report(f"GPU NodePool {pool.name!r} has no spec.limits[{cv.GPU_RESOURCE}] (static NodePools: spec.limits.nodes)")


POLICY = resource_policy(
    name="mlp-cost-005",
    description="Every Karpenter NodePool sets spec.limits; GPU NodePools limit nvidia.com/gpu.",
    severity=Severity.HIGH,
    types=[gpu.NODE_POOL],
    check=check,
)
