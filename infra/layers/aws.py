"""Cloud layer for ``cloud: aws``: composes the AWS components in order.

Each step lives in its own module so each concern stays small:
``aws_foundation`` (providers, network, keys, lake, EKS), ``aws_gpu`` (Karpenter, GPU node
groups), ``aws_teams`` (team IAM, budgets), ``aws_services`` (MLflow / Feast stores), ``aws_monitoring``
(Amazon Managed Service for Prometheus when ``monitoring.backend`` is ``managed``), ``aws_storage``
(FSx for Lustre next to the lake when ``dataLake.lustre`` is set); ``aws_zones`` checks that the zones the
config names are the VPC's.
"""

from __future__ import annotations

from infra import config
from infra.layers import aws_foundation, aws_gpu, aws_monitoring, aws_services, aws_storage, aws_teams, aws_zones
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig) -> CloudLayer:
    foundation = aws_foundation.build(cfg)
    aws_zones.check(cfg, foundation)  # every configured zone is one of the VPC's (exit 2 naming the key)
    layer = foundation.cloud_layer()
    aws_gpu.build(cfg, foundation, layer)
    aws_teams.build(cfg, foundation, layer)
    aws_services.build(cfg, foundation, layer)
    aws_monitoring.build(cfg, foundation, layer)
    aws_storage.build(cfg, foundation, layer)
    return layer
