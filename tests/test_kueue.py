"""Kueue: the pinned chart and values, every Kueue object valid against the pinned CRDs, a flavor per
GPU pool, a ClusterQueue per team with the configured quotas in one cohort, LocalQueues and
WorkloadPriorityClasses matching the PriorityClasses."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from catalog import conventions as cv
from catalog import gpus as catalog
from components.k8s import kueue
from infra import config
from infra.layers import k8s_teams
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests import chart_values
from tests.helpers import STACKS, raw_config

KINDS = ("ResourceFlavor", "ClusterQueue", "LocalQueue", "Cohort", "WorkloadPriorityClass")
TEAM_STACKS = [s for s in STACKS if raw_config(s).get("teams") and config.load_stack(s).fleet.role != "manager"]
"""Stacks with teams whose queues admit on their own nodes (a fleet manager's queues dispatch to its workers
through one ``fleet`` flavor holding the workers' quotas summed: tests/test_fleet.py)."""
LOCAL_QUEUE_STACKS = TEAM_STACKS
CRD_FILES = {
    "ResourceFlavor": "kueue.x-k8s.io_resourceflavors.yaml",
    "ClusterQueue": "kueue.x-k8s.io_clusterqueues.yaml",
    "LocalQueue": "kueue.x-k8s.io_localqueues.yaml",
    "Cohort": "kueue.x-k8s.io_cohorts.yaml",
    "WorkloadPriorityClass": "kueue.x-k8s.io_workloadpriorityclasses.yaml",
}


def _objects(plan: engine.Plan, kind: str) -> list[RecordedResource]:
    return plan.by_type(f"kubernetes:{kueue.API_VERSION}:{kind}")


def _release(plan: engine.Plan) -> RecordedResource:
    [rel] = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "kueue"]
    return rel


def _strategy(plan: engine.Plan) -> str:
    return "single" if plan.config.cloud == "gcp" else plan.config.gpu_operator.mig_strategy


# ---- chart pin and values -------------------------------------------------------------------------


def test_chart_version_is_the_pinned_upstream_version(upstream: Path, plan_of) -> None:
    assert kueue.CHART_VERSION == chart_values.chart_version(upstream / "kueue" / "Chart.yaml")
    rel = _release(plan_of("prod"))
    assert rel.inputs["version"] == kueue.CHART_VERSION and rel.inputs["chart"] == kueue.CHART
    assert rel.inputs["namespace"] == cv.NS_KUEUE


def test_values_keys_exist_in_the_upstream_chart(upstream: Path, plan_of) -> None:
    for stack in ("prod", "dev"):
        chart_values.assert_keys_exist(_release(plan_of(stack)).inputs["values"], upstream / "kueue" / "values.yaml")


