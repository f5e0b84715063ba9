"""Large-scale training (issue 20): reserved capacity, EFA, placement, one zone, training-safe disruption.

One prod-like stack (``prod`` plus a reserved p5 pool with EFA and a placement group, and an EFA
A100 pool) is planned once for the module; the config refusals run the CLI in-process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from catalog import gpus as catalog
from components.aws import efa
from components.aws import karpenter as karpenter_mod
from infra.plan import engine
from tests.chart_values import assert_keys_exist, chart_version, crd_validator, schema_errors
from tests.conftest import ROOT

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
RESERVATION = "cr-0abc123def4567890"
P5_POOL = {
    "name": "train-p5-reserved",
    "purpose": "training",
    "instanceTypes": ["p5.48xlarge"],
    "capacity": "reserved-then-on-demand",
    "reservation": {"ids": [RESERVATION], "zone": "us-east-1a", "kind": "capacity-block", "nodes": 2, "hourlyUsd": 31.464},
    "efa": True,
    "placement": "cluster",
    "minNodes": 0,
    "maxNodes": 4,
}
EFA_POOL = {"name": "train-efa", "purpose": "training", "gpu": "A100-40GB", "efa": True, "zone": "us-east-1b", "minNodes": 0, "maxNodes": 2}


def training_config(base: str = "prod") -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{base}.yaml").read_text())
    doc["config"]["ml-platform:gpuPools"] = [*doc["config"]["ml-platform:gpuPools"], copy.deepcopy(P5_POOL), copy.deepcopy(EFA_POOL)]
    return doc


@pytest.fixture(scope="module")
def training_plan(tmp_path_factory: pytest.TempPathFactory) -> engine.Plan:
    path = tmp_path_factory.mktemp("stacks") / "Pulumi.prodtrain.yaml"
    path.write_text(yaml.safe_dump(training_config()))
    return engine.plan("prodtrain", stack_path=path)


def _cr(res: Any) -> dict[str, Any]:
    return {k: v for k, v in res.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}


def _one(plan: engine.Plan, type_: str, name: str) -> Any:
    found = [r for r in plan.by_type(type_) if r.name == name]
    assert len(found) == 1, [r.name for r in plan.by_type(type_)]
    return found[0]


def _requirement(pool: Any, key: str) -> list[str] | None:
    for req in pool.inputs["spec"]["template"]["spec"]["requirements"]:
        if req["key"] == key:
            return req["values"]
    return None


# ---- reserved capacity ---------------------------------------------------------------------------


def test_reserved_pool_takes_its_reservation_first_then_on_demand_in_its_zone(training_plan: engine.Plan) -> None:
    pool = _one(training_plan, NODEPOOL, "karpenter-pool-train-p5-reserved")
    assert _requirement(pool, "karpenter.sh/capacity-type") == ["reserved", "on-demand"]
    assert _requirement(pool, "topology.kubernetes.io/zone") == ["us-east-1a"]
    node_class = _one(training_plan, NODECLASS, "karpenter-gpu-pool-train-p5-reserved")
    assert pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"] == node_class.inputs["metadata"]["name"]
    assert node_class.inputs["spec"]["capacityReservationSelectorTerms"] == [{"id": RESERVATION}]
    # a pool without reservation keeps the shared class, which selects none
    shared = _one(training_plan, NODEPOOL, "karpenter-pool-train-h100")
    assert shared.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "gpu-al2023-200g"
    assert "reserved" not in _requirement(shared, "karpenter.sh/capacity-type")


def test_reserved_pool_outweighs_spot_and_on_demand_pools(training_plan: engine.Plan) -> None:
    weights = {p.inputs["metadata"]["name"]: p.inputs["spec"].get("weight") for p in training_plan.by_type(NODEPOOL)}
    assert weights["train-p5-reserved"] > max(w for n, w in weights.items() if n != "train-p5-reserved" and w is not None)


def test_karpenter_enables_reserved_capacity_and_node_repair_with_keys_of_the_chart(training_plan: engine.Plan, upstream: Path) -> None:
    release = _one(training_plan, RELEASE, "karpenter")
    gates = release.inputs["values"]["settings"]["featureGates"]
    assert gates["reservedCapacity"] is True and gates["nodeRepair"] is True
    upstream_gates = yaml.safe_load((upstream / "karpenter" / "values.yaml").read_text())["settings"]["featureGates"]
    assert set(gates) <= set(upstream_gates), set(gates) - set(upstream_gates)


def test_reserved_capacity_is_priced_as_already_paid_and_shown_apart(training_plan: engine.Plan) -> None:
    pools = training_plan.cost["by_pool"]
    p5 = pools["train-p5-reserved"]
    fixed = 2 * 31.464 * 730
    assert p5["reserved"] == pytest.approx(fixed, abs=0.01)
    assert p5["idle"] == pytest.approx(fixed, abs=0.01)  # paid even with no node running
    on_demand = catalog.node_type("aws", "p5.48xlarge").hourly_usd(spot=False, region="us-east-1")
    assert p5["ceiling"] == pytest.approx(fixed + 2 * on_demand * 730, abs=0.01)  # 4 nodes: 2 reserved + 2 on-demand
    assert all(e["reserved"] == 0 for name, e in pools.items() if name != "train-p5-reserved")
    assert training_plan.cost["monthly_usd_reserved"] == pytest.approx(fixed, abs=0.01)
    assert [i["reserved_usd_month"] for i in training_plan.cost["by_item"] if "reserved_usd_month" in i] == [round(fixed, 2)]


def test_a_pure_reservation_never_grows_past_it() -> None:
    from catalog import cost_model

    item = cost_model.pool_item(
        "u", "t", cloud="aws", pool="p", node_types=["p5.48xlarge"], spot=False, min_nodes=0, max_nodes=8, gpu_limit=None,
        reserved_nodes=3, fallback=False,
    )
    fixed = 3 * catalog.node_type("aws", "p5.48xlarge").hourly_usd(spot=False) * 730
    assert item.monthly_usd_idle == pytest.approx(fixed) and item.monthly_usd_ceiling == pytest.approx(fixed)
    assert item.gpus_ceiling == 24


# ---- EFA, placement, one zone ---------------------------------------------------------------------


def test_efa_pool_node_class_has_every_efa_interface_huge_pages_and_the_efa_group(training_plan: engine.Plan) -> None:
    p5 = _one(training_plan, NODECLASS, "karpenter-gpu-pool-train-p5-reserved").inputs["spec"]
    nics = p5["networkInterfaces"]
    assert sum(n["interfaceType"] == "efa-only" for n in nics) == catalog.node_type("aws", "p5.48xlarge").efa_interfaces == 32
    a100 = _one(training_plan, NODECLASS, "karpenter-gpu-pool-train-efa").inputs["spec"]
    assert sum(n["interfaceType"] == "efa-only" for n in a100["networkInterfaces"]) == 4  # p4d.24xlarge
    for spec in (p5, a100):
        assert f"vm.nr_hugepages = {efa.HUGEPAGES_2MI_PAGES}" in spec["userData"]
        ids = [t["id"] for t in spec["securityGroupSelectorTerms"] if "id" in t]
        assert len(ids) == 1 and any("tags" in t for t in spec["securityGroupSelectorTerms"])
    shared = _one(training_plan, NODECLASS, "karpenter-gpu-al2023-200g").inputs["spec"]
    assert "networkInterfaces" not in shared and "userData" not in shared


def _cel_network_interfaces(nics: list[dict[str, Any]]) -> list[str]:
    """The EC2NodeClass CRD's two CEL rules on networkInterfaces (jsonschema does not run CEL)."""
    errors = []
    if nics and not any(n["deviceIndex"] == 0 and n["networkCardIndex"] == 0 and n["interfaceType"] == "interface" for n in nics):
        errors.append("no primary interface")
    for n in nics:
        same = [m for m in nics if (m["networkCardIndex"], m["deviceIndex"]) == (n["networkCardIndex"], n["deviceIndex"])]
        efa_on_card = [m for m in nics if m["networkCardIndex"] == n["networkCardIndex"] and m["interfaceType"] == "efa-only"]
        if len(same) != 1 or (n["interfaceType"] == "efa-only" and len(efa_on_card) != 1):
            errors.append(f"duplicate slot or second EFA on card {n['networkCardIndex']}")
    return errors


