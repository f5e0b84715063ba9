"""MLP-COST-007: every team has a budget that can fire.

Either a cloud budget filtered on its team tag / label, or (what the platform emits, because cloud
budgets cannot see a team's share of shared GPU nodes) a ``TeamSpendOverBudget`` alert rule over
chargeback data labelled with the team and its namespace, in a ``PrometheusRule``.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from catalog import conventions as cv
from policies.common import k8s
from policies.common.base import Report, get, items, k8s_meta, plain, schema, stack_policy

AWS_BUDGET = "aws:budgets/budget:Budget"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
BUDGET_ALERT = "TeamSpendOverBudget"
GCP_BUDGET = "gcp:billing/budget:Budget"


def budgeted_teams(resources: list[Any]) -> set[str]:
    """Teams some budget filters on: AWS ``TagKeyValue`` ``user:team$<team>``, GCP ``labels.team``."""
    teams: set[str] = set()
    prefix = f"user:{cv.TAG_TEAM}$"
    for res in resources:
        if res.resource_type == AWS_BUDGET:
            for flt in items(get(res.props, "costFilters")):
                if get(flt, "name") == "TagKeyValue":
                    teams.update(str(v)[len(prefix) :] for v in items(get(flt, "values")) if str(v).startswith(prefix))
        elif res.resource_type == GCP_BUDGET:
            labels = plain(get(res.props, "budgetFilter", "labels", default={})) or {}
            value = labels.get(cv.TAG_TEAM)
            teams.update(str(v) for v in items(value))
        elif res.resource_type == PROMETHEUS_RULE:
            for group in items(get(res.props, "spec", "groups")):
                for rule in items(get(group, "rules")):
                    labels = plain(get(rule, "labels", default={})) or {}
                    if get(rule, "alert") == BUDGET_ALERT and labels.get(cv.TAG_TEAM):
                        teams.add(str(labels[cv.TAG_TEAM]))
    return teams


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    clouds = {r.resource_type.split(":")[2] for r in args.resources if r.resource_type.startswith("pulumi:providers:")}
    if not clouds & {"aws", "gcp"}:
        args.not_applicable("no cloud provider in the stack: budgets live in the cloud's billing")
    covered = budgeted_teams(args.resources)
    for ns, name in k8s.team_namespaces(args.resources, cfg["platformNamespaces"]):
        team = k8s_meta(ns.props)[2].get(cv.TEAM_LABEL) or name
        if team not in covered:
            report(
                f"team {team!r} has no budget that can fire (a {BUDGET_ALERT} rule on its spend, or a cloud budget "
                f"filtered on its {cv.TAG_TEAM} tag/label); set teams[].budgetUsd with monitoring.backend inCluster",
                ns.urn,
            )


POLICY = stack_policy(
    name="mlp-cost-007",
    description="Every team has a budget that can fire (chargeback alert rule or a cloud budget on its team tag).",
    severity=Severity.MEDIUM,
    check=check,
    config=schema({"platformNamespaces": k8s.PLATFORM_NAMESPACES_PROPERTY}),
)
