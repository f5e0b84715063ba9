"""MLP-TAG-004: Karpenter EC2NodeClasses tag the instances they launch (provider default tags never reach them)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import tags as tagcfg
from policies.common.base import Report, get, plain, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    tags = {str(k): str(v) for k, v in (plain(get(args.props, "spec", "tags", default={})) or {}).items()}
    found = tagcfg.problems(tags, cfg)
    if found:
        report(f"spec.tags (on every node Karpenter launches): {'; '.join(found)}")


POLICY = resource_policy(
    name="mlp-tag-004",
    description="Karpenter EC2NodeClasses put the required tags on the GPU instances they launch.",
    severity=Severity.MEDIUM,
    types=["kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"],
    check=check,
    config=schema({"requiredTags": tagcfg.REQUIRED_PROPERTY, "allowedValues": tagcfg.ALLOWED_PROPERTY}),
)
