"""MLP-SEC-018: every team namespace has default-deny NetworkPolicies for ingress and egress."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common import k8s
from policies.common.base import Report, get, items, k8s_meta, of_type, plain, schema, stack_policy

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def denied_directions(policy: Any) -> set[str]:
    """Directions a NetworkPolicy denies by default: it selects every pod and has no rules for them."""
    spec = get(policy, "spec", default={})
    if plain(get(spec, "podSelector", default={})) not in ({}, {"matchLabels": {}}, {"matchExpressions": []}):
        return set()
    out = set()
    for direction in items(get(spec, "policyTypes")):
        rules = items(get(spec, str(direction).lower()))
        if not rules:
            out.add(str(direction))
    return out


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    denied: dict[str, set[str]] = {}
    for pol in of_type(args.resources, NETWORK_POLICY):
        denied.setdefault(k8s_meta(pol.props)[1], set()).update(denied_directions(pol.props))
    for ns, name in k8s.team_namespaces(args.resources, cfg["platformNamespaces"]):
        missing = [d for d in ("Ingress", "Egress") if d not in denied.get(name, set())]
        if missing:
            report(f"team namespace {name!r} has no default-deny NetworkPolicy for {' and '.join(missing)}", ns.urn)


POLICY = stack_policy(
    name="mlp-sec-018",
    description="Every team namespace denies ingress and egress by default (NetworkPolicy with an empty pod selector).",
    severity=Severity.HIGH,
    check=check,
    config=schema({"platformNamespaces": k8s.PLATFORM_NAMESPACES_PROPERTY}),
)