@pytest.mark.upstream
def test_training_node_classes_and_pools_validate_against_the_crds(training_plan: engine.Plan, upstream: Path) -> None:
    crds = upstream / "karpenter" / "crds"
    classes = crd_validator(crds / "karpenter.k8s.aws_ec2nodeclasses.yaml", "v1")
    pools = crd_validator(crds / "karpenter.sh_nodepools.yaml", "v1")
    for res in training_plan.by_type(NODECLASS):
        assert not schema_errors(classes, _cr(res)), res.name
        assert not _cel_network_interfaces(res.inputs["spec"].get("networkInterfaces", [])), res.name
    for res in training_plan.by_type(NODEPOOL):
        assert not schema_errors(pools, _cr(res)), res.name
    # not vacuous: the schema and the CEL stand-in reject a broken class
    bad = copy.deepcopy(_cr(_one(training_plan, NODECLASS, "karpenter-gpu-pool-train-efa")))
    bad["spec"]["capacityReservationSelectorTerms"] = [{"id": "odcr-1"}]
    bad["spec"]["networkInterfaces"][1]["interfaceType"] = "efa"
    assert len(schema_errors(classes, bad)) == 2
    assert _cel_network_interfaces(efa.network_interfaces(4)[1:])
    assert _cel_network_interfaces([*efa.network_interfaces(2), {"networkCardIndex": 1, "deviceIndex": 2, "interfaceType": "efa-only"}])


