"""The in-cluster metrics stack: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, node exporter,
kube-state-metrics and the prometheus-operator CRDs) from its official chart, pinned.

- Prometheus selects every ``ServiceMonitor`` / ``PodMonitor`` / ``PrometheusRule`` in every namespace
  (the DCGM exporter's ServiceMonitor in ``gpu-operator``, Kueue's and OpenCost's in ``monitoring``, our
  rules), so no label has to line up for a scrape or a rule to be picked up.
- Alertmanager routes team alerts to the team and the rest to the platform
  (:mod:`components.k8s.alert_routing`); the SMTP password is a mounted Secret file.
- Grafana (the chart's) loads the dashboards in ``dashboards/`` (ConfigMaps with the sidecar label) and
  NVIDIA's DCGM dashboard from the dcgm-exporter repository at a pinned commit (``DCGM_DASHBOARD_URL``):
  the upstream JSON is neither copied into this repository nor needed at deploy time by the program;
  Grafana's init container downloads it (egress to raw.githubusercontent.com is needed once per pod start).
- Its admin password is generated (``random``) and handed to Grafana as an existing Secret.

Resources that use the monitoring.coreos.com CRDs depend on :attr:`Monitoring.release` (created after
the chart, deleted before it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from catalog import conventions as cv
from components.base import Component
from components.k8s import alert_routing
from components.k8s.helm import pinned_release

CHART = "kube-prometheus-stack"
CHART_VERSION = "88.5.3"
CHART_REPO = "https://prometheus-community.github.io/helm-charts"
RELEASE = "kube-prometheus-stack"
PROMETHEUS_SERVICE = f"{RELEASE}-prometheus"
"""The chart's Prometheus Service (``<release>-prometheus``, port 9090) - OpenCost queries it."""
PROMETHEUS_PORT = 9090
RELEASE_LABEL = {"release": RELEASE}
"""The label the chart's own selectors would use (``*SelectorNilUsesHelmValues``); stamped on our objects too."""
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"
DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DCGM_DASHBOARD_COMMIT = "691c92762eb551313c825f6efe4ceeee20982801"
"""NVIDIA/dcgm-exporter 4.5.3-4.8.2 (the commit ../shared/upstream/SOURCES.tsv pins)."""
DCGM_DASHBOARD_PATH = "grafana/dcgm-exporter-dashboard.json"
DCGM_DASHBOARD_URL = f"https://raw.githubusercontent.com/NVIDIA/dcgm-exporter/{DCGM_DASHBOARD_COMMIT}/{DCGM_DASHBOARD_PATH}"
SMTP_SECRET = "alertmanager-smtp"
SMTP_PASSWORD_KEY = "password"
SMTP_PASSWORD_FILE = f"/etc/alertmanager/secrets/{SMTP_SECRET}/{SMTP_PASSWORD_KEY}"
"""kube-prometheus-stack mounts ``alertmanagerSpec.secrets`` at /etc/alertmanager/secrets/<name>/ (values.yaml)."""
GRAFANA_ADMIN_SECRET = "grafana-admin"
KSM_LABELS_ALLOWLIST = (
    f"namespaces=[{cv.TEAM_LABEL},{cv.COST_CENTER_LABEL}]",
    f"nodes=[{cv.POOL_LABEL},{cv.GPU_MODEL_LABEL}]",
    f"pods=[{cv.USER_LABEL}]",
)
"""Labels kube-state-metrics exports on ``kube_namespace_labels`` / ``kube_node_labels`` (team, cost center, pool) and
``kube_pod_labels`` (the notebook's user, for the idle-GPU alert); flag ``--metric-labels-allowlist``, kube-state-metrics
docs/developer/cli-arguments.md: ``pods=[k8s-label-1,...]``, exported as ``label_<name sanitized>``."""
SUBCHART_KEYS = ("grafana.dashboardProviders", "grafana.dashboards", "kube-state-metrics.metricLabelsAllowlist")
"""Keys of the grafana / kube-state-metrics subcharts we set: they are in the subcharts' values.yaml
(grafana/helm-charts charts/grafana, prometheus-community charts/kube-state-metrics), not the parent's."""


