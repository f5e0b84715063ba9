"""Issue 19: current accelerators (Blackwell, H200, Trainium / Inferentia, T4, RTX PRO) plan, are priced in
the stack's region, and every wrong pool value is refused through the CLI with exit 2 and one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import gpus
from components.k8s import neuron
from infra.plan import engine
from tests.helpers import ROOT, stack_doc

# One wrong value per pool field (and the catalog mistakes of issue 19): field -> (base stack, value, words the
# one-line reason must contain). Each runs `python -m infra plan --stack` on a temp stack file.
WRONG_POOL_VALUES: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "name": ("dev", "Bad_Name", ("'Bad_Name'",)),
    "purpose": ("dev", "mining", ("'training'", "'mining'")),
    "gpu": ("dev", "A200", ("unknown GPU 'A200'", "B200", "Trainium2")),
    "instanceTypes": ("dev", ["p9.huge"], ("'p9.huge'", "g6.xlarge")),
    "capacity": ("dev", "cheap", ("'spot'",)),
    "mode": ("dev", "fargate", ("'karpenter'",)),
    "minNodes": ("dev", -1, ("-1",)),
    "maxNodes": ("dev", 0, ("0",)),
    "gpuLimit": ("dev", 0, ("0",)),
    "migProfile": ("dev", "1g.10gb", ("'1g.10gb'", "L4 has no MIG")),
    "timeSlicingReplicas": ("dev", 0, ("0",)),
    "diskGb": ("dev", 10, ("10",)),
    "amiFamily": ("dev", "ubuntu", ("'al2023'",)),
    "amiVersion": ("dev", "newest", ("'newest'",)),
    "expireAfter": ("dev", "soon", ("'soon'",)),
    "existingNodes": ("dev", -2, ("-2",)),
    "bogus": ("dev", 1, ("unknown key 'bogus'", "instanceTypes")),
}
CATALOG_MISTAKES: dict[str, tuple[str, dict[str, Any], str, tuple[str, ...]]] = {
    # name -> (base, pool overrides, key path suffix, words)
    "type of the wrong cloud (aws)": (
        "dev",
        {"gpu": None, "instanceTypes": ["a2-highgpu-1g"]},
        "instanceTypes[0]",
        ("GCE machine type", "cloud is aws", "g5.xlarge"),
    ),
    "type of the wrong cloud (gcp)": (
        "gcp-dev",
        {"gpu": None, "migProfile": None, "instanceTypes": ["g5.xlarge"]},
        "instanceTypes[0]",
        ("EC2 instance type", "cloud is gcp", "a2-highgpu-1g"),
    ),
    "GPU not on gcp": (
        "gcp-dev",
        {"gpu": "A10G", "instanceTypes": None, "migProfile": None, "gpuLimit": None},
        "gpu",
        ("not offered on gcp", "B200"),
    ),
    "GB200 refused": ("dev", {"gpu": "GB200", "gpuLimit": None}, "gpu", ("refused", "ComputeDomains", "use instead", "B200")),
    "p6e-gb200 refused": (
        "dev",
        {"gpu": None, "instanceTypes": ["p6e-gb200.36xlarge"]},
        "instanceTypes[0]",
        ("refused", "Capacity Blocks", "p6-b200.48xlarge"),
    ),
    "a4x refused": (
        "gcp-dev",
        {"gpu": None, "migProfile": None, "instanceTypes": ["a4x-highgpu-4g"]},
        "instanceTypes[0]",
        ("refused", "a4-highgpu-8g"),
    ),
    "A4 on demand": (
        "gcp-dev",
        {"gpu": "B200", "instanceTypes": None, "migProfile": None, "capacity": "on-demand", "gpuDirect": False},
        "capacity",
        ("not sold on demand", "allowed: spot"),
    ),
    "MIG profile B200 lacks": ("dev", {"gpu": "B200", "migProfile": "1g.10gb"}, "migProfile", ("'1g.10gb'", "1g.23gb")),
    "time-slicing a Trainium": (
        "dev",
        {"gpu": "Trainium2", "gpuLimit": None},
        "timeSlicingReplicas",
        ("NVIDIA device-plugin", "neuroncore"),
    ),
}


def _pool_stack(write_stack: Callable[..., Path], base: str, name: str, pool_index: int, overrides: dict[str, Any]) -> Path:
    doc = stack_doc(base)
    pools = doc["config"]["ml-platform:gpuPools"]
    for key, value in overrides.items():
        if value is None:
            pools[pool_index].pop(key, None)
        else:
            pools[pool_index][key] = value
    return write_stack(base, name, gpuPools=pools)


def _cases() -> list[tuple[str, str, dict[str, Any], str, tuple[str, ...]]]:
    out = [(f"field {f}", base, {f: v}, f, words) for f, (base, v, words) in WRONG_POOL_VALUES.items()]
    out += [(label, base, over, key, words) for label, (base, over, key, words) in CATALOG_MISTAKES.items()]
    return out


def test_every_pool_field_refuses_a_wrong_value_with_exit_2_and_one_line(
    write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each wrong value: exit 2, exactly one problem line naming the pool key and what is allowed.

    The CLI runs in-process (``infra.cli.main``, what ``python -m infra`` calls): an exception
    would escape into the test as the traceback a user would see. The next test runs one case
    as a real process.
    """
    from infra import cli

    failures = []
    for i, (label, base, over, key, words) in enumerate(_cases()):
        index = 0
        if key == "timeSlicingReplicas" and "gpu" in over:  # dev's pool 1 is the time-sliced one (g5 types)
            index, over = 1, {**over, "instanceTypes": None}
        keypath = f"gpuPools[{index}].{key}"
        path = _pool_stack(write_stack, base, f"bad{i}", index, over)
        code = cli.main(["plan", "--stack", f"bad{i}", "--stacks-dir", str(path.parent)])
        err = capsys.readouterr().err
        lines = [ln.strip() for ln in err.splitlines() if ln.strip().startswith("ml-platform:")]
        problem = (
            f"exit {code}"
            if code != 2
            else f"{len(lines)} problem lines: {lines}"
            if len(lines) != 1
            else f"key not {keypath}: {lines[0]}"
            if not lines[0].startswith(f"ml-platform:{keypath}")
            else f"missing {[w for w in words if w not in lines[0]]}: {lines[0]}"
            if any(w not in lines[0] for w in words)
            else None
        )
        if problem:
            failures.append(f"{label}: {problem}")
    assert not failures, "\n".join(failures)