def test_manager_config_keeps_the_chart_defaults_and_manages_team_namespaces(upstream: Path, plan_of) -> None:
    upstream_values = yaml.safe_load((upstream / "kueue" / "values.yaml").read_text())
    theirs = yaml.safe_load(upstream_values["managerConfig"]["controllerManagerConfigYaml"])
    ours = yaml.safe_load(_release(plan_of("prod")).inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    for key, value in theirs.items():
        if isinstance(value, dict):  # nothing of the chart's default configuration is lost (additions allowed)
            assert {k: ours[key].get(k) for k in value} == value, key
        else:
            assert ours[key] == value, key
    assert ours["metrics"]["enableClusterQueueResources"] is True  # the Kueue dashboard's quota gauges
    assert ours["manageJobsWithoutQueueName"] is True
    assert ours["managedJobsNamespaceSelector"] == {"matchExpressions": [{"key": cv.TEAM_LABEL, "operator": "Exists"}]}


def test_image_is_the_released_one_and_prod_runs_two_replicas(plan_of) -> None:
    prod = _release(plan_of("prod")).inputs["values"]["controllerManager"]
    assert prod["manager"]["image"]["tag"] == f"v{kueue.CHART_VERSION}"
    assert prod["manager"]["image"]["repository"].startswith("registry.k8s.io/")
    assert prod["replicas"] == 2 and prod["podDisruptionBudget"]["enabled"] is True
    dev = _release(plan_of("dev")).inputs["values"]["controllerManager"]
    assert dev["replicas"] == 1 and dev["podDisruptionBudget"]["enabled"] is False


# ---- every object validates against the pinned CRDs ------------------------------------------------


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_every_kueue_object_validates_against_the_upstream_crd(upstream: Path, plan_of, stack: str) -> None:
    plan = plan_of(stack)
    version = kueue.API_VERSION.split("/")[1]
    checked = 0
    for kind in KINDS:
        validator = chart_values.crd_validator(upstream / "kueue" / "crds" / CRD_FILES[kind], version)
        for obj in _objects(plan, kind):
            errors = chart_values.schema_errors(validator, obj.inputs)
            assert not errors, (kind, obj.name, errors)
            checked += 1
    assert checked >= 1 + len(plan.config.gpu_pools) + 2 * len(plan.config.teams) + len(cv.PRIORITY_CLASSES)


def test_schema_check_catches_a_bad_preemption_policy(upstream: Path) -> None:
    validator = chart_values.crd_validator(upstream / "kueue" / "crds" / CRD_FILES["ClusterQueue"], "v1beta2")
    spec = kueue.cluster_queue_spec(
        kueue.TeamQueue(team="t", namespace="t", groups=[kueue.ResourceGroup(("cpu",), {"default": {"cpu": kueue.Quota(1)}})]),
        "c",
    )
    good = {"apiVersion": kueue.API_VERSION, "kind": "ClusterQueue", "metadata": {"name": "t"}, "spec": spec}
    assert not chart_values.schema_errors(validator, good)
    spec["preemption"]["withinClusterQueue"] = "Always"
    assert chart_values.schema_errors(validator, good)


# ---- flavors, queues, quotas ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", LOCAL_QUEUE_STACKS)
def test_a_flavor_per_gpu_pool_with_its_labels_and_toleration(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    flavors = {f.inputs["metadata"]["name"]: f.inputs.get("spec") or {} for f in _objects(plan, "ResourceFlavor")}
    assert set(flavors) == {k8s_teams.CPU_FLAVOR} | {f"gpu-{p.name}" for p in plan.config.gpu_pools}
    for pool in plan.config.gpu_pools:
        spec = flavors[f"gpu-{pool.name}"]
        assert spec["nodeLabels"] == {cv.POOL_LABEL: pool.name}
        assert {"key": cv.GPU_TAINT_KEY, "operator": "Exists", "effect": cv.GPU_TAINT_EFFECT} in spec["tolerations"]
    assert not flavors[k8s_teams.CPU_FLAVOR].get("nodeLabels")


_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def _gpu_nodes(plan: engine.Plan) -> list[tuple[dict[str, str], list[dict[str, str]]]]:
    """(labels, taints) of every node shape the plan creates: Karpenter NodePools, EKS node groups, GKE node pools."""
    out = []
    for r in plan.resources:
        if r.type == "kubernetes:karpenter.sh/v1:NodePool":
            template = r.inputs["spec"]["template"]
            out.append((template["metadata"].get("labels") or {}, template["spec"].get("taints") or []))
        elif r.type in ("aws:eks/nodeGroup:NodeGroup", "gcp:container/nodePool:NodePool"):
            labels = r.inputs.get("labels") if r.type.startswith("aws") else (r.inputs.get("nodeConfig") or {}).get("labels")
            taints = r.inputs.get("taints") if r.type.startswith("aws") else (r.inputs.get("nodeConfig") or {}).get("taints")
            out.append((labels or {}, [{**t, "effect": _EFFECTS.get(t["effect"], t["effect"])} for t in taints or []]))
    return out


def _tolerates(tolerations: list[dict[str, str]], taint: dict[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]) or t.get("key") != taint["key"]:
            continue
        if t.get("operator") == "Exists" or t.get("value") == taint.get("value"):
            return True
    return False


@pytest.mark.parametrize("stack", ["prod", "staging", "gcp-prod", "gcp-dev"])
def test_each_gpu_flavor_lands_on_its_pool_nodes_and_tolerates_their_taints(plan_of, stack: str) -> None:
    """Kueue puts a flavor's nodeLabels and tolerations on admitted pods: they must select the pool's
    nodes (every node shape of the pool, fallback twins included) and tolerate their taints."""
    plan = plan_of(stack)
    nodes = _gpu_nodes(plan)
    checked = set()
    for flavor in _objects(plan, "ResourceFlavor"):
        spec = flavor.inputs.get("spec") or {}
        if not spec.get("nodeLabels"):
            continue
        checked.add(flavor.inputs["metadata"]["name"])
        matching = [(labels, taints) for labels, taints in nodes if spec["nodeLabels"].items() <= labels.items()]
        assert matching, (stack, flavor.name)
        for labels, taints in matching:
            assert labels[cv.POOL_LABEL] == flavor.inputs["metadata"]["name"].removeprefix("gpu-")
            assert taints, "GPU nodes are tainted"
            for taint in taints:
                assert _tolerates(spec.get("tolerations") or [], taint), (stack, flavor.name, taint)
    assert checked == {f"gpu-{p.name}" for p in plan.config.gpu_pools}, "every GPU pool's flavor selects its nodes"


def _quotas(cq: RecordedResource) -> dict[str, dict[str, tuple[Any, Any]]]:
    """resource -> flavor -> (nominal, borrowingLimit)."""
    out: dict[str, dict[str, tuple[Any, Any]]] = defaultdict(dict)
    for group in cq.inputs["spec"]["resourceGroups"]:
        for flavor in group["flavors"]:
            assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]
            for r in flavor["resources"]:
                out[r["name"]][flavor["name"]] = (r["nominalQuota"], r.get("borrowingLimit"))
    return out


@pytest.mark.parametrize("stack", LOCAL_QUEUE_STACKS)
def test_a_cluster_queue_per_team_with_the_configured_quotas(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    queues = {q.inputs["metadata"]["name"]: q for q in _objects(plan, "ClusterQueue")}
    assert set(queues) == {t.name for t in plan.config.teams}
    mixed = _strategy(plan) == "mixed"
    offers_gpu = any(not (p.mig_profile and mixed) for p in plan.config.gpu_pools)
    for team in plan.config.teams:
        cq = queues[team.name]
        quotas = _quotas(cq)
        assert quotas["cpu"] == {k8s_teams.CPU_FLAVOR: (team.quotas.cpu, 0)}
        assert quotas["memory"] == {k8s_teams.CPU_FLAVOR: (team.quotas.memory, 0)}
        borrow = team.gpu_borrowing_limit
        gpus = quotas.get(cv.GPU_RESOURCE, {})
        wanted = team.quotas.gpu if mixed else team.quotas.gpu + sum(team.quotas.mig.values())
        if offers_gpu:
            assert sum(n for n, _ in gpus.values()) == wanted, (team.name, gpus)
        assert all(b == borrow for _, b in gpus.values())
        if mixed:
            for profile, count in team.quotas.mig.items():
                mig = quotas[catalog.mig_resource_name(profile)]
                assert sum(n for n, _ in mig.values()) == count
        spec = cq.inputs["spec"]
        assert spec["namespaceSelector"] == {"matchLabels": {cv.TEAM_LABEL: team.name}}
        assert spec["preemption"]["reclaimWithinCohort"] == "Any"
        assert spec["preemption"]["withinClusterQueue"] == "LowerPriority"
    cohorts = {q.inputs["spec"]["cohortName"] for q in queues.values()}
    assert cohorts == {k8s_teams.COHORT}
    assert [c.inputs["metadata"]["name"] for c in _objects(plan, "Cohort")] == [k8s_teams.COHORT]


def test_prod_queues_spelled_out(plan_of) -> None:
    plan = plan_of("prod")
    queues = {q.inputs["metadata"]["name"]: _quotas(q) for q in _objects(plan, "ClusterQueue")}
    assert sum(n for n, _ in queues["llm"][cv.GPU_RESOURCE].values()) == 32
    assert {b for _, b in queues["llm"][cv.GPU_RESOURCE].values()} == {8}
    assert queues["vision"]["nvidia.com/mig-1g.5gb"]["gpu-train-a100-mig"] == (56, 8)
    assert queues["recsys"]["nvidia.com/mig-1g.5gb"]["gpu-train-a100-mig"] == (0, 0)
    assert sum(n for n, _ in queues["analytics"][cv.GPU_RESOURCE].values()) == 0
    # the MIG pool offers no whole GPUs under the mixed strategy
    assert "gpu-train-a100-mig" not in queues["llm"][cv.GPU_RESOURCE]


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_a_default_local_queue_in_each_team_namespace(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    local = {q.inputs["metadata"]["namespace"]: q.inputs for q in _objects(plan, "LocalQueue")}
    for team in plan.config.teams:
        assert local[team.name]["metadata"]["name"] == kueue.DEFAULT_LOCAL_QUEUE
        assert local[team.name]["spec"] == {"clusterQueue": team.name}


def test_workload_priority_classes_match_the_priority_classes(plan_of) -> None:
    plan = plan_of("prod")
    wpcs = {w.inputs["metadata"]["name"]: w.inputs["value"] for w in _objects(plan, "WorkloadPriorityClass")}
    pcs = {p.inputs["metadata"]["name"]: p.inputs["value"] for p in plan.by_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
    assert wpcs == cv.PRIORITY_CLASSES
    assert {k: pcs[k] for k in wpcs} == wpcs


def test_kueue_disabled_leaves_namespaces_and_quotas() -> None:
    raw = raw_config("dev")
    raw["kueue"] = {"enabled": False}
    resources, _ = engine.run_program("dev", raw, [])
    types = {r.type for r in resources}
    assert not [t for t in types if "kueue.x-k8s.io" in t]
    assert not [r for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "kueue"]
    assert "kubernetes:core/v1:ResourceQuota" in types


# ---- helpers and validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        (32, {"a": 32, "b": 64, "c": 4, "d": 32}),
        (7, {"a": 1, "b": 1, "c": 1}),
        (0, {"a": 5}),
        (5, {"a": 0, "b": 0}),
        (3, {"a": 8, "b": 1}),
    ],
)
def test_split_adds_up_and_follows_the_weights(total: int, weights: dict[str, int]) -> None:
    parts = kueue.split(total, weights)
    assert sum(parts.values()) == total and set(parts) == set(weights)
    weight_sum = sum(weights.values()) or len(weights)
    for k, w in weights.items():
        share = total * (w if sum(weights.values()) else 1) / weight_sum
        assert abs(parts[k] - share) < 1


def _queues(**changes: Any) -> None:
    def program() -> None:
        provider = k8s.Provider("k", kubeconfig="{}")
        args: dict[str, Any] = {
            "flavors": [kueue.Flavor("default")],
            "queues": [kueue.TeamQueue("t", "t", [kueue.ResourceGroup(("cpu",), {"default": {"cpu": kueue.Quota(1)}})])],
            **changes,
        }
        kueue.KueueQueues("q", kueue.KueueQueuesArgs(**args), pulumi.ResourceOptions(provider=provider))

    engine.run_program("unit", {}, [], program=program)


def test_queues_reject_undeclared_flavors_and_incomplete_groups() -> None:
    _queues()
    with pytest.raises(engine.PlanError, match="not declared"):
        _queues(queues=[kueue.TeamQueue("t", "t", [kueue.ResourceGroup(("cpu",), {"gpu-x": {"cpu": kueue.Quota(1)}})])])
    with pytest.raises(engine.PlanError, match="must list exactly"):
        _queues(
            queues=[kueue.TeamQueue("t", "t", [kueue.ResourceGroup(("cpu", "memory"), {"default": {"cpu": kueue.Quota(1)}})])]
        )
    with pytest.raises(engine.PlanError, match="duplicate teams"):
        q = kueue.TeamQueue("t", "t", [kueue.ResourceGroup(("cpu",), {"default": {"cpu": kueue.Quota(1)}})])
        _queues(queues=[q, q])


def test_queues_wait_for_the_kueue_release_and_its_crds(plan_of) -> None:
    plan = plan_of("prod")
    release = _release(plan).urn
    for kind in KINDS:
        assert _objects(plan, kind), kind
        for obj in _objects(plan, kind):
            assert release in obj.dependencies, (kind, obj.name)
