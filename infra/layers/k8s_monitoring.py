"""Metrics, dashboards, alert routing and OpenCost (issue 15), built before the GPU and team layers.

``monitoring.backend``:

- ``inCluster`` (default, every cloud): kube-prometheus-stack; the GPU operator's ServiceMonitor, Kueue's
  ServiceMonitor and every ``PrometheusRule`` wait for the chart (what :func:`build` returns).
- ``managed``: Amazon Managed Service for Prometheus (the AWS layer builds the workspace and its managed
  collector) or Google Managed Prometheus (``PodMonitoring`` / ``Rules`` of monitoring.googleapis.com,
  installed by GKE itself: ``CloudLayer.google_managed_prometheus``). No prometheus-operator CR is emitted.
- ``none``: nothing; no monitoring CR is emitted.

Team budgets: cloud budgets cannot filter on a team's pod-level spend (see
:mod:`components.k8s.cost_alerts`), so each ``teams[*].budgetUsd`` becomes a rule over OpenCost's
metrics, routed to the team; :func:`team_budget_mechanisms` says which, and the plan exports it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import yaml

from catalog import conventions as cv
from components.k8s import alert_routing, cost_alerts
from components.k8s import monitoring as mon
from components.k8s.opencost import OpenCost, OpenCostArgs
from infra import config
from infra.layers.alerting import routing_args
from infra.layers.context import CloudLayer
from infra.layers.k8s_context import K8sPlatform


def team_budgets(cfg: config.PlatformConfig) -> dict[str, tuple[str, float]]:
    return {t.name: (t.name, float(t.budget_usd)) for t in cfg.teams if t.budget_usd is not None}


def team_budget_mechanisms(cfg: config.PlatformConfig) -> dict[str, dict[str, Any]]:
    """Team -> how its budget is enforced (exported as ``teamBudgets``; the plan JSON shows it)."""
    out: dict[str, dict[str, Any]] = {}
    for team, (namespace, usd) in team_budgets(cfg).items():
        out[team] = {
            "monthlyUsd": usd,
            "mechanism": "chargeback-alert",
            "source": "opencost",
            "dimension": {"namespace": namespace, "label": cv.TEAM_LABEL},
            "alerts": ["TeamSpendForecastOverBudget", "TeamSpendOverBudget"],
            "why": (
                "a cloud budget filtered on the team tag/label sees ~$0: GPU nodes are platform resources and the "
                "per-pod split of their cost (AWS split cost allocation data, GKE cost allocation) is only in the "
                "CUR / BigQuery billing export, which budgets do not filter on"
            ),
        }
    return out


def opencost_prices(cfg: config.PlatformConfig, cloud: CloudLayer) -> dict[str, float] | None:
    """Custom prices where OpenCost has no cloud price API (a cluster you bring): the catalog's on-demand GPU price."""
    if cloud.cloud_prices:
        return None
    per_gpu = [
        node.on_demand_usd_hour / node.gpus for pool in cfg.gpu_pools for node in cfg.pool_node_types(pool)[:1] if node.gpus
    ]
    # the chart's own defaults for CPU / RAM / storage; the GPU price is the catalog's (docs/cost.md)
    prices = {"CPU": 1.25, "RAM": 0.50, "storage": 0.25}
    if per_gpu:
        prices["GPU"] = round(max(per_gpu), 4)
    return prices


