"""Cloud layer for ``cloud: gcp``: VPC, KMS, GCS lake, GKE, GPU node pools, IAM, managed stores."""

from __future__ import annotations

import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra import config
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig) -> CloudLayer:
    gcp.Provider("gcp", project=cfg.gcp.project, region=cfg.region)
    provider = k8s.Provider("gke", enable_server_side_apply=True)
    return CloudLayer(cloud="gcp", k8s_provider=provider, cluster_name=cfg.cluster_name, driver_preinstalled=True, region=cfg.region)
