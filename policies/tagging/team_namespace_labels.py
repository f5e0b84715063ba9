"""MLP-TAG-003: team namespaces carry the team and cost-center labels."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from catalog import conventions as cv
from policies.common import k8s
from policies.common.base import Report, k8s_meta, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    name, _, labels = k8s_meta(args.props)
    if not k8s.is_team_namespace(name, labels, cfg["platformNamespaces"]):
        return
    missing = [key for key in (cv.TEAM_LABEL, cv.COST_CENTER_LABEL) if not labels.get(key)]
    if missing:
        report(f"team namespace {name!r} lacks label(s) {', '.join(missing)}")


POLICY = resource_policy(
    name="mlp-tag-003",
    description=f"Team namespaces carry the {cv.TEAM_LABEL} and {cv.COST_CENTER_LABEL} labels.",
    severity=Severity.MEDIUM,
    types=[k8s.NAMESPACE],
    check=check,
    config=schema({"platformNamespaces": k8s.PLATFORM_NAMESPACES_PROPERTY}),
)
