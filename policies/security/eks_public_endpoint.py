"""MLP-SEC-008: the EKS API endpoint is private, or public only to listed CIDRs (never 0.0.0.0/0)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.common.base import get, items, resource_policy

OPEN = {"0.0.0.0/0", "::/0"}


def check(args: ResourceValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    vpc = get(args.props, "vpcConfig", default={})
    public = get(vpc, "endpointPublicAccess")
    if public is False or str(public).lower() == "false":
        return
    cidrs = {str(c) for c in items(get(vpc, "publicAccessCidrs"))}
    if not cidrs:
        report("the API endpoint is public with no publicAccessCidrs (AWS then allows 0.0.0.0/0); "
               "set endpoint_public_access=False or list your CIDRs")
    elif cidrs & OPEN:
        report(f"publicAccessCidrs contains {', '.join(sorted(cidrs & OPEN))}: the API endpoint is open to the internet")


POLICY = resource_policy(
    name="mlp-sec-008",
    description="EKS API endpoints are private or restricted to listed CIDRs (no 0.0.0.0/0).",
    severity=Severity.HIGH,
    types=["aws:eks/cluster:Cluster"],
    check=check,
)
