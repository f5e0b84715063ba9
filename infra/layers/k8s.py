"""The Kubernetes layer, the same on every cloud.

``k8s_gpu`` (GPU operator, priority classes, GPU monitoring), ``k8s_teams`` (namespaces,
quotas, policies, RBAC, Kueue), ``k8s_services`` (MLflow, Feast), ``k8s_notebooks`` (JupyterHub).
"""

from __future__ import annotations

from infra import config
from infra.layers import k8s_gpu, k8s_notebooks, k8s_services, k8s_teams
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    k8s_gpu.build(cfg, cloud)
    k8s_teams.build(cfg, cloud)
    k8s_services.build(cfg, cloud)
    if cfg.notebooks.enabled:
        k8s_notebooks.build(cfg, cloud)