def test_unknown_gpu_on_a_quota_pool_exits_2_as_a_process(write_stack: Callable[..., Path]) -> None:
    """The issue's crash: an unknown GPU on a pool without gpuLimit (the quota check sizes it) was a traceback, exit 1."""
    path = _pool_stack(write_stack, "dev", "crash", 0, {"gpu": "A200", "gpuLimit": None})
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "plan", "--stack", "crash", "--stacks-dir", str(path.parent)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip().startswith("ml-platform:")]
    assert len(lines) == 1 and lines[0].startswith("ml-platform:gpuPools[0].gpu: unknown GPU 'A200'"), lines


ACCEL_POOLS = [
    {"name": "train-trn2", "purpose": "training", "gpu": "Trainium2", "capacity": "on-demand", "maxNodes": 2},
    {
        "name": "serve-inf2",
        "purpose": "serving",
        "instanceTypes": ["inf2.xlarge", "inf2.8xlarge"],
        "capacity": "spot",
        "maxNodes": 4,
    },
    {"name": "train-b200", "purpose": "training", "gpu": "B200", "capacity": "spot", "maxNodes": 1, "migProfile": "1g.23gb"},
    {
        "name": "nb-t4",
        "purpose": "notebooks",
        "instanceTypes": ["g4dn.xlarge"],
        "capacity": "spot",
        "maxNodes": 2,
        "timeSlicingReplicas": 4,
    },
]


