"""The Kubernetes layer, the same on every cloud: GPU operator, scheduling, teams, Kueue, MLflow, Feast."""

from __future__ import annotations

from infra import config
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    return None
