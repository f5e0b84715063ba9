"""AWS foundation: providers, network, KMS keys, data lake, EKS cluster (issue: AWS foundation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import config, tagging
from infra.layers.context import CloudLayer


@dataclass
class AwsFoundation:
    """Handles the later AWS steps build on (filled in by the AWS foundation work)."""

    cfg: config.PlatformConfig
    provider: aws.Provider
    k8s_provider: k8s.Provider
    dr_provider: aws.Provider | None = None
    parts: dict[str, Any] = field(default_factory=dict)

    def cloud_layer(self) -> CloudLayer:
        return CloudLayer(
            cloud="aws",
            k8s_provider=self.k8s_provider,
            cluster_name=self.cfg.cluster_name,
            driver_preinstalled=True,
            object_store="s3",
            region=self.cfg.region,
        )


def build(cfg: config.PlatformConfig) -> AwsFoundation:
    provider = aws.Provider("aws", region=cfg.region, default_tags={"tags": tagging.platform_tags(cfg)})
    k8s_provider = k8s.Provider("eks", enable_server_side_apply=True)
    return AwsFoundation(cfg=cfg, provider=provider, k8s_provider=k8s_provider)
