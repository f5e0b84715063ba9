"""Where the stack runs: region, DR region, cluster access, and whether ``pulumi up`` can reach the API."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def cluster_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """Region and DR region, keys of another cloud, cluster access and system nodes."""
    ns = NAMESPACE + ":"
    if cfg.cloud in ("aws", "gcp") and not cfg.region:
        yield ns + "region", f"required for cloud {cfg.cloud!r} (for example us-east-1 or us-central1)"
    if cfg.dr.enabled and not cfg.dr.region:
        yield ns + "dr.region", "required when dr.enabled is true"
    if cfg.dr.enabled and cfg.dr.region and cfg.dr.region == cfg.region:
        yield ns + "dr.region", f"{cfg.dr.region!r} is the primary region; the DR region must differ from region"
    for field, value, clouds in (
        ("fastLakeReplication", cfg.dr.fast_lake_replication, ("aws", "gcp")),
        ("databaseBackups", cfg.dr.database_backups, ("aws",)),
    ):
        if value is not None and (cfg.cloud not in clouds or not cfg.dr.enabled):
            why = "dr.enabled is false" if not cfg.dr.enabled else f"this stack is cloud {cfg.cloud!r}"
            yield (
                ns + f"dr.{field}",
                f"{str(value).lower()}, but {why}: it shapes the DR replication of cloud {' or '.join(clouds)}; "
                "allowed: unset, or set with dr.enabled: true there",
            )
    if cfg.dr.enabled and cfg.cloud == "existing":
        yield ns + "dr.enabled", "DR replication needs a cloud; set cloud to aws or gcp, or turn dr off"
    if cfg.cloud == "gcp" and not cfg.gcp.project:
        yield ns + "gcp.project", "required for cloud 'gcp'"
    yield from _deployer_checks(cfg)
    if cfg.cloud != "aws" and "aws" in cfg.model_fields_set:
        yield ns + "aws", f"only for cloud 'aws'; this stack is cloud {cfg.cloud!r}"
    if cfg.cloud != "existing" and (cfg.cluster.kubeconfig is not None or cfg.cluster.context):
        yield ns + "cluster.kubeconfig", f"only for cloud 'existing'; cloud {cfg.cloud!r} builds its own cluster"
    if cfg.cluster.workload_identity == "podIdentity" and cfg.cloud != "aws":
        yield (
            ns + "cluster.workloadIdentity",
            f"'podIdentity' is EKS Pod Identity; cloud {cfg.cloud!r} allows: irsa (ignored there)",
        )
    if cfg.cluster.system_nodes.min_nodes > cfg.cluster.system_nodes.max_nodes:
        yield ns + "cluster.systemNodes.minNodes", "must not exceed maxNodes"


def _deployer_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """Can ``pulumi up`` reach the API endpoint from where ``cluster.deployFrom`` says it runs?"""
    ns = NAMESPACE + ":cluster."
    cluster = cfg.cluster
    if cfg.cloud == "existing":
        if "deploy_from" in cluster.model_fields_set:
            yield ns + "deployFrom", "only for cloud 'aws' or 'gcp' (the cluster you bring is reached through its kubeconfig)"
        return
    if cluster.deploy_from != "vpc" and not cluster.public_access_cidrs:
        yield (
            ns + "deployFrom",
            f"{cluster.deploy_from!r} runs outside the VPC, but cluster.publicAccessCidrs is empty, so the API endpoint "
            "is private only and unreachable from there; allowed: 'vpc' (a self-hosted runner in the VPC, see "
            "docs/ci.md), or list the deployer's egress CIDRs in cluster.publicAccessCidrs",
        )
    if cluster.private_access_cidrs and cfg.cloud != "aws":
        yield (
            ns + "privateAccessCidrs",
            "EKS only; on GKE list the ranges in cluster.publicAccessCidrs (master authorized networks)",
        )
    if cfg.cloud == "aws":
        for i, cidr in enumerate(cluster.public_access_cidrs):
            if not ipaddress.ip_network(cidr).is_global:
                yield (
                    f"{ns}publicAccessCidrs[{i}]",
                    f"{cidr!r} is not a public range; the EKS public endpoint only sees public source addresses "
                    "(reach it privately from inside the VPC instead: cluster.deployFrom: vpc)",
                )


def runner_problems(cfg: PlatformConfig, runner: str | None) -> list[Problem]:
    """Problems of deploying ``cfg`` from a CI runner of kind ``runner`` (``github-hosted`` /
    ``self-hosted``, GitHub's ``runner.environment``; ``None``: not in CI, nothing to check)."""
    if runner != "github-hosted" or cfg.cloud == "existing" or cfg.cluster.deploy_from != "vpc":
        return []
    return [
        (
            f"{NAMESPACE}:cluster.deployFrom",
            "'vpc' (the default): the API endpoint is reached from inside the VPC, but this job runs on a GitHub-hosted "
            "runner; route the stack to a self-hosted runner in the VPC (repository variable DEPLOY_RUNNERS, "
            "docs/ci.md), or set cluster.deployFrom: githubHosted with cluster.publicAccessCidrs listing the "
            "runners' static egress IPs",
        )
    ]
