"""The Kubernetes layer, the same on every cloud.

``k8s_monitoring`` (metrics stack, dashboards, alert routing, OpenCost), ``k8s_gpu`` (GPU operator, priority classes, GPU monitoring), ``k8s_teams`` (namespaces,
quotas, policies, RBAC, Kueue), ``k8s_services`` (MLflow, Feast), ``k8s_notebooks`` (JupyterHub), KServe (``serving.enabled``).

It reads the cloud layer's :class:`~infra.layers.context.CloudLayer` (facts, set once) and keeps what it
builds for its own later steps in a :class:`~infra.layers.k8s_context.K8sPlatform`; nothing is written back into the cloud's contract.
Ordering is explicit: every step waits for :attr:`~infra.layers.k8s_context.K8sPlatform.waits` (the cloud's ``depends_on`` plus the
PriorityClasses), and what needs the prometheus-operator CRDs waits for :attr:`~infra.layers.k8s_context.K8sPlatform.monitoring_release`.
"""

from __future__ import annotations

import pulumi

from components.k8s.kserve import KServe, KServeArgs
from infra import config
from infra.layers import k8s_gpu, k8s_monitoring, k8s_notebooks, k8s_services, k8s_teams
from infra.layers.context import CloudLayer
from infra.layers.k8s_context import K8sPlatform


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> K8sPlatform:
    platform = K8sPlatform(cloud=cloud, priorities=k8s_gpu.build_priorities(cfg, cloud))
    platform.monitoring_release = k8s_monitoring.build(
        cfg, platform
    )  # before the GPU operator and Kueue: their monitors need its CRDs
    k8s_gpu.build(cfg, platform)
    platform.teams = k8s_teams.build(cfg, platform)
    k8s_services.build(cfg, platform)
    if cfg.notebooks.enabled:
        k8s_notebooks.build(cfg, platform)
    if cfg.serving.enabled:
        KServe(
            "kserve",
            KServeArgs(
                team_namespaces={name: team.namespace_name for name, team in platform.teams.items()},
                identities={name: ids for name, ids in cloud.serving_identity.items() if name in platform.teams},
            ),
            opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=platform.waits),
        )
    return platform
