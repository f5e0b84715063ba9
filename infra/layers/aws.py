"""Cloud layer for ``cloud: aws``: network, keys, lake, EKS, GPU nodes, IAM, managed stores."""

from __future__ import annotations

import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import config
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig) -> CloudLayer:
    aws.Provider("aws", region=cfg.region)
    provider = k8s.Provider("eks", enable_server_side_apply=True)
    return CloudLayer(cloud="aws", k8s_provider=provider, cluster_name=cfg.cluster_name, driver_preinstalled=True, region=cfg.region)