@pytest.fixture(scope="module")
def accel_plan(tmp_path_factory: pytest.TempPathFactory) -> engine.Plan:
    """One small dev stack in eu-central-1 with a pool per new AWS family (Trainium2, Inferentia2, B200 MIG, T4)."""
    doc = stack_doc("dev")
    cfg = doc["config"]
    cfg["ml-platform:region"] = "eu-central-1"
    cfg["ml-platform:gpuPools"] = ACCEL_POOLS
    cfg["ml-platform:teams"][0]["quotas"] = {"cpu": 32, "memory": "128Gi", "gpu": 1, "neuron": 16, "mig": {"1g.23gb": 28}}
    cfg["ml-platform:teams"][1]["quotas"] = {"cpu": 16, "memory": "64Gi", "gpu": 1, "neuron": 4}
    cfg["ml-platform:budget"]["monthlyUsd"] = 500_000
    d = tmp_path_factory.mktemp("accel")
    (d / "Pulumi.accel.yaml").write_text(yaml.safe_dump(doc))
    return engine.plan("accel", stacks_dir=d)


def _objects(plan: engine.Plan, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in plan.resources if r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}")]


def test_accelerator_stack_plans_without_mandatory_violations(accel_plan: engine.Plan) -> None:
    assert not accel_plan.mandatory_violations, accel_plan.mandatory_violations


