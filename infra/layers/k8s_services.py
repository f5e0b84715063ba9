"""MLflow and Feast in the cluster (issue: ML services)."""

from __future__ import annotations

from infra import config
from infra.layers.context import CloudLayer


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    return None
