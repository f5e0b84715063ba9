"""Issue 15: a metrics stack on every fresh cluster, dashboards over real metrics, alerts routed to teams,
team budgets that can fire."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog import conventions as cv
from components.k8s import alert_routing, cost_alerts, gpu_monitoring
from components.k8s import monitoring as mon
from components.k8s import opencost as oc
from infra import config
from infra.layers import k8s_monitoring
from infra.plan import engine
from tests.chart_values import assert_keys_exist, chart_version, crd_validator, schema_errors
from tests.helpers import STACKS, raw_config, run_cli

RELEASE = "kubernetes:helm.sh/v3:Release"
PROM_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MONITORING_TYPES = (
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor",
)


def _release(plan: engine.Plan, chart: str) -> Any:
    found = [r for r in plan.by_type(RELEASE) if r.inputs.get("chart") == chart]
    return found[0] if found else None


def _ancestors_and_deps(plan: engine.Plan, res: Any) -> set[str]:
    """URNs ``res`` waits for: its own dependencies and those of every component above it."""
    by_urn = {r.urn: r for r in plan.resources}
    out: set[str] = set(res.dependencies)
    cur = by_urn.get(res.parent)
    while cur is not None:
        out |= set(cur.dependencies)
        cur = by_urn.get(cur.parent)
    return out


def _waits_for(plan: engine.Plan, res: Any, target: Any) -> bool:
    """``res`` (or a component containing it) depends on ``target`` or on a component containing it."""
    by_urn = {r.urn: r for r in plan.resources}
    holders = {target.urn}
    cur = by_urn.get(target.parent)
    while cur is not None:
        holders.add(cur.urn)
        cur = by_urn.get(cur.parent)
    return bool(_ancestors_and_deps(plan, res) & holders)


# ---- the stack exists on every cloud, pinned, with valid values ------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_installs_the_metrics_stack_and_opencost_by_default(
    plan_of: Callable[[str], engine.Plan], stack: str
) -> None:
    plan = plan_of(stack)
    assert plan.config.monitoring.backend == "inCluster"
    kps = _release(plan, mon.CHART)
    assert (
        kps is not None and kps.inputs["version"] == mon.CHART_VERSION and kps.inputs["repositoryOpts"]["repo"] == mon.CHART_REPO
    )
    assert kps.inputs["namespace"] == cv.NS_MONITORING
    cost = _release(plan, oc.CHART)
    assert cost is not None and cost.inputs["version"] == oc.CHART_VERSION
    assert _waits_for(plan, cost, kps), "OpenCost's ServiceMonitor needs the chart's CRDs"
    assert plan.outputs["monitoringBackend"] == "inCluster"


def test_chart_values_exist_in_the_pinned_charts(plan_of: Callable[[str], engine.Plan], upstream: Path) -> None:
    assert chart_version(upstream / "kube-prometheus-stack" / "Chart.yaml") == mon.CHART_VERSION
    assert chart_version(upstream / "opencost" / "Chart.yaml") == oc.CHART_VERSION
    for stack in ("dev", "prod", "gcp-prod", "onprem"):
        plan = plan_of(stack)
        assert_keys_exist(
            _release(plan, mon.CHART).inputs["values"],
            upstream / "kube-prometheus-stack" / "values.yaml",
            free_form=mon.SUBCHART_KEYS,
        )
        assert_keys_exist(_release(plan, oc.CHART).inputs["values"], upstream / "opencost" / "values.yaml")
        kueue = _release(plan, "kueue")
        if kueue is not None:
            assert_keys_exist(kueue.inputs["values"], upstream / "kueue" / "values.yaml")
            assert kueue.inputs["values"]["enablePrometheus"] is True
    onprem = plan_of("onprem")
    prices = _release(onprem, oc.CHART).inputs["values"]["opencost"]["customPricing"]
    assert prices["enabled"] and prices["costModel"]["GPU"] > 0, "a cluster you bring has no cloud price API: catalog prices"
    assert "customPricing" not in _release(plan_of("dev"), oc.CHART).inputs["values"]["opencost"]


def test_dcgm_dashboard_is_the_pinned_upstream_commit_not_a_copy(upstream: Path) -> None:
    rows = [line.split("\t") for line in (upstream / "SOURCES.tsv").read_text().splitlines()[1:]]
    (row,) = [r for r in rows if r[0] == "dcgm-exporter/dcgm-exporter-dashboard.json"]
    assert (row[1], row[3], row[4]) == ("NVIDIA/dcgm-exporter", mon.DCGM_DASHBOARD_COMMIT, mon.DCGM_DASHBOARD_PATH)
    assert mon.DCGM_DASHBOARD_URL.endswith(f"/{row[1]}/{row[3]}/{row[4]}")
    ours = {p.name for p in mon.DASHBOARDS_DIR.iterdir()}
    upstream_title = json.loads((upstream / "dcgm-exporter" / "dcgm-exporter-dashboard.json").read_text())["title"]
    assert all(json.loads(p.read_text())["title"] != upstream_title for p in mon.DASHBOARDS_DIR.glob("*.json")), ours


# ---- ordering: every monitoring CR is installed by something in the same plan ----------------------


@pytest.mark.parametrize("stack", STACKS)
def test_monitoring_crs_and_monitors_wait_for_the_chart_that_installs_their_crds(
    plan_of: Callable[[str], engine.Plan], stack: str
) -> None:
    plan = plan_of(stack)
    kps = _release(plan, mon.CHART)
    crs = [r for r in plan.resources if r.type in MONITORING_TYPES]
    # GPU alert rules come with GPU pools and budget rules with team budgets; a fleet manager has neither
    assert crs or not (plan.config.gpu_pools or any(t.budget_usd is not None for t in plan.config.teams)), (
        "no alert rules planned"
    )
    for cr in crs:
        assert _waits_for(plan, cr, kps), f"{cr.name} ({cr.type}) is created before the chart that installs its CRD"
    # releases that create ServiceMonitors from their own templates
    gpu = _release(plan, "gpu-operator")
    if gpu is not None:
        assert gpu.inputs["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is True
        assert gpu.inputs["values"]["dcgmExporter"]["serviceMonitor"]["honorLabels"] is True, (
            "GPU alerts need the pod's namespace"
        )
        assert _waits_for(plan, gpu, kps)
    kueue = _release(plan, "kueue")
    if kueue is not None:
        assert _waits_for(plan, kueue, kps)


def test_monitoring_crs_validate_against_the_pinned_crds(plan_of: Callable[[str], engine.Plan], upstream: Path) -> None:
    validator = crd_validator(upstream / "prometheus-operator" / "crds" / "crd-prometheusrules.yaml", "v1")
    seen = 0
    for stack in STACKS:
        for rule in plan_of(stack).by_type(PROM_RULE):
            doc = {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                **{k: v for k, v in rule.inputs.items() if k not in ("apiVersion", "kind")},
            }
            assert not schema_errors(validator, doc), (stack, rule.name)
            seen += 1
    assert seen >= len(STACKS)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels / matchExpressions In, Exists) against labels; {} selects all."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
        if e["operator"] == "Exists" and e["key"] not in labels:
            return False
    return True


@pytest.mark.parametrize("stack", ["dev", "gcp-prod", "onprem"])
def test_prometheus_selects_our_rules_and_the_dcgm_service_monitor(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    plan = plan_of(stack)
    spec = _release(plan, mon.CHART).inputs["values"]["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor"):
        # with *NilUsesHelmValues true the chart would select only release=<release> (values.yaml)
        selector = (
            spec[f"{kind}Selector"]
            if spec.get(f"{kind}SelectorNilUsesHelmValues") is False
            else {"matchLabels": mon.RELEASE_LABEL}
        )
        if kind == "rule":
            for rule in plan.by_type(PROM_RULE):
                assert _selects(selector, rule.inputs["metadata"].get("labels") or {}), rule.name
        if kind == "serviceMonitor" and _release(plan, "gpu-operator") is not None:
            sm = _release(plan, "gpu-operator").inputs["values"]["dcgmExporter"]["serviceMonitor"]
            assert _selects(selector, sm["additionalLabels"])
        assert spec.get(f"{kind}NamespaceSelector", {}) == {}, "monitors live in gpu-operator / monitoring / kueue-system"


# ---- dashboards: every query names metrics the exporters expose -------------------------------------

# dcgm-exporter etc/default-counters.csv (NVIDIA/dcgm-exporter) field names; the pinned NVIDIA dashboard adds
# the profiling fields the GPU operator's exporter config enables (read from it below).
DCGM_DEFAULT_COUNTERS = {
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_ENC_UTIL",
    "DCGM_FI_DEV_DEC_UTIL",
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
}
# kubernetes-sigs/kueue pkg/metrics/metrics.go (v0.19): the ClusterQueue families (quota ones need
# enableClusterQueueResources, which components/k8s/kueue.py sets)
KUEUE = {
    "kueue_pending_workloads",
    "kueue_admitted_active_workloads",
    "kueue_admitted_workloads_total",
    "kueue_reserving_active_workloads",
    "kueue_cluster_queue_resource_usage",
    "kueue_cluster_queue_resource_reservation",
    "kueue_cluster_queue_nominal_quota",
    "kueue_cluster_queue_borrowing_limit",
    "kueue_cluster_queue_lending_limit",
    "kueue_admission_wait_time_seconds_bucket",
    "kueue_evicted_workloads_total",
    "kueue_preempted_workloads_total",
    "kueue_cluster_queue_status",
}
# kube-state-metrics docs/metrics (namespace, node, pod, persistentvolume families)
KSM = {
    "kube_namespace_labels",
    "kube_node_labels",
    "kube_pod_labels",
    "kube_pod_container_resource_requests",
    "kube_node_status_allocatable",
    "kube_persistentvolume_capacity_bytes",
}
# OpenCost's exported metrics (opencost.io/docs/integrations/prometheus)
OPENCOST = {
    "container_cpu_allocation",
    "container_memory_allocation_bytes",
    "container_gpu_allocation",
    "node_cpu_hourly_cost",
    "node_ram_hourly_cost",
    "node_gpu_hourly_cost",
    "node_total_hourly_cost",
    "pv_hourly_cost",
}
KEYWORDS = {
    "by",
    "on",
    "without",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "bool",
    "offset",
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "topk",
    "bottomk",
    "quantile",
    "stddev",
    "stdvar",
    "group",
}  # aggregations


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (strings, label matchers, grouping labels, ranges removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    out = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[m.end() :].lstrip()
        if m.group() in KEYWORDS or rest.startswith("("):
            continue  # a function call or a keyword
        if re.fullmatch(r"[0-9eE]+", m.group()):
            continue
        out.add(m.group())
    return out


def test_metric_name_extraction_sees_through_promql() -> None:
    expr = 'sum by (team) (rate(kueue_admitted_workloads_total{a="x{y}"}[5m]) * on(node) group_left(pool) kube_node_labels) > 1e3'
    assert metric_names(expr) == {"kueue_admitted_workloads_total", "kube_node_labels"}


def _queries(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == "expr" and isinstance(v, str)] + [q for v in obj.values() for q in _queries(v)]
    if isinstance(obj, list):
        return [q for v in obj for q in _queries(v)]
    return []


def test_every_dashboard_and_rule_query_names_only_exposed_metrics(upstream: Path) -> None:
    nvidia = json.loads((upstream / "dcgm-exporter" / "dcgm-exporter-dashboard.json").read_text())
    dcgm = DCGM_DEFAULT_COUNTERS | {n for q in _queries(nvidia) for n in metric_names(q) if n.startswith("DCGM_")}
    recorded = {r["record"] for g in gpu_monitoring.gpu_recording_rules() for r in g["rules"]}
    known = dcgm | KUEUE | KSM | OPENCOST | recorded
    files = sorted(mon.DASHBOARDS_DIR.glob("*.json"))
    assert {p.stem for p in files} >= {"gpu-teams", "kueue", "cost-teams"}
    for path in files:
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            assert panel["targets"], f"{path.name}: panel {panel['title']!r} has no query"
            for target in panel["targets"]:
                names = metric_names(target["expr"])
                assert names, f"{path.name}: {target['expr']}"
                assert names <= known, f"{path.name} / {panel['title']!r}: unknown metric(s) {sorted(names - known)}"
    groups = [*gpu_monitoring.gpu_rules(), *gpu_monitoring.gpu_recording_rules(), *cost_alerts.budget_rules({"t": ("t", 10.0)})]
    for group in groups:
        for rule in group["rules"]:
            assert metric_names(rule["expr"]) <= known - (recorded if "record" in rule else set()), rule


def test_the_gpu_dashboard_counts_mig_slices_and_time_sliced_replicas_as_fractions() -> None:
    (rule,) = gpu_monitoring.gpu_recording_rules()[0]["rules"]
    # requests / devices the node advertises x physical GPUs on the node: 1 slice of 7 = 1/7 GPU
    assert (
        "kube_pod_container_resource_requests" in rule["expr"]
        and "/ on(node, resource) group_left() kube_node_status_allocatable" in rule["expr"]
    )
    assert "nvidia_com_mig_" in rule["expr"]
    gpu = json.loads((mon.DASHBOARDS_DIR / "gpu-teams.json").read_text())
    assert any(rule["record"] in t["expr"] for p in gpu["panels"] for t in p["targets"])


def test_dashboards_are_configmaps_the_grafana_sidecar_loads(plan_of: Callable[[str], engine.Plan]) -> None:
    plan = plan_of("dev")
    values = _release(plan, mon.CHART).inputs["values"]["grafana"]
    side = values["sidecar"]["dashboards"]
    cms = [
        r
        for r in plan.by_type("kubernetes:core/v1:ConfigMap")
        if (r.inputs["metadata"].get("labels") or {}).get(side["label"]) == side["labelValue"]
    ]
    assert {c.inputs["metadata"]["name"] for c in cms} == set(mon.dashboard_files())
    for cm in cms:
        (body,) = cm.inputs["data"].values()
        assert json.loads(body)["panels"]
    assert values["dashboards"]["nvidia"]["dcgm-exporter"]["url"] == mon.DCGM_DASHBOARD_URL
    assert values["admin"]["existingSecret"] == mon.GRAFANA_ADMIN_SECRET
    assert "adminPassword" not in values


# ---- alert routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_team_receives_its_own_alerts_and_only_those(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    plan = plan_of(stack)
    am = _release(plan, mon.CHART).inputs["values"]["alertmanager"]["config"]
    # platform namespaces (the JobSet / LWS controllers') carry team=platform for cost allocation: not a tenant
    team_ns = {
        (r.inputs["metadata"].get("labels") or {}).get(cv.TEAM_LABEL): r.inputs["metadata"]["name"]
        for r in plan.by_type("kubernetes:core/v1:Namespace")
        if (r.inputs["metadata"].get("labels") or {}).get(cv.TEAM_LABEL) not in (None, cv.PLATFORM_TEAM)
    }
    platform = set(plan.config.budget.alert_emails)
    teams = {t.name: t for t in plan.config.teams}
    assert set(team_ns) == set(teams)
    alerts = [*(r["alert"] for g in gpu_monitoring.gpu_rules() for r in g["rules"]), "TeamSpendOverBudget", "KubePodCrashLooping"]
    for name, ns in team_ns.items():
        assert name is not None
        own = {teams[name].email} if teams[name].email else platform
        for alert in alerts:
            got = alert_routing.addresses_for(am, {"alertname": alert, "namespace": ns, "severity": "warning"})
            assert got == own, f"{stack}: {alert} in {ns} went to {got}"
            others = {t.email for n, t in teams.items() if n != name and t.email} - own
            assert not got & others
    # platform alerts (no team namespace) reach the platform only
    for labels in ({"alertname": "GpuXidError", "Hostname": "n1"}, {"alertname": "KubeNodeNotReady", "namespace": "kube-system"}):
        assert alert_routing.addresses_for(am, labels) == platform
    assert alert_routing.addresses_for(am, {"alertname": "Watchdog"}) == set()


def test_routing_evaluator_follows_alertmanager_semantics() -> None:
    route = {
        "receiver": "root",
        "routes": [
            {"receiver": "a", "matchers": ['namespace=~"team-.*"'], "continue": True},
            {"receiver": "b", "matchers": ['namespace="team-b"']},
            {"receiver": "c", "matchers": ['severity!="info"'], "routes": [{"receiver": "d", "matchers": ['x="1"']}]},
        ],
    }
    assert alert_routing.receivers_for(route, {"namespace": "team-b"}) == ["a", "b"]
    assert alert_routing.receivers_for(route, {"namespace": "team-z", "severity": "info"}) == ["a"]
    assert alert_routing.receivers_for(route, {"severity": "warning"}) == ["c"]
    assert alert_routing.receivers_for(route, {"severity": "warning", "x": "1"}) == ["d"]
    assert alert_routing.receivers_for(route, {"severity": "info"}) == ["root"]


def test_smtp_password_reaches_alertmanager_only_as_a_secret_file() -> None:
    raw = raw_config("dev")
    raw["monitoring"] = {
        "smtp": {"host": "smtp.example.com:587", "sender": "alerts@example.com", "username": "relay", "password": "hunter2-smtp"}
    }
    with pytest.raises(config.ConfigError, match=r"monitoring.smtp.password: is plain text"):
        config.parse(raw, secret_keys=[])
    resources, _ = engine.run_program("dev", raw, ["monitoring"])
    dumped = json.dumps([r.to_json() for r in resources])
    assert "hunter2-smtp" not in dumped
    (kps,) = [r for r in resources if r.type == RELEASE and r.inputs.get("chart") == mon.CHART]
    am = kps.inputs["values"]["alertmanager"]
    assert am["config"]["global"]["smtp_auth_password_file"] == mon.SMTP_PASSWORD_FILE
    assert am["alertmanagerSpec"]["secrets"] == [mon.SMTP_SECRET]
    (secret,) = [
        r for r in resources if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"]["name"] == mon.SMTP_SECRET
    ]
    assert secret.inputs["stringData"] == "[secret]"
    assert _waits_for_names(resources, kps, secret.urn)


def _waits_for_names(resources: list[Any], res: Any, urn: str) -> bool:
    return urn in res.dependencies


# ---- team budgets that can fire ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_team_budget_filters_on_a_dimension_the_teams_workloads_carry(
    plan_of: Callable[[str], engine.Plan], stack: str
) -> None:
    plan = plan_of(stack)
    team_ns = {
        (r.inputs["metadata"].get("labels") or {}).get(cv.TEAM_LABEL): r.inputs["metadata"]["name"]
        for r in plan.by_type("kubernetes:core/v1:Namespace")
    }
    budgeted = [t for t in plan.config.teams if t.budget_usd is not None]
    rules = [r for res in plan.by_type(PROM_RULE) for g in res.inputs["spec"]["groups"] for r in g["rules"] if "alert" in r]
    for team in budgeted:
        ns = team_ns[team.name]  # the team's workloads run here: Kueue and the quota admit them only there
        mine = [r for r in rules if r["alert"] == "TeamSpendOverBudget" and r["labels"].get("team") == team.name]
        assert len(mine) == 1, f"{stack}: team {team.name} has no budget alert"
        assert f'namespace="{ns}"' in mine[0]["expr"] and mine[0]["labels"]["namespace"] == ns
        assert mine[0]["expr"].endswith(f"> {team.budget_usd:g}")
        assert plan.outputs["teamBudgets"][team.name]["dimension"]["namespace"] == ns
    # a cloud budget filtered on a team tag must have something carrying the tag; nothing costly does
    for b in plan.by_type("aws:budgets/budget:Budget"):
        assert not b.inputs.get("costFilters"), f"{stack}: {b.name} filters on a tag no GPU spend carries"
    for b in plan.by_type("gcp:billing/budget:Budget"):
        assert "labels" not in b.inputs["budgetFilter"], f"{stack}: {b.name} filters on a label the billing data of pods lacks"


# ---- config mistakes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "monitoring", "path", "words"),
    [
        ("onprem", {"backend": "managed"}, "monitoring.backend", "allowed on cloud 'existing': inCluster, none"),
        ("dev", {"backend": "prometheus"}, "monitoring.backend", "'inCluster', 'managed' or 'none'"),
        ("dev", {"backend": "none", "opencost": False}, "monitoring.backend", "allowed: inCluster"),
        ("prod", {"backend": "managed", "opencost": False}, "monitoring.backend", "nothing to fire from"),
        ("dev", {"backend": "none"}, "monitoring.opencost", "opencost: false"),
        ("dev", {"retention": "forever"}, "monitoring.retention", "forever"),
        ("gcp-dev", {"costAllocationTags": True}, "monitoring.costAllocationTags", "on cloud 'gcp' leave it false"),
        ("dev", {"billingDataset": "x"}, "monitoring.billingDataset", "not on cloud 'aws'"),
        ("dev", {"smtp": {"host": "smtp.example.com", "sender": "a@example.com"}}, "monitoring.smtp.host", "smtp.example.com"),
        (
            "dev",
            {"smtp": {"host": "smtp.example.com:25", "sender": "a@example.com", "username": "u"}},
            "monitoring.smtp.password",
            "required",
        ),
    ],
)
def test_bad_monitoring_config_names_key_value_and_allowed(stack: str, monitoring: dict, path: str, words: str) -> None:
    raw = raw_config(stack)
    raw["monitoring"] = monitoring
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw, secret_keys=["cluster"] if stack == "onprem" else [])
    problems = err.value.problems
    assert any(p == f"ml-platform:{path}" and words in reason for p, reason in problems), problems


def test_bad_monitoring_config_exits_2_without_a_traceback(write_stack) -> None:
    stack_file = write_stack("dev", monitoring={"backend": "none"})
    result = run_cli("plan", "--stack", "case", "--stacks-dir", str(stack_file.parent))
    assert result.returncode == 2, result.stderr
    assert "ml-platform:monitoring.opencost" in result.stderr and "Traceback" not in result.stderr


def test_backend_none_emits_no_monitoring_crs() -> None:
    raw = raw_config("onprem")
    for team in raw.get("teams", []):
        team.pop("budgetUsd", None)
    raw["monitoring"] = {"backend": "none", "opencost": False}
    resources, outputs = engine.run_program("onprem", raw, ["cluster"])
    assert not [r for r in resources if r.type.startswith("kubernetes:monitoring.coreos.com")]
    gpu = [r for r in resources if r.type == RELEASE and r.inputs.get("chart") == "gpu-operator"]
    assert all(not g.inputs["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] for g in gpu)
    kueue = [r for r in resources if r.type == RELEASE and r.inputs.get("chart") == "kueue"]
    assert all(k.inputs["values"]["enablePrometheus"] is False for k in kueue)
    assert outputs["monitoringBackend"] == "none"


def test_budget_rules_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        cost_alerts.budget_rules({"t": ("t", 0.0)})
    with pytest.raises(ValueError, match="one team"):
        alert_routing.alertmanager_config(
            alert_routing.RoutingArgs(teams=(alert_routing.TeamRoute("a", "x"), alert_routing.TeamRoute("b", "x")))
        )
    assert k8s_monitoring.team_budget_mechanisms(config.load_stack("dev"))["research"]["mechanism"] == "chargeback-alert"


# ---- managed backends ------------------------------------------------------------------------------


def _managed(stack: str, secret_keys: list[str] | None = None, **extra: Any) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    raw = raw_config(stack)
    for team in raw.get("teams", []):
        team.pop("budgetUsd", None)
    raw["monitoring"] = {"backend": "managed", "opencost": False, **extra}
    config.parse(raw, secret_keys=secret_keys or [])
    resources, outputs = engine.run_program(stack, raw, secret_keys or [])
    return resources, outputs, raw


def test_aws_managed_backend_is_amp_with_its_collector_rules_and_team_routing() -> None:
    import yaml

    resources, outputs, raw = _managed("dev")
    of = lambda t: [r for r in resources if r.type == t]  # noqa: E731
    assert not [r for r in resources if r.type.startswith("kubernetes:monitoring.coreos.com")], "no prometheus-operator CRDs here"
    assert not [r for r in resources if r.type == RELEASE and r.inputs.get("chart") in (mon.CHART, oc.CHART)]
    (gpu,) = [r for r in resources if r.type == RELEASE and r.inputs.get("chart") == "gpu-operator"]
    assert gpu.inputs["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is False
    (ws,) = of("aws:amp/workspace:Workspace")
    (scraper,) = of("aws:amp/scraper:Scraper")
    (cluster,) = of("aws:eks/cluster:Cluster")
    assert scraper.inputs["source"]["eks"]["clusterArn"].endswith(":cluster/" + cluster.inputs["name"])
    assert len(scraper.inputs["source"]["eks"]["subnetIds"]) >= 2
    scrape = yaml.safe_load(scraper.inputs["scrapeConfiguration"])
    dcgm = next(j for j in scrape["scrape_configs"] if j["job_name"] == "dcgm-exporter")
    assert dcgm["honor_labels"] is True
    (entry,) = [e for e in of("aws:eks/accessEntry:AccessEntry") if e.inputs.get("userName") == "aps-collector-user"]
    assert "AWSServiceRoleForAmazonPrometheusScraper" in entry.inputs["principalArn"]
    (binding,) = [
        b
        for b in of("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        if b.inputs["metadata"]["name"] == "aps-collector-role"
    ]
    assert binding.inputs["subjects"][0]["name"] == "aps-collector-user"
    (rules,) = of("aws:amp/ruleGroupNamespace:RuleGroupNamespace")
    alerts = {r.get("alert") for g in yaml.safe_load(rules.inputs["data"])["groups"] for r in g["rules"]}
    assert "GpuAllocatedButIdle" in alerts
    (am,) = of("aws:amp/alertManagerDefinition:AlertManagerDefinition")
    amc = yaml.safe_load(yaml.safe_load(am.inputs["definition"])["alertmanager_config"])
    topics = {t.urn: t for t in of("aws:sns/topic:Topic")}
    subs = of("aws:sns/topicSubscription:TopicSubscription")
    by_topic: dict[str, set[str]] = {}
    for sub in subs:
        by_topic.setdefault(sub.inputs["topic"], set()).add(sub.inputs["endpoint"])
    arn_of = {r["name"]: r["sns_configs"][0]["topic_arn"] for r in amc["receivers"] if r.get("sns_configs")}
    assert len(topics) == len(arn_of)
    for team in raw["teams"]:
        (receiver,) = alert_routing.receivers_for(amc["route"], {"alertname": "GpuAllocatedButIdle", "namespace": team["name"]})
        assert by_topic[arn_of[receiver]] == {team["email"]}
    assert ws.inputs["alias"].startswith("mlp-dev")
    assert outputs["monitoringBackend"] == "managed"
    # providers through the component's opts: AWS resources on the AWS provider, RBAC on the cluster's
    assert "pulumi:providers:aws::aws::" in ws.provider and "pulumi:providers:kubernetes::" in binding.provider


def test_managed_prometheus_args_refuse_receivers_outside_the_routing_tree() -> None:
    from components.aws.managed_prometheus import ManagedPrometheusArgs

    routing = {"route": {"receiver": "platform"}, "receivers": [{"name": "platform"}]}
    common: dict[str, Any] = dict(
        cluster_name="c", cluster_arn="a", subnet_ids=[], security_group_id="sg", rule_groups=[], alertmanager=routing
    )
    ManagedPrometheusArgs(**common, emails_by_receiver={"platform": ["a@example.com"]}, region="us-east-1")
    with pytest.raises(ValueError, match="not receivers"):
        ManagedPrometheusArgs(**common, emails_by_receiver={"team-x": ["a@example.com"]}, region="us-east-1")
    with pytest.raises(ValueError, match="no e-mail"):
        ManagedPrometheusArgs(**common, emails_by_receiver={"platform": []}, region="us-east-1")
    with pytest.raises(ValueError, match="region"):
        ManagedPrometheusArgs(**common, emails_by_receiver={}, region="")


def test_gcp_managed_backend_uses_google_managed_prometheus_crs() -> None:
    resources, _, raw = _managed(
        "gcp-prod",
        secret_keys=["monitoring"],
        smtp={"host": "smtp.example.com:587", "sender": "a@example.com", "username": "u", "password": "smtp-pw-xyz"},
    )
    assert "smtp-pw-xyz" not in json.dumps([r.to_json() for r in resources])
    assert not [r for r in resources if r.type.startswith("kubernetes:monitoring.coreos.com")]
    (rules,) = [r for r in resources if r.type == "kubernetes:monitoring.googleapis.com/v1:ClusterRules"]
    assert {r.get("alert") for g in rules.inputs["spec"]["groups"] for r in g["rules"]} >= {"GpuAllocatedButIdle", "GpuXidError"}
    (secret,) = [
        r
        for r in resources
        if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"] == {"name": "alertmanager", "namespace": "gmp-public"}
    ]
    assert secret.inputs["stringData"] == "[secret]"
    pods = [r for r in resources if r.type == "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"]
    gpu_operator = config.parse(raw, secret_keys=["monitoring"]).gpu_operator_enabled
    assert bool(pods) == gpu_operator  # without the operator GKE's managed DCGM is collected by GKE itself
    (cluster,) = [r for r in resources if r.type == "gcp:container/cluster:Cluster"]
    assert cluster.inputs["monitoringConfig"]["managedPrometheus"]["enabled"] is True
    assert gpu_operator or "DCGM" in cluster.inputs["monitoringConfig"]["enableComponents"]


# ---- cost data the clouds keep ------------------------------------------------------------------------


def test_aws_cost_allocation_tags_are_activated_on_request_only(plan_of: Callable[[str], engine.Plan]) -> None:
    assert not plan_of("dev").by_type("aws:costexplorer/costAllocationTag:CostAllocationTag"), (
        "activation fails before the tags bill"
    )
    raw = raw_config("dev")
    raw["monitoring"] = {"costAllocationTags": True}
    resources, _ = engine.run_program("dev", raw, [])
    tags = {
        r.inputs["tagKey"]: r.inputs["status"]
        for r in resources
        if r.type == "aws:costexplorer/costAllocationTag:CostAllocationTag"
    }
    assert tags == {cv.TAG_TEAM: "Active", cv.TAG_COST_CENTER: "Active", cv.TAG_ENVIRONMENT: "Active", cv.TAG_PROJECT: "Active"}


def test_gcp_billing_export_dataset_is_created_and_protected_in_prod(plan_of: Callable[[str], engine.Plan]) -> None:
    plan = plan_of("gcp-prod")
    dataset = plan.config.monitoring.billing_dataset
    assert dataset, "gcp-prod exports billing to BigQuery"
    (ds,) = plan.by_type("gcp:bigquery/dataset:Dataset")
    assert ds.inputs["datasetId"] == dataset
    assert ds.protect and ds.retain_on_delete and not ds.inputs.get("deleteContentsOnDestroy")
    (api,) = [r for r in plan.by_type("gcp:projects/service:Service") if r.inputs["service"] == "bigquery.googleapis.com"]
    assert api.urn in ds.dependencies
    assert plan.outputs["billingExportDataset"].endswith("." + dataset)


GPU_STACKS = [s for s in STACKS if config.load_stack(s).gpu_pools]
"""Stacks with GPU pools (a fleet manager has none: its jobs run on the workers)."""


@pytest.mark.parametrize("stack", GPU_STACKS)
def test_gpu_metrics_are_collected_and_alerted_on_in_every_stack(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    plan = plan_of(stack)
    gpu = _release(plan, "gpu-operator")
    alerts = lambda res: {r.get("alert") for g in res.inputs["spec"]["groups"] for r in g["rules"]}  # noqa: E731
    if gpu is not None:  # the operator's DCGM exporter, scraped by the in-cluster Prometheus
        assert gpu.inputs["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is True
        assert any("GpuAllocatedButIdle" in alerts(r) for r in plan.by_type(PROM_RULE))
    else:  # GKE's managed DCGM reports to Google Managed Prometheus: the GPU alerts are rules there
        (cluster,) = plan.by_type("gcp:container/cluster:Cluster")
        assert "DCGM" in cluster.inputs["monitoringConfig"]["enableComponents"]
        assert cluster.inputs["monitoringConfig"]["managedPrometheus"]["enabled"] is True
        (rules,) = plan.by_type("kubernetes:monitoring.googleapis.com/v1:ClusterRules")
        assert "GpuAllocatedButIdle" in alerts(rules)
        (am,) = [r for r in plan.by_type("kubernetes:core/v1:Secret") if r.inputs["metadata"].get("namespace") == "gmp-public"]
        assert am.inputs["stringData"] == "[secret]"


def test_google_managed_prometheus_crs_validate_against_the_pinned_crds(
    plan_of: Callable[[str], engine.Plan], upstream: Path
) -> None:
    crds = upstream / "google-managed-prometheus" / "crds"
    if not crds.is_dir():
        pytest.skip(f"GMP CRDs not pinned in {upstream}: run `make upstream` (tests/fetch_upstream.py lists them)")
    rules = crd_validator(crds / "monitoring.googleapis.com_clusterrules.yaml", "v1")
    resources, _, _ = _managed("gcp-prod")
    found = [r for r in resources if r.type.startswith("kubernetes:monitoring.googleapis.com")]
    found += plan_of("gcp-prod").by_type("kubernetes:monitoring.googleapis.com/v1:ClusterRules")
    for res in found:
        kind = res.type.rsplit(":", 1)[-1]
        validator = (
            rules if kind == "ClusterRules" else crd_validator(crds / "monitoring.googleapis.com_podmonitorings.yaml", "v1")
        )
        doc = {
            "apiVersion": "monitoring.googleapis.com/v1",
            "kind": kind,
            **{k: v for k, v in res.inputs.items() if k not in ("apiVersion", "kind")},
        }
        assert not schema_errors(validator, doc), res.name


def _labels_in(expr: str, clause: str) -> set[str]:
    """Labels of every ``<clause>(...)`` in a PromQL expression (``on``, ``group_left``, ``by``)."""
    return {
        label.strip() for m in re.finditer(rf"\b{clause}\s*\(([^)]*)\)", expr) for label in m.group(1).split(",") if label.strip()
    }


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_the_idle_gpu_alert_names_the_notebook_user(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    """kube-state-metrics exports the notebook pods' user label, the alert joins it onto the idle GPU by pod, and the
    summary names the user; a GPU of a pod without kube-state-metrics series still alerts (the ``or`` arm)."""
    from components.k8s import jupyterhub as jh

    plan = plan_of(stack)
    chart = _release(plan, mon.CHART)
    allow = chart.inputs["values"]["kube-state-metrics"]["metricLabelsAllowlist"]
    pods = [entry for entry in allow if entry.startswith("pods=")]
    assert pods == [f"pods=[{cv.USER_LABEL}]"]
    assert jh.USER_LABEL == cv.USER_LABEL  # the label the spawn hook puts on notebook pods
    (rule,) = [r for r in plan.by_type(PROM_RULE) if r.inputs["metadata"]["name"] == gpu_monitoring.RULE_NAME]
    idle = next(r for g in rule.inputs["spec"]["groups"] for r in g["rules"] if r.get("alert") == "GpuAllocatedButIdle")
    user = "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", cv.USER_LABEL)  # kube-state-metrics' label name
    assert user == "label_ml_platform_io_user"
    joined, fallback = idle["expr"].split(" or on(")
    assert "kube_pod_labels" in joined and "DCGM_FI_DEV_GPU_UTIL" in joined and "kube_pod_labels" not in fallback
    assert _labels_in(joined, "group_left") == {user}
    assert {"namespace", "pod"} <= _labels_in(joined, "on") and user in _labels_in(joined, "by")
    assert f"$labels.{user}" in idle["annotations"]["summary"]
    assert metric_names(idle["expr"]) <= KSM | DCGM_DEFAULT_COUNTERS
