"""GPU operator (MIG, time-slicing), PriorityClasses, GPU alerts (issue: GPU compute)."""

from __future__ import annotations

from infra import config
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    return None
