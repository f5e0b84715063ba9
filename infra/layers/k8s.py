"""The Kubernetes layer, the same on every cloud.

``k8s_monitoring`` (metrics stack, dashboards, alert routing, OpenCost), ``k8s_gpu`` (GPU operator, priority classes, GPU monitoring), ``k8s_teams`` (namespaces,
quotas, policies, RBAC, Kueue), ``k8s_services`` (MLflow, Feast), ``k8s_notebooks`` (JupyterHub), KServe (``serving.enabled``).
"""

from __future__ import annotations

import pulumi

from components.k8s.kserve import KServe
from infra import config
from infra.layers import k8s_gpu, k8s_monitoring, k8s_notebooks, k8s_services, k8s_teams
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    k8s_gpu.build_priorities(cfg, cloud)
    k8s_monitoring.build(cfg, cloud)  # before the GPU operator and Kueue: their monitors need its CRDs
    k8s_gpu.build(cfg, cloud)
    k8s_teams.build(cfg, cloud)
    k8s_services.build(cfg, cloud)
    if cfg.notebooks.enabled:
        k8s_notebooks.build(cfg, cloud)
    if cfg.serving.enabled:
        teams = cloud.extras.get("teams", {})
        KServe(
            "kserve",
            team_namespaces={name: team.namespace_name for name, team in teams.items()},
            identities=cloud.extras.get("serving_identity", {}),
            opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=list(cloud.depends_on)),
        )