def test_neuron_pools_get_neuron_taint_limit_and_the_neuron_ami_path(accel_plan: engine.Plan) -> None:
    pools = {p["metadata"]["name"]: p for p in _objects(accel_plan, "NodePool")}
    trn = pools["train-trn2"]["spec"]
    assert trn["limits"][gpus.NEURON_RESOURCE] == 32 and gpus.NVIDIA_RESOURCE not in trn["limits"]
    assert trn["template"]["spec"]["taints"] == [{"key": gpus.NEURON_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    labels = trn["template"]["metadata"]["labels"]
    assert labels["nvidia.com/gpu.deploy.operands"] == "false"  # the GPU operator stays off Neuron nodes
    b200 = pools["train-b200"]["spec"]
    assert b200["limits"][gpus.NVIDIA_RESOURCE] == 8
    assert b200["template"]["spec"]["taints"][0]["key"] == "nvidia.com/gpu"
    # the node class of a Neuron pool uses an alias the v1 EC2NodeClass CRD allows; Karpenter resolves its Neuron variant
    classes = {c["metadata"]["name"]: c for c in _objects(accel_plan, "EC2NodeClass")}
    ref = trn["template"]["spec"]["nodeClassRef"]["name"]
    assert classes[ref]["spec"]["amiSelectorTerms"][0]["alias"].split("@")[0] in ("al2023", "bottlerocket")


def test_neuron_chart_is_pinned_and_covers_every_neuron_type(accel_plan: engine.Plan, upstream: Path) -> None:
    from tests.chart_values import assert_keys_exist

    releases = [
        r.inputs
        for r in accel_plan.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart") == neuron.CHART
    ]
    assert len(releases) == 1
    release = releases[0]
    assert release["version"] == neuron.CHART_VERSION
    values = release["values"]
    assert set(values["neuronInstances"]) == {"trn2.48xlarge", "inf2.xlarge", "inf2.8xlarge"}
    assert values["scheduler"]["enabled"] is True
    # the second scheduler matches the 1.33 control plane (the chart's own image is v1.31)
    assert values["scheduler"]["customScheduler"]["image"]["tag"].startswith("v1.33.")
    assert_keys_exist(values, upstream / "neuron" / "values.yaml")
    chart_default = yaml.safe_load((upstream / "neuron" / "values.yaml").read_text())
    # the toleration of the platform's Neuron taint comes with the chart's device plugin
    assert any(t.get("key") == gpus.NEURON_TAINT_KEY for t in chart_default["devicePlugin"]["tolerations"])


def test_teams_get_neuron_quotas_and_kueue_flavors(accel_plan: engine.Plan) -> None:
    quotas = {
        q["metadata"]["namespace"]: q["spec"]["hard"]
        for q in _objects(accel_plan, "ResourceQuota")
        if "hard" in q.get("spec", {})
    }
    research = next(h for ns, h in quotas.items() if "research" in str(ns))
    assert int(research[f"requests.{gpus.NEURON_RESOURCE}"]) == 16
    assert int(research[f"requests.{gpus.NEURONCORE_RESOURCE}"]) == 16 * gpus.gpu_model("Trainium2").neuron_cores
    flavors = {f["metadata"]["name"]: f for f in _objects(accel_plan, "ResourceFlavor")}
    assert flavors["gpu-train-trn2"]["spec"]["tolerations"][0]["key"] == gpus.NEURON_TAINT_KEY
    queues = [q for q in _objects(accel_plan, "ClusterQueue") if "research" in q["metadata"]["name"]]
    groups = [g for g in queues[0]["spec"]["resourceGroups"] if gpus.NEURON_RESOURCE in g["coveredResources"]]
    assert groups and gpus.NEURONCORE_RESOURCE in groups[0]["coveredResources"]


def test_accelerator_stack_is_priced_in_its_region(accel_plan: engine.Plan) -> None:
    cost = accel_plan.cost
    assert cost["region"] == "eu-central-1" and cost["region_multiplier"] == gpus.region_multiplier("aws", "eu-central-1") > 1
    trn = cost["by_pool"]["train-trn2"]
    node = gpus.node_type("aws", "trn2.48xlarge")
    expected = node.hourly_usd(spot=False, region="eu-central-1") * 2 * 730
    assert trn["ceiling"] == pytest.approx(expected, rel=1e-3)
    assert trn["ceiling"] > node.hourly_usd(spot=False) * 2 * 730 * 1.1  # not the us-east-1 price
    assert any("eu-central-1" in i["basis"] for i in cost["by_item"] if i.get("pool") == "train-trn2")


GCP_POOLS = [
    # single-node pools (gpuDirect false: no GPUDirect VPCs; tests/test_gke_training.py covers them)
    {"name": "train-b200", "purpose": "training", "gpu": "B200", "capacity": "spot", "maxNodes": 1, "gpuDirect": False},
    {
        "name": "train-h200",
        "purpose": "training",
        "instanceTypes": ["a3-ultragpu-8g"],
        "capacity": "spot",
        "maxNodes": 1,
        "gpuDirect": False,
    },
    {"name": "serve-rtx", "purpose": "serving", "instanceTypes": ["g4-standard-48"], "capacity": "spot", "maxNodes": 2},
]


@pytest.fixture(scope="module")
def gcp_accel_plan(tmp_path_factory: pytest.TempPathFactory) -> engine.Plan:
    """One small GKE stack in europe-west4 with an A4 (B200), an A3 Ultra (H200) and a G4 (RTX PRO 6000) pool."""
    doc = stack_doc("gcp-dev")  # standalone: its fleet manager's stack file is not in the temp dir
    cfg = doc["config"]
    cfg["ml-platform:region"] = "europe-west4"
    cfg["ml-platform:gpuPools"] = GCP_POOLS
    cfg["ml-platform:teams"][0]["quotas"] = {"cpu": 32, "memory": "128Gi", "gpu": 8}
    cfg["ml-platform:budget"]["monthlyUsd"] = 500_000
    cfg.pop("ml-platform:fleet", None)  # a copy under another name is no member of gcp-dev's fleet
    d = tmp_path_factory.mktemp("gcpaccel")
    (d / "Pulumi.gcpaccel.yaml").write_text(yaml.safe_dump(doc))
    return engine.plan("gcpaccel", stacks_dir=d)


def test_gke_blackwell_h200_and_rtx_pools_plan_and_are_priced_in_region(gcp_accel_plan: engine.Plan) -> None:
    assert not gcp_accel_plan.mandatory_violations, gcp_accel_plan.mandatory_violations
    pools = {
        r.inputs["nodeConfig"]["machineType"]: r.inputs
        for r in gcp_accel_plan.resources
        if r.type == "gcp:container/nodePool:NodePool"
    }
    for machine, accelerator, count in (
        ("a4-highgpu-8g", "nvidia-b200", 8),
        ("a3-ultragpu-8g", "nvidia-h200-141gb", 8),
        ("g4-standard-48", "nvidia-rtx-pro-6000", 1),
    ):
        acc = pools[machine]["nodeConfig"]["guestAccelerators"][0]
        assert (acc["type"], acc["count"]) == (accelerator, count), machine
    cost = gcp_accel_plan.cost
    factor = gpus.region_multiplier("gcp", "europe-west4")
    assert cost["region"] == "europe-west4" and factor > 1
    b200 = gpus.node_type("gcp", "a4-highgpu-8g")
    assert cost["by_pool"]["train-b200"]["ceiling"] == pytest.approx(
        b200.hourly_usd(spot=True, region="europe-west4") * 730, rel=1e-3
    )


def test_budget_policy_prices_in_the_stack_region_offline_and_from_a_saved_plan(accel_plan: engine.Plan, tmp_path: Path) -> None:
    """The cost policy (mlp-cost-008) gets the region from the stack config and from a saved plan JSON."""
    import json

    from catalog import cost_model
    from infra import check, policy_hook
    from infra.plan import report

    overrides = policy_hook.plan_overrides(accel_plan.config)
    assert overrides[policy_hook.BUDGET_POLICY]["region"] == "eu-central-1"
    out = tmp_path / "plan.json"
    report.write_json(accel_plan, out)
    _, facts = check.load(json.loads(out.read_text()))
    assert facts["region"] == "eu-central-1"
    here = cost_model.totals(cost_model.estimate_items(accel_plan.resources, region="eu-central-1"))[1]
    there = cost_model.totals(cost_model.estimate_items(accel_plan.resources))[1]
    assert here > there * 1.2


def test_console_summary_shows_bracketed_keys_of_violation_messages(accel_plan: engine.Plan) -> None:
    """The summary table prints messages as text: ``spec.limits[aws.amazon.com/neuron]`` is not Rich markup."""
    from rich.console import Console

    from infra.plan import report

    assert any("[aws.amazon.com/neuron]" in v.message for v in accel_plan.violations)
    console = Console(record=True, width=400)
    report.print_summary(accel_plan, console)
    assert "spec.limits[aws.amazon.com/neuron]" in console.export_text()


def test_neuron_chart_on_a_cluster_you_bring_covers_every_type_of_the_model() -> None:
    """cloud: existing: the nodes may be any inf2 size, so the device plugin's affinity lists them all."""
    from catalog import pool_nodes
    from infra import config
    from infra.layers import k8s_gpu

    raw = {k.split(":", 1)[1]: v for k, v in stack_doc("onprem")["config"].items()}  # standalone: no teams, so no fleet
    raw.pop("notebooks", None)  # charged to teams; this check is about the Neuron chart alone
    raw["gpuPools"] = [{"name": "serve-inf2", "purpose": "serving", "gpu": "Inferentia2", "existingNodes": 2}]
    raw["teams"] = []
    raw.pop("fleet", None)  # a fleet worker needs teams; this check is about the Neuron chart alone
    cfg = config.parse(raw)
    assert k8s_gpu.neuron_instance_types(cfg) == sorted(n.name for n in gpus.node_types("aws", gpu="Inferentia2"))
    pool = cfg.gpu_pools[0]
    labels = pool_nodes.node_labels(
        pool=pool.name, purpose=pool.purpose, model=cfg.pool_gpu(pool)
    )  # what the admin puts on the nodes
    assert labels[pool_nodes.GPU_OPERATOR_OPERANDS_LABEL] == "false"