def dashboard_files() -> dict[str, Path]:
    """Our dashboards: ConfigMap name -> JSON file."""
    return {f"mlp-dashboard-{p.stem}": p for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


@dataclass(frozen=True)
class MonitoringArgs:
    """Arguments of :class:`Monitoring`.

    :param routing: Alertmanager routing (teams, platform e-mails, SMTP relay without password).
    :param smtp_password: The relay password (a Pulumi secret); it goes into a Kubernetes Secret only.
    :param grafana: Install Grafana with the dashboards.
    :param retention: Prometheus retention (``15d``).
    :param replicas: Prometheus / Alertmanager replicas.
    """

    routing: alert_routing.RoutingArgs = field(default_factory=alert_routing.RoutingArgs)
    smtp_password: pulumi.Input[str] | None = None
    grafana: bool = True
    retention: str = "15d"
    replicas: int = 1
    namespace: str = cv.NS_MONITORING
    protect: bool = False
    """Protect the generated Grafana admin password (prod: stateful, never silently rotated)."""
    rule_groups: Sequence[Mapping[str, Any]] = ()
    """Platform rule groups (team budget alerts) in a ``PrometheusRule`` created after the chart."""

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"MonitoringArgs: replicas must be at least 1, got {self.replicas}")
        if self.smtp_password is not None and (self.routing.smtp is None or not self.routing.smtp.username):
            raise ValueError("MonitoringArgs: smtp_password needs routing.smtp with a username")


def routing_with_secret(args: MonitoringArgs) -> alert_routing.RoutingArgs:
    """The routing args, the SMTP password read from the mounted Secret file."""
    smtp = args.routing.smtp
    if smtp is not None and args.smtp_password is not None:
        smtp = alert_routing.Smtp(
            smarthost=smtp.smarthost,
            sender=smtp.sender,
            username=smtp.username,
            password_file=SMTP_PASSWORD_FILE,
            require_tls=smtp.require_tls,
        )
    return alert_routing.RoutingArgs(
        teams=args.routing.teams, platform_emails=args.routing.platform_emails, smtp=smtp, group_by=args.routing.group_by
    )


def helm_values(args: MonitoringArgs) -> dict[str, Any]:
    """The chart values (every key exists in the chart's values.yaml or a subchart's: a test checks it)."""
    select_all = {
        # {} with *NilUsesHelmValues false: select every object in every namespace (values.yaml comments)
        "ruleSelectorNilUsesHelmValues": False,
        "ruleSelector": {},
        "ruleNamespaceSelector": {},
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "serviceMonitorSelector": {},
        "serviceMonitorNamespaceSelector": {},
        "podMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelector": {},
        "podMonitorNamespaceSelector": {},
    }
    values: dict[str, Any] = {
        "crds": {"enabled": True},
        "prometheus": {"prometheusSpec": {**select_all, "retention": args.retention, "replicas": args.replicas}},
        "alertmanager": {
            "config": alert_routing.alertmanager_config(routing_with_secret(args)),
            "alertmanagerSpec": {"replicas": args.replicas, "secrets": [SMTP_SECRET] if args.smtp_password is not None else []},
        },
        "kube-state-metrics": {"metricLabelsAllowlist": list(KSM_LABELS_ALLOWLIST)},
        "grafana": {"enabled": args.grafana},
    }
    if args.grafana:
        values["grafana"].update(
            {
                "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
                "sidecar": {
                    "dashboards": {
                        "enabled": True,
                        "label": DASHBOARD_LABEL,
                        "labelValue": DASHBOARD_LABEL_VALUE,
                        "searchNamespace": "ALL",
                    }
                },
                "dashboardProviders": {
                    "dashboardproviders.yaml": {
                        "apiVersion": 1,
                        "providers": [
                            {
                                "name": "nvidia",
                                "orgId": 1,
                                "folder": "NVIDIA",
                                "type": "file",
                                "disableDeletion": True,
                                "editable": False,
                                "options": {"path": "/var/lib/grafana/dashboards/nvidia"},
                            }
                        ],
                    }
                },
                "dashboards": {"nvidia": {"dcgm-exporter": {"url": DCGM_DASHBOARD_URL, "datasource": "Prometheus"}}},
            }
        )
    return values