def build(cfg: config.PlatformConfig, platform: K8sPlatform) -> pulumi.Resource | None:
    """The metrics stack; returns the kube-prometheus-stack release (its CRDs) when in the cluster."""
    cloud = platform.cloud
    m = cfg.monitoring
    pulumi.export("monitoringBackend", m.backend)
    pulumi.export("teamBudgets", team_budget_mechanisms(cfg))
    if m.backend != "inCluster":
        if m.backend == "managed" and cloud.google_managed_prometheus:
            _google_managed(cfg, platform)
        return None
    smtp_password = None
    if m.smtp is not None and m.smtp.password is not None:
        smtp_password = pulumi.Output.secret(m.smtp.password.get_secret_value())
    groups = cost_alerts.budget_rules(team_budgets(cfg)) if m.opencost else []
    stack = mon.Monitoring(
        "monitoring",
        mon.MonitoringArgs(
            routing=routing_args(cfg),
            smtp_password=smtp_password,
            grafana=bool(m.grafana),
            retention=m.retention,
            replicas=config.effective(cfg.cluster.controller_replicas, "cluster.controllerReplicas"),
            protect=cfg.is_prod,
            rule_groups=groups,
        ),
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=platform.waits),
    )
    if cloud.google_managed_prometheus and not cfg.gpu_operator_enabled:
        # the cloud's managed DCGM exporter (GKE's; the operator is off) reports to Google Managed Prometheus, not
        # to the in-cluster Prometheus: the GPU alerts are evaluated and routed there
        _google_managed(cfg, platform, gpu_only=True)
    if m.opencost:
        OpenCost(
            "opencost",
            OpenCostArgs(
                cluster_id=cfg.cluster_name,
                prometheus_namespace=cv.NS_MONITORING,
                prometheus_service=mon.PROMETHEUS_SERVICE,
                prometheus_port=mon.PROMETHEUS_PORT,
                custom_prices=opencost_prices(cfg, cloud),
            ),
            # its ServiceMonitor needs the chart's CRDs; it queries the chart's Prometheus
            opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[*platform.waits, stack.release]),
        )
    return stack.release


GMP_API = "monitoring.googleapis.com/v1"
GMP_PUBLIC_NS = "gmp-public"
"""Namespace of the managed Alertmanager's config Secret ``alertmanager`` (key ``alertmanager.yaml``)."""


def _google_managed(cfg: config.PlatformConfig, platform: K8sPlatform, *, gpu_only: bool = False) -> None:
    """Google Managed Prometheus (on in every GKE cluster we build): its own CRs, installed by GKE.

    - GPU metrics: the DCGM exporter of the GPU operator through a ``PodMonitoring``; with the operator off,
      GKE's managed DCGM (``monitoring_config.enable_components: DCGM`` on the cluster) is collected by GKE.
    - Rules: a cluster-wide ``ClusterRules`` (a namespaced ``Rules`` would only see its own namespace's
      series, and the DCGM series live in ``gpu-operator`` / ``gke-managed-system``).
    - Alert routing: the managed Alertmanager reads the same routing tree from the ``alertmanager`` Secret.
    """
    import pulumi_kubernetes as k8s

    from components.k8s import gpu_monitoring

    child = pulumi.ResourceOptions(provider=platform.cloud.k8s_provider, depends_on=platform.waits)
    if cfg.gpu_operator_enabled and not gpu_only:
        k8s.apiextensions.CustomResource(
            "gmp-dcgm",
            api_version=GMP_API,
            kind="PodMonitoring",
            metadata={"name": "dcgm-exporter", "namespace": cv.NS_GPU_OPERATOR},
            spec={"selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}}, "endpoints": [{"port": 9400, "interval": "30s"}]},
            opts=child,
        )
    k8s.apiextensions.CustomResource(
        "gmp-rules",
        api_version=GMP_API,
        kind="ClusterRules",
        metadata={"name": "ml-platform-gpu"},
        # gpu_only: GKE's managed DCGM series are in Managed Prometheus, kube-state-metrics' are not
        # the ClusterRules CRD requires each group's evaluation interval
        spec={
            "groups": [
                {**g, "interval": "60s"}
                for g in (*gpu_monitoring.gpu_rules(), *([] if gpu_only else gpu_monitoring.gpu_recording_rules()))
            ]
        },
        opts=child,
    )
    routing = routing_args(cfg)
    config_doc = alert_routing.alertmanager_config(routing)
    smtp = cfg.monitoring.smtp
    body: pulumi.Input[str] = yaml.safe_dump(config_doc, sort_keys=False)
    if smtp is not None and smtp.password is not None:
        password = smtp.password.get_secret_value()
        config_doc["global"]["smtp_auth_password"] = "__PASSWORD__"
        body = pulumi.Output.secret(yaml.safe_dump(config_doc, sort_keys=False)).apply(
            lambda t: t.replace("__PASSWORD__", password)
        )
    k8s.core.v1.Secret(
        "gmp-alertmanager",
        metadata={"name": "alertmanager", "namespace": GMP_PUBLIC_NS},
        string_data={"alertmanager.yaml": pulumi.Output.secret(body)},
        opts=child,
    )