def test_efa_security_group_allows_all_traffic_within_itself_and_the_classes_use_it(training_plan: engine.Plan) -> None:
    group = _one(training_plan, "aws:ec2/securityGroup:SecurityGroup", "karpenter-efa")
    rules = [
        *training_plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
        *training_plan.by_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"),
    ]
    own = [r for r in rules if r.name.startswith("karpenter-efa-")]
    assert {r.name for r in own} == {"karpenter-efa-self-in", "karpenter-efa-self-out"}
    for rule in own:
        assert rule.inputs["ipProtocol"] == "-1"
        assert rule.inputs["referencedSecurityGroupId"] == rule.inputs["securityGroupId"]
    node_class = _one(training_plan, NODECLASS, "karpenter-gpu-pool-train-efa")
    assert group.urn in node_class.dependencies


def test_placement_group_is_cluster_strategy_and_selected_by_the_pool_class(training_plan: engine.Plan) -> None:
    group = _one(training_plan, "aws:ec2/placementGroup:PlacementGroup", "karpenter-pg-train-p5-reserved")
    assert group.inputs["strategy"] == "cluster"
    node_class = _one(training_plan, NODECLASS, "karpenter-gpu-pool-train-p5-reserved")
    assert node_class.inputs["spec"]["placementGroupSelector"] == {"name": group.inputs["name"]}
    assert group.urn in node_class.dependencies
    assert "placementGroupSelector" not in _one(training_plan, NODECLASS, "karpenter-gpu-pool-train-efa").inputs["spec"]