class Monitoring(Component):
    """kube-prometheus-stack in ``monitoring`` with the platform's routing, Grafana and dashboards (the
    Kubernetes provider comes through ``opts``).

    Outputs: ``namespace_name``; :attr:`release` is the chart (what monitoring CRs wait for).
    """

    release: k8s.helm.v3.Release
    namespace_name: pulumi.Output[str]
    rules: k8s.apiextensions.CustomResource | None

    def __init__(self, resource_name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Monitoring", resource_name, opts)
        name = resource_name
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": args.namespace, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
            opts=self.child_opts(),
        )
        namespace_name = ns.metadata["name"]
        before_release: list[pulumi.Resource] = [ns]
        if args.smtp_password is not None:
            before_release.append(
                k8s.core.v1.Secret(
                    f"{name}-smtp",
                    metadata={"name": SMTP_SECRET, "namespace": namespace_name, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                    string_data={SMTP_PASSWORD_KEY: pulumi.Output.secret(args.smtp_password)},
                    opts=self.child_opts(depends_on=[ns]),
                )
            )
        if args.grafana:
            password = random.RandomPassword(
                f"{name}-grafana-admin", length=32, special=False, opts=self.child_opts(protect=args.protect)
            )
            before_release.append(
                k8s.core.v1.Secret(
                    f"{name}-grafana-admin",
                    metadata={
                        "name": GRAFANA_ADMIN_SECRET,
                        "namespace": namespace_name,
                        "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY},
                    },
                    string_data={"admin-user": "admin", "admin-password": password.result},
                    opts=self.child_opts(depends_on=[ns]),
                )
            )
            for cm_name, path in dashboard_files().items():
                k8s.core.v1.ConfigMap(
                    f"{name}-{cm_name}",
                    metadata={
                        "name": cm_name,
                        "namespace": namespace_name,
                        "labels": {DASHBOARD_LABEL: DASHBOARD_LABEL_VALUE, cv.MANAGED_BY_LABEL: cv.MANAGED_BY},
                    },
                    data={path.name: json.dumps(json.loads(path.read_text()), sort_keys=True)},
                    opts=self.child_opts(depends_on=[ns]),
                )
        self.release = pinned_release(
            f"{name}-stack",
            release=RELEASE,
            chart=CHART,
            version=CHART_VERSION,
            repo=CHART_REPO,
            namespace=namespace_name,
            values=helm_values(args),
            timeout=900,
            opts=self.child_opts(depends_on=before_release),
        )
        self.rules = None
        if args.rule_groups:
            # a CR of the chart's CRDs: created after the chart, deleted before it
            self.rules = k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={
                    "name": "ml-platform-platform",
                    "namespace": namespace_name,
                    "labels": {**RELEASE_LABEL, cv.MANAGED_BY_LABEL: cv.MANAGED_BY},
                },
                spec={"groups": [dict(g) for g in args.rule_groups]},
                opts=self.child_opts(depends_on=[self.release]),
            )
        self.publish(namespace_name=namespace_name, release_name=self.release.name)


def team_routes(teams: Sequence[tuple[str, str, str | None]]) -> list[alert_routing.TeamRoute]:
    """(team, namespace, email) triples as routes."""
    return [alert_routing.TeamRoute(team=t, namespace=n, email=e) for t, n, e in teams]


def routing_args(
    teams: Sequence[alert_routing.TeamRoute], platform_emails: Sequence[str], smtp: Mapping[str, Any] | None
) -> alert_routing.RoutingArgs:
    s = alert_routing.Smtp(**smtp) if smtp else None
    return alert_routing.RoutingArgs(teams=tuple(teams), platform_emails=tuple(platform_emails), smtp=s)
