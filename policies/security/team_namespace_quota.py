"""MLP-SEC-017: every team namespace has a ResourceQuota."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common import k8s
from policies.common.base import Report, k8s_meta, of_type, schema, stack_policy

QUOTA = "kubernetes:core/v1:ResourceQuota"


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    with_quota = {k8s_meta(q.props)[1] for q in of_type(args.resources, QUOTA)}
    for ns, name in k8s.team_namespaces(args.resources, cfg["platformNamespaces"]):
        if name not in with_quota:
            report(f"team namespace {name!r} has no ResourceQuota; cap its CPU, memory and GPUs", ns.urn)


POLICY = stack_policy(
    name="mlp-sec-017",
    description="Every team namespace has a ResourceQuota.",
    severity=Severity.MEDIUM,
    check=check,
    config=schema({"platformNamespaces": k8s.PLATFORM_NAMESPACES_PROPERTY}),
)
