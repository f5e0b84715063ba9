"""MLP-SEC-007: EKS control-plane audit logging is on."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, items, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    enabled = {str(t) for t in items(get(args.props, "enabledClusterLogTypes"))}
    missing = [t for t in cfg["requiredLogTypes"] if t not in enabled]
    if missing:
        report(f"enabledClusterLogTypes lacks {', '.join(missing)}")


POLICY = resource_policy(
    name="mlp-sec-007",
    description="EKS clusters ship control-plane audit logs.",
    severity=Severity.MEDIUM,
    types=["aws:eks/cluster:Cluster"],
    check=check,
    config=schema(
        {
            "requiredLogTypes": {
                "type": "array",
                "items": {"type": "string", "enum": ["api", "audit", "authenticator", "controllerManager", "scheduler"]},
                "default": ["audit", "authenticator"],
                "description": "Control-plane log types that must be enabled.",
            }
        }
    ),
)
