"""Per-team Google identities on GCP (issue: multi-tenancy).

Each team gets a Google service account that only its ``<team>/<team>-workloads`` Kubernetes service
account may act as (Workload Identity), with read/write under ``teams/<team>/`` of every lake bucket
and read-only on the shared zones except the other teams' prefixes. Its annotations go to the
Kubernetes layer as ``layer.team_identity``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.gcp.team_iam import BucketGrant, WorkloadIdentity, WorkloadIdentityArgs, account_id
from components.k8s.kserve import serving_service_account
from components.k8s.mlflow import ARTIFACT_PREFIX
from infra import config
from infra.layers.context import CloudLayer
from infra.layers.gcp_foundation import GcpFoundation

TEAMS_ROOT = "teams/"
"""Where the teams' prefixes live; not readable through a shared zone's read-only grant."""
TEAM_PREFIX = TEAMS_ROOT + "{team}/"
"""Where a team's objects live in every lake bucket."""
MLFLOW_PREFIX = ARTIFACT_PREFIX + "/"
"""The MLflow registry's artifacts in the models bucket."""


def team_service_account(team: str) -> str:
    """The Kubernetes service account a team's workloads run as (namespace = team name)."""
    return f"{team}-workloads"


def team_grants(cfg: config.PlatformConfig, buckets: dict[str, pulumi.Output[str]], team: str) -> list[BucketGrant]:
    """Read/write under the team's prefix of every zone; the shared zones read-only, except the other teams' prefixes."""
    prefix = TEAM_PREFIX.format(team=team)
    grants = [BucketGrant(key=zone, bucket=bucket, prefix=prefix) for zone, bucket in buckets.items()]
    grants += [
        BucketGrant(key=f"{zone}-shared", bucket=buckets[zone], read_only=True, exclude_prefix=TEAMS_ROOT)
        for zone in cfg.data_lake.shared_zones
    ]
    return grants


def build(cfg: config.PlatformConfig, foundation: GcpFoundation, layer: CloudLayer, pools: Sequence[pulumi.Resource]) -> None:
    """:param pools: the GPU node pools (team workloads run on them and on the system pool)."""
    cluster = foundation.cluster
    buckets = foundation.buckets
    for team in cfg.teams:
        identity = WorkloadIdentity(
            f"team-{team.name}",
            WorkloadIdentityArgs(
                account_id=account_id(foundation.name, team.name),
                project=foundation.project,
                namespace=team.name,
                service_account=team_service_account(team.name),
                grants=tuple(team_grants(cfg, buckets, team.name)),
                display_name=f"team {team.name} workloads ({foundation.name})",
                # team workloads run on the system and GPU pools
                identity_pool=(cluster.cluster, cluster.system_pool, *pools),
            ),
            foundation.opts,
        )
        layer.team_identity[team.name] = dict(identity.annotations)
        if cfg.serving.enabled and "models" in buckets:
            layer.serving_identity[team.name] = dict(serving_identity(cfg, foundation, team.name, pools).annotations)


def serving_identity(
    cfg: config.PlatformConfig, foundation: GcpFoundation, team: str, pools: Sequence[pulumi.Resource]
) -> WorkloadIdentity:
    """The Google identity of ``<team>/<team>-serving`` (the team's InferenceServices): it reads, never writes, the
    MLflow registry's artifacts and the team's prefix of the models bucket (the twin of the AWS serving role)."""
    models = foundation.buckets["models"]
    return WorkloadIdentity(
        f"team-{team}-serving",
        WorkloadIdentityArgs(
            account_id=account_id(foundation.name, team, "serving"),
            project=foundation.project,
            namespace=team,
            service_account=serving_service_account(team),
            grants=(
                BucketGrant(key="models-registry", bucket=models, prefix=MLFLOW_PREFIX, read_only=True),
                BucketGrant(key="models-team", bucket=models, prefix=TEAM_PREFIX.format(team=team), read_only=True),
            ),
            display_name=f"team {team} serving ({foundation.name})",
            identity_pool=(foundation.cluster.cluster, foundation.cluster.system_pool, *pools),
        ),
        foundation.opts,
    )
