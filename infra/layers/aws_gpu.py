"""GPU compute on AWS: Karpenter, GPU node groups (issue: GPU compute on AWS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra import config
from infra.layers.context import CloudLayer

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation


def build(cfg: config.PlatformConfig, foundation: AwsFoundation, layer: CloudLayer) -> None:
    return None
