"""MLP-COST-009: a fleet manager sends at most ``maxBurstShare`` of a team's accelerators to cloud workers."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import ReportViolation, Severity, StackValidationArgs

from catalog import conventions as cv
from policies.common.base import get, k8s_meta, plain, schema, stack_policy

MULTIKUEUE_CLUSTER = "kubernetes:kueue.x-k8s.io/v1beta2:MultiKueueCluster"
CLOUDS = ("aws", "gcp")


def team_shares(resources: list[Any]) -> dict[str, tuple[int, int]]:
    """Team -> (accelerators on cloud workers, accelerators on all workers), from the MultiKueueClusters."""
    totals: dict[str, tuple[int, int]] = {}
    for res in resources:
        if res.resource_type != MULTIKUEUE_CLUSTER:
            continue
        annotations = plain(get(res.props, "metadata", "annotations", default={})) or {}
        cloud = annotations.get(cv.FLEET_CLOUD_ANNOTATION)
        try:
            per_team = json.loads(annotations.get(cv.FLEET_TEAM_ACCELERATORS_ANNOTATION) or "{}")
        except json.JSONDecodeError:
            per_team = {}
        for team, count in per_team.items():
            burst, total = totals.get(team, (0, 0))
            totals[team] = (burst + (int(count) if cloud in CLOUDS else 0), total + int(count))
    return totals


def check(args: StackValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    shares = team_shares(args.resources)
    if not shares:
        args.not_applicable("no MultiKueueCluster: not a fleet manager")
    cap = float(cfg["maxBurstShare"])
    queues = {k8s_meta(r.props)[0]: r.urn for r in args.resources if r.resource_type.endswith(":ClusterQueue")}
    fallback = next(r.urn for r in args.resources if r.resource_type == MULTIKUEUE_CLUSTER)
    for team, (burst, total) in sorted(shares.items()):
        if total and burst / total > cap + 1e-9:
            report(
                f"team {team!r} may burst {burst} of its {total} fleet accelerators ({burst / total:.0%}) to cloud workers, "
                f"above maxBurstShare {cap:.0%}; lower its quotas on the cloud stacks or raise maxBurstShare",
                queues.get(team, fallback),
            )


POLICY = stack_policy(
    name="mlp-cost-009",
    description="A fleet manager dispatches at most maxBurstShare of each team's accelerators to cloud (AWS / GCP) workers.",
    severity=Severity.MEDIUM,
    check=check,
    config=schema(
        {
            "maxBurstShare": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": 1.0,
                "description": "Most of a team's fleet accelerators (0-1) that may be on cloud workers.",
            },
        }
    ),
)
