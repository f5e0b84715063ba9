"""Monitoring: the metrics backend, Grafana, OpenCost, alert mail, cost data."""

from __future__ import annotations

from collections.abc import Iterator

from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def monitoring_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":monitoring."
    mon = cfg.monitoring
    if mon.backend == "managed" and cfg.cloud == "existing":
        yield (
            ns + "backend",
            "'managed' needs a cloud (Amazon / Google Managed Prometheus); allowed on cloud 'existing': inCluster, none",
        )
    if mon.backend != "inCluster" and mon.grafana:  # the default is off there: the stack set it
        yield (
            ns + "grafana",
            f"the platform's Grafana comes with backend 'inCluster' (got backend {mon.backend!r}); set grafana: false",
        )
    if mon.backend != "inCluster" and mon.opencost:
        yield (
            ns + "opencost",
            f"OpenCost reads the in-cluster Prometheus; with backend {mon.backend!r} set opencost: false (or backend inCluster)",
        )
    if mon.backend != "inCluster" and any(t.budget_usd is not None for t in cfg.teams):
        yield (
            ns + "backend",
            f"{mon.backend!r} leaves team budgets (teams[*].budgetUsd) nothing to fire from: cloud budgets cannot see a team's "
            "pod-level spend, the platform alerts from OpenCost's data in the in-cluster Prometheus instead; allowed: inCluster",
        )
    if mon.cost_allocation_tags and cfg.cloud != "aws":
        yield ns + "costAllocationTags", f"AWS cost allocation tags; on cloud {cfg.cloud!r} leave it false"
    if mon.billing_dataset is not None and cfg.cloud != "gcp":
        yield ns + "billingDataset", f"a BigQuery dataset for the GCP billing export; not on cloud {cfg.cloud!r}"
    if mon.smtp is not None and mon.smtp.username and mon.smtp.password is None:
        yield ns + "smtp.password", "required with smtp.username (set it as a secret)"
