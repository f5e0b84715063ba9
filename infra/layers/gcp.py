"""Cloud layer for ``cloud: gcp``: composes the GCP components in order.

Each step lives in its own module so each concern stays small:
``gcp_foundation`` (APIs, providers, network, keys, lake, audit logs, GKE), ``gcp_gpu`` (GPU node
pools), ``gcp_teams`` (the teams' Workload Identity), ``gcp_services`` (MLflow / Feast identities,
Cloud SQL, Memorystore), ``gcp_storage`` (the teams' Cloud Storage FUSE volumes), ``gcp_billing`` (the platform
budget, the billing export dataset).
"""

from __future__ import annotations

import pulumi

from infra import config
from infra.layers import gcp_billing, gcp_foundation, gcp_gpu, gcp_services, gcp_storage, gcp_teams
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig) -> CloudLayer:
    foundation = gcp_foundation.build(cfg)
    gpu = gcp_gpu.build(cfg, foundation)
    layer = foundation.cloud_layer(gpu.pools)
    gcp_gpu.build_in_cluster(gpu, layer)
    gcp_teams.build(cfg, foundation, layer, gpu.pools)
    gcp_services.build(cfg, foundation, layer)
    gcp_storage.build(cfg, foundation, layer)
    gcp_billing.build(cfg, foundation)
    pulumi.export("gcpProject", foundation.project)
    pulumi.export("lakeBuckets", foundation.buckets)
    return layer
