"""Per-team AWS IAM roles, EKS access entries for the teams' humans, and budgets (issue: multi-tenancy).

Each team's IRSA role is handed to the Kubernetes layer as the annotations of its
``<team>-workloads`` service account (``layer.team_identity``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from components.aws.access_entries import GroupAccessEntries, GroupAccessEntriesArgs
from components.aws.budgets import CostBudget, CostBudgetArgs
from components.aws.irsa import IrsaRole, IrsaRoleArgs
from components.aws.serving_iam import serving_policy
from components.aws.team_iam import TeamIam, TeamIamArgs
from infra import config, tagging
from infra.layers.context import CloudLayer

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation


def groups_by_principal(cfg: config.PlatformConfig) -> dict[str, list[str]]:
    """IAM principal -> the Kubernetes groups it joins (owners / viewers of every team that lists it)."""
    out: dict[str, set[str]] = {}
    for team in cfg.teams:
        for arn in team.owner_role_arns:
            out.setdefault(arn, set()).add(team.owners)
        if team.viewers:
            for arn in team.viewer_role_arns:
                out.setdefault(arn, set()).add(team.viewers)
    return {arn: sorted(groups) for arn, groups in out.items()}


def budget_emails(cfg: config.PlatformConfig, team: config.TeamConfig | None) -> list[str]:
    """The team's address, else the platform's alert addresses."""
    if team is not None and team.email:
        return [team.email]
    return list(cfg.budget.alert_emails)


def _serving_role(cfg: config.PlatformConfig, foundation: AwsFoundation, team: config.TeamConfig) -> IrsaRole:
    """``<team>-serving``'s role: read the MLflow registry's artifacts and the team's models (KServe pulls them)."""
    from components.k8s.kserve import serving_service_account
    from components.k8s.mlflow import ARTIFACT_PREFIX

    doc = pulumi.Output.all(foundation.lake.bucket_arns["models"], foundation.key.arn).apply(
        lambda a: serving_policy(team=team.name, models_bucket_arn=a[0], registry_prefix=ARTIFACT_PREFIX, kms_key_arn=a[1])
    )
    return IrsaRole(
        f"team-{team.name}-serving",
        IrsaRoleArgs(
            **foundation.workload_identity_args(),  # IRSA or EKS Pod Identity, as the teams' own roles
            namespace=team.name,
            service_account=serving_service_account(team.name),
            policy_document=doc,
            tags=tagging.platform_tags(cfg, team=team.name, cost_center=team.cost_center),
        ),
        pulumi.ResourceOptions(provider=foundation.provider),
    )


def build(cfg: config.PlatformConfig, foundation: AwsFoundation, layer: CloudLayer) -> None:
    on_provider = pulumi.ResourceOptions(provider=foundation.provider)
    names = [t.name for t in cfg.teams]
    for team in cfg.teams:
        iam = TeamIam(
            f"team-{team.name}",
            TeamIamArgs(
                team=team.name,
                bucket_arns=dict(foundation.lake.bucket_arns),
                shared_zones=cfg.data_lake.shared_zones,
                other_teams=[n for n in names if n != team.name],
                kms_key_arn=foundation.key.arn,
                region=foundation.region,
                **foundation.workload_identity_args(),
                tags=tagging.platform_tags(cfg, team=team.name, cost_center=team.cost_center),
            ),
            on_provider,
        )
        layer.team_identity[team.name] = dict(iam.annotations)
        if cfg.serving.enabled and "models" in foundation.lake.bucket_arns:
            layer.serving_identity[team.name] = dict(_serving_role(cfg, foundation, team).annotations)
        # no per-team AWS budget: a budget filtered on the team tag never sees the team's GPU spend
        # (GPU nodes are platform resources; split cost allocation data is only in the CUR), so
        # teams[].budgetUsd is enforced from OpenCost's data instead (infra/layers/k8s_monitoring.py)
    access = groups_by_principal(cfg)
    if access:
        GroupAccessEntries(
            "team-access", GroupAccessEntriesArgs(cluster_name=foundation.cluster.name, groups_by_principal=access), on_provider
        )
    if cfg.budget.monthly_usd is not None:
        CostBudget(
            "budget-platform",
            CostBudgetArgs(
                budget_name=f"{cfg.cluster_name}-platform",
                limit_usd=cfg.budget.monthly_usd,
                emails=budget_emails(cfg, None),
            ),
            on_provider,
        )
