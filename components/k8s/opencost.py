"""OpenCost (official chart, pinned): per-pod cost from the cluster's Prometheus and the cloud's prices.

On EKS and GKE OpenCost detects the provider from the nodes and reads the cloud's public list
prices itself (AWS pricing API / GCP billing catalog); on a cluster you bring it uses
``customPricing`` with our catalog's prices. Allocation by team: the team namespaces carry
``ml-platform.io/team`` / ``ml-platform.io/cost-center`` and kube-state-metrics exports them
(``kube_namespace_labels``), which OpenCost merges into every allocation of the namespace; the
chargeback report aggregates by ``namespace`` and maps namespaces to teams.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component
from components.k8s.helm import pinned_release

CHART = "opencost"
CHART_VERSION = "2.5.17"
CHART_REPO = "https://opencost.github.io/opencost-helm-chart"
RELEASE = "opencost"
API_PORT = 9003
"""The exporter's API port (``opencost.exporter.apiPort``); the allocation API is ``/allocation/compute``."""


@dataclass(frozen=True)
class OpenCostArgs:
    """Arguments of :class:`OpenCost`.

    :param cluster_id: Name the cluster's costs are reported under.
    :param prometheus_namespace: / ``prometheus_service`` / ``prometheus_port``: the in-cluster Prometheus.
    :param custom_prices: ``customPricing.costModel`` (USD per hour: ``CPU``, ``RAM`` per GiB, ``GPU``, ...) for
        a cluster without a cloud price API; ``None``: the cloud provider's prices.
    :param service_monitor: Create the chart's ServiceMonitor (needs the prometheus-operator CRDs).
    """

    cluster_id: str
    prometheus_namespace: str
    prometheus_service: str
    prometheus_port: int = 9090
    custom_prices: Mapping[str, float] | None = None
    service_monitor: bool = True
    namespace: str = cv.NS_MONITORING
    extra_values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cluster_id:
            raise ValueError("OpenCostArgs: cluster_id must not be empty")
        if self.custom_prices is not None and not self.custom_prices:
            raise ValueError("OpenCost: custom_prices must not be empty")


def helm_values(args: OpenCostArgs) -> dict[str, Any]:
    """The chart values (every key exists in the chart's values.yaml; a test checks it)."""
    oc: dict[str, Any] = {
        "exporter": {"defaultClusterId": args.cluster_id},
        "prometheus": {
            "internal": {
                "enabled": True,
                "namespaceName": args.prometheus_namespace,
                "serviceName": args.prometheus_service,
                "port": args.prometheus_port,
            },
        },
        "metrics": {
            # kube-prometheus-stack already runs kube-state-metrics: no second copy of its families
            "kubeStateMetrics": {"emitKsmV1Metrics": False, "emitKsmV1MetricsOnly": False},
            "serviceMonitor": {"enabled": args.service_monitor, "honorLabels": True},
        },
        "ui": {"enabled": True},
    }
    if args.custom_prices is not None:
        oc["customPricing"] = {"enabled": True, "provider": "custom", "costModel": {k: v for k, v in args.custom_prices.items()}}
    return {"clusterName": args.cluster_id, "opencost": oc, **dict(args.extra_values)}


class OpenCost(Component):
    """The OpenCost release in the monitoring namespace (the Kubernetes provider comes through ``opts``)."""

    release: k8s.helm.v3.Release

    def __init__(self, resource_name: str, args: OpenCostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:OpenCost", resource_name, opts)
        self.release = pinned_release(
            f"{resource_name}-release",
            release=RELEASE,
            chart=CHART,
            version=CHART_VERSION,
            repo=CHART_REPO,
            namespace=args.namespace,
            values=helm_values(args),
            opts=self.child_opts(),
        )
        self.publish(release_name=self.release.name)
