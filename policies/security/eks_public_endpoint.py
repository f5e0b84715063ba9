"""MLP-SEC-008: the Kubernetes API endpoint is private, or public only to listed CIDRs (never 0.0.0.0/0)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, items, resource_policy

OPEN = {"0.0.0.0/0", "::/0"}


GKE = "gcp:container/cluster:Cluster"


def _gke(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "privateClusterConfig", "enablePrivateEndpoint") is True:
        return
    networks = get(args.props, "masterAuthorizedNetworksConfig")
    cidrs = {str(get(b, "cidrBlock")) for b in items(get(networks, "cidrBlocks"))}
    if not networks:
        report(
            "the control plane has a public endpoint without master authorized networks; "
            "enable the private endpoint or list your CIDRs"
        )
    elif cidrs & OPEN:
        report(f"masterAuthorizedNetworksConfig allows {', '.join(sorted(cidrs & OPEN))}")


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type == GKE:
        _gke(args, report)
        return
    vpc = get(args.props, "vpcConfig", default={})
    public = get(vpc, "endpointPublicAccess")
    if public is False or str(public).lower() == "false":
        return
    cidrs = {str(c) for c in items(get(vpc, "publicAccessCidrs"))}
    if not cidrs:
        report(
            "the API endpoint is public with no publicAccessCidrs (AWS then allows 0.0.0.0/0); "
            "set endpoint_public_access=False or list your CIDRs"
        )
    elif cidrs & OPEN:
        report(f"publicAccessCidrs contains {', '.join(sorted(cidrs & OPEN))}: the API endpoint is open to the internet")


POLICY = resource_policy(
    name="mlp-sec-008",
    description="Kubernetes API endpoints (EKS, GKE) are private or restricted to listed CIDRs (no 0.0.0.0/0).",
    severity=Severity.HIGH,
    types=["aws:eks/cluster:Cluster", GKE],
    check=check,
)