@pytest.mark.upstream
def test_efa_device_plugin_is_pinned_runs_on_the_efa_types_and_sets_only_chart_keys(training_plan: engine.Plan, upstream: Path) -> None:
    release = _one(training_plan, RELEASE, "efa-device-plugin")
    assert release.inputs["version"] == efa.CHART_VERSION == chart_version(upstream / "aws-efa-k8s-device-plugin" / "Chart.yaml")
    values = release.inputs["values"]
    assert_keys_exist(values, upstream / "aws-efa-k8s-device-plugin" / "values.yaml")
    assert values["supportedInstanceLabels"]["values"] == ["p4d.24xlarge", "p5.48xlarge"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    upstream_types = yaml.safe_load((upstream / "aws-efa-k8s-device-plugin" / "values.yaml").read_text())["supportedInstanceLabels"]["values"]
    # every catalog type with EFA is one the chart knows
    assert {n.name for n in catalog.NODE_TYPES.values() if n.cloud == "aws" and n.efa_interfaces} <= set(upstream_types)


def test_node_monitoring_agent_is_installed_for_gpu_health(training_plan: engine.Plan) -> None:
    addon = _one(training_plan, "aws:eks/addon:Addon", "eks-node-monitoring-agent")
    assert addon.inputs["addonName"] == "eks-node-monitoring-agent"


# ---- training-safe disruption ---------------------------------------------------------------------


def test_training_pools_are_never_drifted_or_consolidated_while_busy(training_plan: engine.Plan) -> None:
    for pool in training_plan.by_type(NODEPOOL):
        spec = pool.inputs["spec"]
        purpose = spec["template"]["metadata"]["labels"]["ml-platform.io/purpose"]
        blocked = {r for b in spec["disruption"]["budgets"] if b["nodes"] == "0" for r in b.get("reasons", [])}
        if purpose == "training":
            assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty", pool.name
            assert blocked == {"Drifted", "Underutilized"}, pool.name
        else:
            assert not blocked, pool.name


# ---- config refusals --------------------------------------------------------------------------------

REFUSALS: dict[str, tuple[dict[str, Any], str, tuple[str, ...]]] = {
    "efa mixed with non-efa types": (
        {"instanceTypes": ["g4dn.xlarge", "g4dn.12xlarge"], "gpu": None, "reservation": None, "capacity": "on-demand",
         "placement": None, "zone": "us-east-1a"},
        "instanceTypes",
        ("g4dn.xlarge", "no EFA", "allowed:", "g4dn.12xlarge"),
    ),
    "reservation in another zone": ({"zone": "us-east-1c"}, "reservation.zone", ("us-east-1a", "us-east-1c", "allowed: us-east-1c")),
    "reserved without reservation": ({"reservation": None, "zone": "us-east-1a"}, "reservation", ("required", "reserved-then-on-demand")),
    "bad reservation id": (
        {"reservation": {**P5_POOL["reservation"], "ids": ["odcr-12"]}}, "reservation.ids[0]", ("odcr-12", "cr-"),
    ),
    "reservation on a spot pool": ({"capacity": "spot"}, "reservation", ("'spot'", "allowed with a reservation")),
    "efa without a zone": ({"reservation": None, "capacity": "on-demand", "placement": None}, "zone", ("required", "one availability zone")),
    "zone of another region": ({"zone": "eu-west-1a", "reservation": None, "capacity": "on-demand"}, "zone", ("eu-west-1a", "us-east-1")),
    "efa on a managed pool": ({"mode": "managed", "capacity": "reserved", "placement": None}, "efa", ("mode karpenter",)),
}


def test_training_pool_mistakes_exit_2_naming_the_key(write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    failures = []
    base = training_config()["config"]["ml-platform:gpuPools"]
    index = len(base) - 2  # the p5 pool
    for i, (label, (over, key, words)) in enumerate(REFUSALS.items()):
        pools = copy.deepcopy(base)
        for k, v in over.items():
            if v is None:
                pools[index].pop(k, None)
            else:
                pools[index][k] = v
        path = write_stack("prod", f"bad{i}", gpuPools=pools)
        code = cli.main(["plan", "--stack", f"bad{i}", "--stacks-dir", str(path.parent)])
        lines = [ln.strip() for ln in capsys.readouterr().err.splitlines() if ln.strip().startswith("ml-platform:")]
        keypath = f"ml-platform:gpuPools[{index}].{key}"
        if code != 2 or len(lines) != 1 or not lines[0].startswith(keypath + ":") or any(w not in lines[0] for w in words):
            failures.append(f"{label}: exit {code}, {lines} (wanted {keypath} with {words})")
    assert not failures, "\n".join(failures)


def test_gcp_refuses_aws_only_training_options(write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-prod.yaml").read_text())
    pools = doc["config"]["ml-platform:gpuPools"]
    pools[0] = {**pools[0], "efa": True, "zone": "europe-west4-a"}
    path = write_stack("gcp-prod", "gcpefa", gpuPools=pools)
    assert cli.main(["plan", "--stack", "gcpefa", "--stacks-dir", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert "ml-platform:gpuPools[0].efa: an AWS option" in err


# ---- components under mocks ---------------------------------------------------------------------------


def test_gke_reserved_pool_consumes_its_reservation_in_its_zone() -> None:
    from components.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs

    def program() -> None:
        GpuNodePool(
            "p",
            GpuNodePoolArgs(
                cluster="c", location="us-central1", pool="train", purpose="training", gpu_model="H100-80GB",
                machine_type="a3-highgpu-8g", accelerator_type="nvidia-h100-80gb", accelerator_count=8, max_nodes=2,
                service_account="sa@p.iam.gserviceaccount.com", reservations=("h100-block",), zone="us-central1-a",
            ),
        )

    resources, _ = engine.run_program("unit", {"cloud": "gcp", "environment": "dev"}, [], program=program)
    pool = next(r for r in resources if r.type == "gcp:container/nodePool:NodePool")
    assert pool.inputs["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["h100-block"],
    }
    assert pool.inputs["nodeLocations"] == ["us-central1-a"]
    assert pool.inputs["management"]["autoRepair"] is True
    with pytest.raises(ValueError, match="not spot"):
        GpuNodePoolArgs(
            cluster="c", location="l", pool="p", purpose="training", gpu_model="g", machine_type="m",
            accelerator_type="nvidia-l4", accelerator_count=1, max_nodes=1, service_account="s", spot=True, reservations=("r",),
        )


def test_managed_capacity_block_node_group_targets_its_reservation_and_repairs_nodes() -> None:
    import pulumi_aws as aws

    from components.aws.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs

    def program() -> None:
        GpuNodeGroup(
            "blk",
            GpuNodeGroupArgs(
                cluster_name="c", subnet_ids=["subnet-1"], instance_types=["p5.48xlarge"], capacity="reserved", min_nodes=2,
                max_nodes=2, capacity_reservation_id=RESERVATION, capacity_block=True,
            ),
            aws_provider=aws.Provider("aws", region="us-east-1"),
        )

    resources, _ = engine.run_program("unit", {"cloud": "aws", "environment": "dev", "region": "us-east-1"}, [], program=program)
    group = next(r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup")
    template = next(r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate")
    assert group.inputs["capacityType"] == "CAPACITY_BLOCK"
    assert group.inputs["nodeRepairConfig"] == {"enabled": True}
    assert template.inputs["capacityReservationSpecification"] == {"capacityReservationTarget": {"capacityReservationId": RESERVATION}}
    assert template.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    with pytest.raises(ValueError, match="capacity_reservation_id"):
        GpuNodeGroupArgs(cluster_name="c", subnet_ids=[], instance_types=["p5.48xlarge"], capacity="reserved", min_nodes=0, max_nodes=1).validate("x")


def test_network_interfaces_layout() -> None:
    assert efa.network_interfaces(0) == []
    nics = efa.network_interfaces(2)
    assert nics[0] == {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"}
    assert [(n["networkCardIndex"], n["interfaceType"]) for n in nics[1:]] == [(0, "efa-only"), (1, "efa-only")]
    assert '"vm.nr_hugepages" = "5120"' in efa.hugepages_user_data("bottlerocket")
    with pytest.raises(ValueError):
        karpenter_mod.NodePoolSpec(
            name="p", instance_types=["p5.48xlarge"], capacity_types=["on-demand"], labels={}, gpu_limit=8, cpu_limit=192, placement_group=True
        ).validate()
    assert pulumi  # imported for the mocks' runtime
