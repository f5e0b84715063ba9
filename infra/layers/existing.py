"""Cloud layer for ``cloud: existing``: a cluster you bring, reached by kubeconfig. No cloud resources."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import config
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig) -> CloudLayer:
    kubeconfig = cfg.cluster.kubeconfig
    provider = k8s.Provider(
        "existing-cluster",
        kubeconfig=pulumi.Output.secret(kubeconfig.get_secret_value()) if kubeconfig else None,
        context=cfg.cluster.context,
        enable_server_side_apply=True,
    )
    return CloudLayer(
        cloud="existing",
        k8s_provider=provider,
        cluster_name=cfg.cluster.context or cfg.cluster_name,
        driver_preinstalled=not (cfg.gpu_operator.driver if cfg.gpu_operator.driver is not None else True),
    )
