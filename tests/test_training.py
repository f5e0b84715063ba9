"""Large-scale training (issue 20): reserved capacity, EFA, placement, one zone, training-safe disruption.

One prod-like stack (``prod`` plus a reserved p5 pool with EFA and a placement group, and an EFA
A100 pool) is planned once for the module; the config refusals run the CLI in-process.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest
import yaml

from catalog import gpus as catalog
from components.aws import efa
from components.aws import karpenter as karpenter_mod
from infra.plan import engine, lifecycle
from infra.plan.model import RecordedResource
from tests.chart_values import assert_keys_exist, chart_version, crd_validator, schema_errors
from tests.helpers import ROOT, plan_stack

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
    "topologyAware": True,
    "minNodes": 2,
    "maxNodes": 4,
}
EFA_POOL = {
    "name": "train-efa",
    "purpose": "training",
    "gpu": "A100-40GB",
    "efa": True,
    "zone": "us-east-1b",
    "minNodes": 0,
    "maxNodes": 2,
}


LUSTRE = {"zones": ["curated"], "availabilityZone": "us-east-1a", "storageGb": 2400, "throughputMbPerTib": 250}


def training_config(base: str = "prod") -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{base}.yaml").read_text())
    doc["config"]["ml-platform:gpuPools"] = [
        *doc["config"]["ml-platform:gpuPools"],
        copy.deepcopy(P5_POOL),
        copy.deepcopy(EFA_POOL),
    ]
    doc["config"]["ml-platform:dataLake"] = {**doc["config"]["ml-platform:dataLake"], "lustre": dict(LUSTRE)}
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
    assert "reserved" not in (_requirement(shared, "karpenter.sh/capacity-type") or [])


def test_reserved_pools_outweigh_spot_and_on_demand_pools() -> None:
    from infra.layers.aws_gpu import POOL_WEIGHTS

    reserved = {w for c, w in POOL_WEIGHTS.items() if c.startswith("reserved")}
    assert min(reserved) > max(w for c, w in POOL_WEIGHTS.items() if not c.startswith("reserved"))


def test_topology_aware_pool_is_a_static_nodepool_of_min_nodes(training_plan: engine.Plan) -> None:
    """Kueue TAS admits only onto nodes that exist: the pool keeps minNodes nodes (static NodePool)."""
    spec = _one(training_plan, NODEPOOL, "karpenter-pool-train-p5-reserved").inputs["spec"]
    assert spec["replicas"] == 2
    assert spec["limits"] == {"nodes": 4} and "weight" not in spec  # the CRD's rules for a static pool
    gates = _one(training_plan, RELEASE, "karpenter").inputs["values"]["settings"]["featureGates"]
    assert gates["staticCapacity"] is True
    dynamic = _one(training_plan, NODEPOOL, "karpenter-pool-train-efa").inputs["spec"]
    assert "replicas" not in dynamic and "nvidia.com/gpu" in dynamic["limits"]


def test_karpenter_enables_reserved_capacity_and_node_repair_with_keys_of_the_chart(
    training_plan: engine.Plan, upstream: Path
) -> None:
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
    assert p5["idle"] == pytest.approx(fixed, abs=0.01)  # the 2 static nodes are the reserved ones
    on_demand = catalog.node_type("aws", "p5.48xlarge").hourly_usd(spot=False, region="us-east-1")
    assert p5["ceiling"] == pytest.approx(fixed + 2 * on_demand * 730, abs=0.01)  # 4 nodes: 2 reserved + 2 on-demand
    assert all(e["reserved"] == 0 for name, e in pools.items() if name != "train-p5-reserved")
    assert training_plan.cost["monthly_usd_reserved"] == pytest.approx(fixed, abs=0.01)
    assert [i["reserved_usd_month"] for i in training_plan.cost["by_item"] if "reserved_usd_month" in i] == [round(fixed, 2)]


@pytest.mark.parametrize(("kind", "hourly"), [("capacity-block", 31.464), ("odcr", None)])
def test_managed_reserved_pool_is_priced_as_already_paid_and_shown_apart(
    write_stack: Callable[..., Path], kind: str, hourly: float | None
) -> None:
    """A managed node group on a Capacity Block (or an ODCR) is paid for the whole reservation whether its nodes
    run or not: priced at the reservation's price (default the on-demand list price), shown as reserved."""
    reservation: dict[str, Any] = {"ids": [RESERVATION], "zone": "us-east-1a", "kind": kind, "nodes": 2}
    if hourly is not None:
        reservation["hourlyUsd"] = hourly
    pool = {
        "name": "train-blk",
        "purpose": "training",
        "instanceTypes": ["p5.48xlarge"],
        "mode": "managed",
        "capacity": "reserved",
        "reservation": reservation,
        "minNodes": 0,
        "maxNodes": 2,
    }
    base = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["ml-platform:gpuPools"]
    path = write_stack("prod", f"blk-{kind}", gpuPools=[*base, pool])
    plan = engine.plan(f"blk-{kind}", stack_path=path)
    group = _one(plan, "aws:eks/nodeGroup:NodeGroup", "gpu-train-blk")
    assert group.inputs["capacityType"] == ("CAPACITY_BLOCK" if kind == "capacity-block" else "ON_DEMAND")
    price = hourly if hourly is not None else catalog.node_type("aws", "p5.48xlarge").hourly_usd(spot=False, region="us-east-1")
    fixed = 2 * price * 730
    cost = plan.cost["by_pool"]["train-blk"]
    assert cost["reserved"] == pytest.approx(fixed, abs=0.01)
    assert cost["idle"] == pytest.approx(fixed, abs=0.01) == cost["ceiling"]  # minNodes 0, but the block is paid
    assert plan.cost["monthly_usd_reserved"] == pytest.approx(fixed, abs=0.01)


def test_a_pure_reservation_never_grows_past_it() -> None:
    from catalog import cost_model

    item = cost_model.pool_item(
        "u",
        "t",
        cloud="aws",
        pool="p",
        node_types=["p5.48xlarge"],
        spot=False,
        min_nodes=0,
        max_nodes=8,
        gpu_limit=None,
        reserved_nodes=3,
        fallback=False,
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
    assert _cel_network_interfaces(
        [*efa.network_interfaces(2), {"networkCardIndex": 1, "deviceIndex": 2, "interfaceType": "efa-only"}]
    )


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
def test_efa_device_plugin_is_pinned_runs_on_the_efa_types_and_sets_only_chart_keys(
    training_plan: engine.Plan, upstream: Path
) -> None:
    release = _one(training_plan, RELEASE, "efa-device-plugin")
    assert release.inputs["version"] == efa.CHART_VERSION == chart_version(upstream / "aws-efa-k8s-device-plugin" / "Chart.yaml")
    values = release.inputs["values"]
    assert_keys_exist(values, upstream / "aws-efa-k8s-device-plugin" / "values.yaml")
    assert values["supportedInstanceLabels"]["values"] == ["p4d.24xlarge", "p5.48xlarge"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    upstream_types = yaml.safe_load((upstream / "aws-efa-k8s-device-plugin" / "values.yaml").read_text())[
        "supportedInstanceLabels"
    ]["values"]
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
        {
            "instanceTypes": ["g4dn.xlarge", "g4dn.12xlarge"],
            "gpu": None,
            "reservation": None,
            "capacity": "on-demand",
            "placement": None,
            "zone": "us-east-1a",
        },
        "instanceTypes",
        ("g4dn.xlarge", "no EFA", "allowed:", "g4dn.12xlarge"),
    ),
    "reservation in another zone": (
        {"zone": "us-east-1c"},
        "reservation.zone",
        ("us-east-1a", "us-east-1c", "allowed: us-east-1c"),
    ),
    "reserved without reservation": (
        {"reservation": None, "zone": "us-east-1a"},
        "reservation",
        ("required", "reserved-then-on-demand"),
    ),
    "bad reservation id": (
        {"reservation": {**cast(dict[str, Any], P5_POOL["reservation"]), "ids": ["odcr-12"]}},
        "reservation.ids[0]",
        ("odcr-12", "cr-"),
    ),
    "reservation on a spot pool": ({"capacity": "spot"}, "reservation", ("'spot'", "allowed with a reservation")),
    "efa without a zone": (
        {"reservation": None, "capacity": "on-demand", "placement": None},
        "zone",
        ("required", "one availability zone"),
    ),
    "zone of another region": (
        {"zone": "eu-west-1a", "reservation": None, "capacity": "on-demand"},
        "zone",
        ("eu-west-1a", "us-east-1"),
    ),
    "topology-aware pool scaled to zero": ({"minNodes": 0}, "minNodes", ("at least 1", "topologyAware", "exist")),
    "image snapshot on al2023": ({"imageSnapshot": "snap-0123abcd"}, "imageSnapshot", ("bottlerocket", "'al2023'")),
    "image streaming on aws": ({"imageStreaming": True}, "imageStreaming", ("GKE", "imageSnapshot")),
    "managed reservation without a zone": (
        {
            "mode": "managed",
            "capacity": "reserved",
            "efa": None,
            "placement": None,
            "topologyAware": None,
            "reservation": {"ids": [RESERVATION], "kind": "capacity-block", "nodes": 2, "hourlyUsd": 31.464},
        },
        "reservation.zone",
        ("required for a managed node group", "reservation's zone", "us-east-1a"),
    ),
}


def test_training_pool_mistakes_exit_2_naming_the_key(
    write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
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


def test_a_zone_outside_the_vpc_exits_2_naming_the_key(
    write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The VPC spans the region's first network.azCount zones (the invoke's answer): a pool, reservation or file
    system pinned elsewhere has no subnet, so nothing would ever launch there (infra/layers/aws_zones.py)."""
    from infra import cli

    doc = training_config()["config"]
    pools, lake = doc["ml-platform:gpuPools"], doc["ml-platform:dataLake"]
    p5, efa_pool = len(pools) - 2, len(pools) - 1
    cases: dict[str, tuple[dict[str, Any], str]] = {}
    moved = copy.deepcopy(pools)
    moved[efa_pool]["zone"] = "us-east-1d"  # a zone of the region, but azCount 3 takes a-c
    cases["efa pool"] = ({"gpuPools": moved}, f"gpuPools[{efa_pool}].zone")
    moved = copy.deepcopy(pools)
    moved[p5]["reservation"]["zone"] = "us-east-1e"
    cases["reservation"] = ({"gpuPools": moved}, f"gpuPools[{p5}].reservation.zone")
    cases["lustre"] = (
        {"dataLake": {**lake, "lustre": {**lake["lustre"], "availabilityZone": "us-east-1f"}}},
        "dataLake.lustre.availabilityZone",
    )
    failures = []
    for i, (label, (over, key)) in enumerate(cases.items()):
        path = write_stack("prod", f"az{i}", **{"gpuPools": pools, "dataLake": lake, **over})
        code = cli.main(["plan", "--stack", f"az{i}", "--stacks-dir", str(path.parent)])
        lines = [ln.strip() for ln in capsys.readouterr().err.splitlines() if ln.strip().startswith("ml-platform:")]
        want = f"ml-platform:{key}:"
        if (
            code != 2
            or len(lines) != 1
            or not lines[0].startswith(want)
            or "allowed: us-east-1a, us-east-1b, us-east-1c" not in lines[0]
        ):
            failures.append(f"{label}: exit {code}, {lines} (wanted {want})")
    assert not failures, "\n".join(failures)
    from infra import config
    from infra.layers import aws_zones

    cfg = config.parse({k.removeprefix("ml-platform:"): v for k, v in doc.items()})
    assert aws_zones.zone_problems(cfg, ["us-east-1a", "us-east-1b"]) == []  # every zone the training stack names
    assert [p for p, _ in aws_zones.zone_problems(cfg, ["us-east-1b"])] == [
        f"ml-platform:gpuPools[{p5}].reservation.zone",
        "ml-platform:dataLake.lustre.availabilityZone",
    ]


def test_managed_efa_pool_plans_with_interfaces_placement_and_the_device_plugin(write_stack: Callable[..., Path]) -> None:
    """EFA and placement on a managed node group (mode managed): the launch template carries the EFA interfaces,
    the EFA security group and the placement group; the EFA device plugin runs on its instance type."""
    pools = training_config()["config"]["ml-platform:gpuPools"]
    pools[-1] = {**pools[-1], "mode": "managed", "placement": "cluster", "fastImagePull": True}  # the A100 EFA pool
    path = write_stack("prod", "mngefa", gpuPools=pools)
    plan = engine.plan("mngefa", stack_path=path)
    template = _one(plan, "aws:ec2/launchTemplate:LaunchTemplate", "gpu-train-efa-lt")
    types = [n.name for n in catalog.node_types("aws", gpu="A100-40GB") if n.efa_interfaces]
    cards = min(n.efa_interfaces for n in catalog.node_types("aws", gpu="A100-40GB") if n.efa_interfaces)
    assert [n["interfaceType"] for n in template.inputs["networkInterfaces"]] == ["interface"] + ["efa-only"] * cards
    assert template.inputs["placement"]["groupName"].endswith("-gpu-train-efa")
    group = _one(plan, "aws:eks/nodeGroup:NodeGroup", "gpu-train-efa")
    assert group.inputs["subnetIds"] and len(group.inputs["subnetIds"]) == 1  # one zone: us-east-1b's subnet
    plugin = _one(plan, RELEASE, "efa-device-plugin")
    assert set(types) <= set(plugin.inputs["values"]["supportedInstanceLabels"]["values"])
    assert plan.lifecycle is not None and plan.lifecycle.problems == []
    assert not plan.mandatory_violations


def test_managed_bottlerocket_pool_restores_its_data_volume_from_the_image_snapshot(write_stack: Callable[..., Path]) -> None:
    pools = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["ml-platform:gpuPools"]
    managed = next(i for i, p in enumerate(pools) if p.get("mode") == "managed")
    pools[managed] = {**pools[managed], "amiFamily": "bottlerocket", "imageSnapshot": "snap-0123abcd"}
    plan = engine.plan("mngsnap", stack_path=write_stack("prod", "mngsnap", gpuPools=pools))
    name = pools[managed]["name"]
    (device,) = _one(plan, "aws:ec2/launchTemplate:LaunchTemplate", f"gpu-{name}-lt").inputs["blockDeviceMappings"]
    assert device["deviceName"] == "/dev/xvdb"  # Bottlerocket's data volume, where the images live
    assert device["ebs"]["snapshotId"] == "snap-0123abcd" and device["ebs"]["kmsKeyId"].startswith("arn:aws:kms:")
    from components.aws.gpu_node_group import GpuNodeGroupArgs

    with pytest.raises(ValueError, match="bottlerocket"):
        GpuNodeGroupArgs(
            cluster_name="c",
            subnet_ids=[],
            instance_types=["g6e.xlarge"],
            capacity="spot",
            min_nodes=0,
            max_nodes=1,
            image_snapshot="snap-1",
        )


def test_gcp_refuses_aws_only_training_options(write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-prod.yaml").read_text())
    pools = doc["config"]["ml-platform:gpuPools"]
    pools[0] = {**pools[0], "efa": True, "zone": "europe-west4-a"}
    path = write_stack("gcp-prod", "gcpefa", gpuPools=pools)
    assert cli.main(["plan", "--stack", "gcpefa", "--stacks-dir", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert "ml-platform:gpuPools[0].efa: an AWS option" in err
    pools[0] = {k: v for k, v in pools[0].items() if k not in ("efa", "zone")} | {"fastImagePull": True}
    path = write_stack("gcp-prod", "gcpsoci", gpuPools=pools)
    assert cli.main(["plan", "--stack", "gcpsoci", "--stacks-dir", str(path.parent)]) == 2
    lines = [ln.strip() for ln in capsys.readouterr().err.splitlines() if ln.strip().startswith("ml-platform:")]
    assert lines == [
        "ml-platform:gpuPools[0].fastImagePull: SOCI parallel pull on EKS nodes; on cloud 'gcp' leave it unset (gcp: imageStreaming)"
    ]


# ---- components under mocks ---------------------------------------------------------------------------


def test_gke_reserved_pool_consumes_its_reservation_in_its_zone() -> None:
    from components.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs

    def program() -> None:
        GpuNodePool(
            "p",
            GpuNodePoolArgs(
                cluster="c",
                location="us-central1",
                pool="train",
                purpose="training",
                gpu_model="H100-80GB",
                machine_type="a3-highgpu-8g",
                accelerator_type="nvidia-h100-80gb",
                accelerator_count=8,
                max_nodes=2,
                service_account="sa@p.iam.gserviceaccount.com",
                reservations=("h100-block",),
                zone="us-central1-a",
                image_streaming=True,
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
    assert pool.inputs["nodeConfig"]["gcfsConfig"] == {"enabled": True}  # image streaming
    assert pool.inputs["management"]["autoRepair"] is True
    with pytest.raises(ValueError, match="not spot"):
        GpuNodePoolArgs(
            cluster="c",
            location="l",
            pool="p",
            purpose="training",
            gpu_model="g",
            machine_type="m",
            accelerator_type="nvidia-l4",
            accelerator_count=1,
            max_nodes=1,
            service_account="s",
            spot=True,
            reservations=("r",),
        )


def _node_group_resources(resource_name: str, args: Any) -> list[RecordedResource]:
    """What a ``GpuNodeGroup`` of ``args`` registers, alone, under an AWS provider (a dev stack in us-east-1)."""
    import pulumi_aws as aws

    from components.aws.gpu_node_group import GpuNodeGroup

    def program() -> None:
        GpuNodeGroup(resource_name, args, pulumi.ResourceOptions(provider=aws.Provider("aws", region="us-east-1")))

    resources, _ = engine.run_program("unit", {"cloud": "aws", "environment": "dev", "region": "us-east-1"}, [], program=program)
    return resources


def test_managed_capacity_block_node_group_targets_its_reservation_and_repairs_nodes() -> None:
    from components.aws.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs

    resources = _node_group_resources(
        "blk",
        GpuNodeGroupArgs(
            cluster_name="c",
            subnet_ids=["subnet-1"],
            instance_types=["p5.48xlarge"],
            capacity="reserved",
            min_nodes=2,
            max_nodes=2,
            capacity_reservation_id=RESERVATION,
            capacity_block=True,
        ),
    )
    group = next(r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup")
    template = next(r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate")
    assert group.inputs["capacityType"] == "CAPACITY_BLOCK"
    assert group.inputs["nodeRepairConfig"] == {"enabled": True}
    assert template.inputs["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": RESERVATION}
    }
    assert template.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    with pytest.raises(ValueError, match="capacity_reservation_id"):
        GpuNodeGroupArgs(
            cluster_name="c", subnet_ids=[], instance_types=["p5.48xlarge"], capacity="reserved", min_nodes=0, max_nodes=1
        )
    with pytest.raises(ValueError, match="capacity_block needs"):
        GpuNodeGroupArgs(
            cluster_name="c",
            subnet_ids=[],
            instance_types=["p5.48xlarge"],
            capacity="on-demand",
            min_nodes=0,
            max_nodes=1,
            capacity_block=True,
        )
    with pytest.raises(ValueError, match="DNS label"):
        GpuNodeGroup(
            "Bad_Name",
            GpuNodeGroupArgs(
                cluster_name="c", subnet_ids=[], instance_types=["p5.48xlarge"], capacity="spot", min_nodes=0, max_nodes=1
            ),
        )


def test_managed_efa_node_group_gets_the_interfaces_security_groups_placement_and_huge_pages() -> None:
    """A managed EFA pool gets what a Karpenter EFA class gets: the EFA interfaces (each in the cluster and EFA
    security groups, the EFA one open to itself), a cluster placement group, huge pages in the user data."""
    import base64
    import email

    from components.aws.gpu_node_group import GpuNodeGroupArgs

    resources = _node_group_resources(
        "efa-mng",
        GpuNodeGroupArgs(
            cluster_name="c",
            subnet_ids=["subnet-1"],
            instance_types=["p5.48xlarge"],
            capacity="on-demand",
            min_nodes=0,
            max_nodes=2,
            efa_interfaces=32,
            vpc_id="vpc-1",
            cluster_security_group_id="sg-cluster",
            placement_group=True,
        ),
    )
    template = next(r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate")
    (group,) = [r for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup"]
    nics = template.inputs["networkInterfaces"]
    assert [(n["networkCardIndex"], n["deviceIndex"], n["interfaceType"]) for n in nics] == [
        (nic["networkCardIndex"], nic["deviceIndex"], nic["interfaceType"]) for nic in efa.network_interfaces(32)
    ]
    efa_sg = next(
        r.inputs["securityGroupId"] for r in resources if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    )
    assert all(n["securityGroups"] == ["sg-cluster", efa_sg] for n in nics)
    rules = [r.inputs for r in resources if r.type.startswith("aws:vpc/securityGroup") and r.type.endswith("Rule")]
    assert len(rules) == 2 and all(
        r["ipProtocol"] == "-1" and r["referencedSecurityGroupId"] == r["securityGroupId"] == efa_sg for r in rules
    )
    (placement,) = [r for r in resources if r.type == "aws:ec2/placementGroup:PlacementGroup"]
    assert placement.inputs["strategy"] == "cluster" and template.inputs["placement"]["groupName"]
    assert {group.urn, placement.urn} <= set(template.dependencies)
    data = email.message_from_string(base64.b64decode(template.inputs["userData"]).decode())
    scripts = [str(p.get_payload()) for p in data.walk() if p.get_content_type() == "text/x-shellscript"]
    assert any(f"vm.nr_hugepages = {efa.HUGEPAGES_2MI_PAGES}" in s for s in scripts)
    with pytest.raises(ValueError, match="vpc_id and cluster_security_group_id"):
        GpuNodeGroupArgs(
            cluster_name="c",
            subnet_ids=[],
            instance_types=["p5.48xlarge"],
            capacity="on-demand",
            min_nodes=0,
            max_nodes=1,
            efa_interfaces=4,
        )


def test_network_interfaces_layout() -> None:
    assert efa.network_interfaces(0) == []
    nics = efa.network_interfaces(2)
    assert nics[0] == {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"}
    assert [(n["networkCardIndex"], n["interfaceType"]) for n in nics[1:]] == [(0, "efa-only"), (1, "efa-only")]
    assert '"vm.nr_hugepages" = "5120"' in efa.hugepages_user_data("bottlerocket")
    with pytest.raises(ValueError):
        karpenter_mod.NodePoolSpec(
            name="p",
            instance_types=["p5.48xlarge"],
            capacity_types=["on-demand"],
            labels={},
            gpu_limit=8,
            cpu_limit=192,
            placement_group=True,
        )
    assert pulumi  # imported for the mocks' runtime


# ---- Kueue topology-aware scheduling, JobSet, LeaderWorkerSet ----------------------------------------

TOPOLOGY = "kubernetes:kueue.x-k8s.io/v1beta2:Topology"
FLAVOR = "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor"


def test_topology_aware_flavor_names_the_aws_network_topology(training_plan: engine.Plan) -> None:
    from components.k8s import training

    (topology,) = training_plan.by_type(TOPOLOGY)
    assert [lv["nodeLabel"] for lv in topology.inputs["spec"]["levels"]] == list(training.AWS_TOPOLOGY_LEVELS)
    flavors = {f.inputs["metadata"]["name"]: f for f in training_plan.by_type(FLAVOR)}
    assert flavors["gpu-train-p5-reserved"].inputs["spec"]["topologyName"] == topology.inputs["metadata"]["name"]
    assert all("topologyName" not in f.inputs["spec"] for n, f in flavors.items() if n != "gpu-train-p5-reserved")
    assert topology.urn in flavors["gpu-train-p5-reserved"].dependencies


def test_gke_topology_uses_gke_labels() -> None:
    """Each cloud layer states its topology labels (``CloudLayer.topology_levels``; the AWS plan above shows the
    Kueue Topology using them); GKE's end with the node."""
    import inspect

    from components.k8s import training
    from infra.layers import aws_foundation, gcp_foundation

    assert "topology_levels=kueue_training.GKE_TOPOLOGY_LEVELS" in inspect.getsource(gcp_foundation.GcpFoundation.cloud_layer)
    assert "topology_levels=training.AWS_TOPOLOGY_LEVELS" in inspect.getsource(aws_foundation.AwsFoundation.cloud_layer)
    assert training.GKE_TOPOLOGY_LEVELS[-1] == "kubernetes.io/hostname"
    with pytest.raises(ValueError, match="last level"):
        training.topology_spec(["kubernetes.io/hostname", "cloud.google.com/gce-topology-block"])


@pytest.mark.upstream
def test_training_kueue_objects_validate_against_the_pinned_crds(training_plan: engine.Plan, upstream: Path) -> None:
    crds = upstream / "kueue" / "crds"
    for type_, file in ((TOPOLOGY, "kueue.x-k8s.io_topologies.yaml"), (FLAVOR, "kueue.x-k8s.io_resourceflavors.yaml")):
        validator = crd_validator(crds / file, "v1beta2")
        objects = training_plan.by_type(type_)
        assert objects
        for obj in objects:
            assert not schema_errors(validator, _cr(obj)), obj.name
    bad = _cr(training_plan.by_type(TOPOLOGY)[0])
    bad["spec"]["levels"] = [{"label": "x"}]
    assert schema_errors(crd_validator(crds / "kueue.x-k8s.io_topologies.yaml", "v1beta2"), bad)


@pytest.mark.upstream
def test_jobset_and_lws_controllers_are_pinned_with_chart_keys(training_plan: engine.Plan, upstream: Path) -> None:
    from components.k8s import training

    releases = {r.name: r for r in training_plan.by_type(RELEASE)}
    jobset, lws = releases["training-jobset"], releases["training-lws"]
    assert jobset.inputs["version"] == chart_version(upstream / "jobset" / "Chart.yaml") == training.JOBSET_VERSION
    lws_chart = yaml.safe_load((upstream / "lws" / "Chart.yaml").read_text())
    assert f"v{lws.inputs['version']}" == lws_chart["appVersion"]  # Chart.yaml's version is stamped at release
    assert_keys_exist(jobset.inputs["values"], upstream / "jobset" / "values.yaml")
    assert_keys_exist(lws.inputs["values"], upstream / "lws" / "values.yaml")
    assert jobset.inputs["values"]["image"]["tag"] == "v0.12.0" and lws.inputs["values"]["image"]["manager"]["tag"] == "v0.10.0"


def test_kueue_queues_jobsets_and_leaderworkersets() -> None:
    from components.k8s import kueue

    assert {"jobset.x-k8s.io/jobset", "leaderworkerset.x-k8s.io/leaderworkerset"} <= set(kueue.FRAMEWORKS)
    frameworks = kueue.manager_config("ml-platform.io/team")["integrations"]["frameworks"]
    assert "jobset.x-k8s.io/jobset" in frameworks and "leaderworkerset.x-k8s.io/leaderworkerset" in frameworks


# ---- the sample JobSet of docs/gpu.md ---------------------------------------------------------------

SAMPLE = ROOT / "docs" / "examples" / "jobset-efa-training.yaml"


def _sample_pod() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = yaml.safe_load(SAMPLE.read_text())
    (job,) = doc["spec"]["replicatedJobs"]
    return doc, job["template"]["spec"]["template"]


@pytest.mark.upstream
def test_sample_jobset_validates_against_the_pinned_crd(upstream: Path) -> None:
    doc, _ = _sample_pod()
    validator = crd_validator(upstream / "jobset" / "crds" / "jobset.x-k8s.io_jobsets.yaml", "v1alpha2")
    assert not schema_errors(validator, doc)
    broken = copy.deepcopy(doc)
    broken["spec"]["replicatedJobs"][0]["replicas"] = "one"
    assert schema_errors(validator, broken)


def test_sample_jobset_requests_what_the_efa_pool_offers() -> None:
    """EFA requested (not just FI_PROVIDER set: a silent TCP fallback), huge pages as the nodes reserve
    them, the team queue, a topology level of the AWS Topology, and do-not-disrupt."""
    from catalog import conventions
    from components.k8s import kueue, training

    doc, pod = _sample_pod()
    node = catalog.node_type("aws", "p5.48xlarge")
    (container,) = pod["spec"]["containers"]
    req, lim = container["resources"]["requests"], container["resources"]["limits"]
    assert req[efa.EFA_RESOURCE] == lim[efa.EFA_RESOURCE] == node.efa_interfaces
    assert req["nvidia.com/gpu"] == node.gpus
    assert req["hugepages-2Mi"] == lim["hugepages-2Mi"]
    assert int(req["hugepages-2Mi"].removesuffix("Mi")) <= efa.HUGEPAGES_2MI_PAGES * 2
    assert {"name": "FI_PROVIDER", "value": "efa"} in container["env"]
    assert doc["metadata"]["labels"][kueue.QUEUE_NAME_LABEL] == kueue.DEFAULT_LOCAL_QUEUE
    assert doc["metadata"]["labels"][kueue.PRIORITY_LABEL] in conventions.PRIORITY_CLASSES
    annotations = pod["metadata"]["annotations"]
    assert annotations["kueue.x-k8s.io/podset-required-topology"] in training.AWS_TOPOLOGY_LEVELS
    assert annotations["karpenter.sh/do-not-disrupt"] == "true"
    assert pod["spec"]["nodeSelector"] == {"ml-platform.io/pool": P5_POOL["name"]}


# ---- GKE: reservations, flex-start through Kueue, topology ------------------------------------------

GKE_RESERVED = {
    "name": "train-h200-reserved",
    "purpose": "training",
    "instanceTypes": ["a3-ultragpu-8g"],
    "capacity": "reserved-then-on-demand",
    "reservation": {"ids": ["h200-block"], "zone": "us-central1-b", "nodes": 2},
    "topologyAware": True,
    "minNodes": 2,
    "maxNodes": 4,
    "gpuDirect": True,
}
GKE_FLEX = {
    "name": "train-flex",
    "purpose": "training",
    "instanceTypes": ["a3-highgpu-8g"],
    "capacity": "flex-start",
    "minNodes": 0,
    "maxNodes": 4,
}
CQ = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"


@pytest.fixture(scope="module")
def gke_training_plan(tmp_path_factory: pytest.TempPathFactory) -> engine.Plan:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-prod.yaml").read_text())
    doc["config"]["ml-platform:gpuPools"] = [*doc["config"]["ml-platform:gpuPools"], dict(GKE_RESERVED), dict(GKE_FLEX)]
    path = tmp_path_factory.mktemp("stacks") / "Pulumi.gketrain.yaml"
    path.write_text(yaml.safe_dump(doc))
    return engine.plan("gketrain", stack_path=path)


def test_gke_reserved_pool_consumes_the_reservation_and_falls_back_to_a_twin(gke_training_plan: engine.Plan) -> None:
    pools = {p.inputs["name"]: p.inputs for p in gke_training_plan.by_type("gcp:container/nodePool:NodePool")}
    reserved, twin = pools["train-h200-reserved"], pools["train-h200-reserved-ondemand"]
    assert reserved["nodeConfig"]["reservationAffinity"]["values"] == ["h200-block"]
    assert reserved["nodeLocations"] == twin["nodeLocations"] == ["us-central1-b"]
    assert "reservationAffinity" not in twin["nodeConfig"] and twin["nodeConfig"]["spot"] is False
    cost = gke_training_plan.cost["by_pool"]["train-h200-reserved"]
    assert cost["reserved"] > 0 and cost["idle"] >= cost["reserved"]


def test_gke_flex_start_pool_is_queued_provisioning_behind_a_kueue_admission_check(gke_training_plan: engine.Plan) -> None:
    pool = next(
        p.inputs for p in gke_training_plan.by_type("gcp:container/nodePool:NodePool") if p.inputs["name"] == "train-flex"
    )
    assert pool["queuedProvisioning"] == {"enabled": True}
    assert pool["nodeConfig"]["flexStart"] is True
    # flex-start: no auto-repair; queued provisioning: no auto-upgrade (cluster-toolkit dws-flex-start-queued-provisioning)
    assert pool["management"] == {"autoRepair": False, "autoUpgrade": False}
    assert pool["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert pool["autoscaling"]["totalMinNodeCount"] == 0 and pool["autoscaling"]["locationPolicy"] == "ANY"
    (config,) = gke_training_plan.by_type("kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig")
    assert config.inputs["spec"]["provisioningClassName"] == "queued-provisioning.gke.io"
    (check,) = gke_training_plan.by_type("kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck")
    assert check.inputs["spec"]["controllerName"] == "kueue.x-k8s.io/provisioning-request"
    assert check.inputs["spec"]["parameters"]["name"] == config.inputs["metadata"]["name"]
    for cq in gke_training_plan.by_type(CQ):
        flavors = {f["name"] for g in cq.inputs["spec"]["resourceGroups"] for f in g["flavors"]}
        rules = cq.inputs["spec"].get("admissionChecksStrategy", {}).get("admissionChecks", [])
        if "gpu-train-flex" in flavors:
            assert rules == [{"name": check.inputs["metadata"]["name"], "onFlavors": ["gpu-train-flex"]}], cq.name
            assert check.urn in cq.dependencies
        else:
            assert not rules


@pytest.mark.upstream
def test_gke_training_kueue_objects_validate_against_the_pinned_crds(gke_training_plan: engine.Plan, upstream: Path) -> None:
    crds = upstream / "kueue" / "crds"
    files = {
        "ProvisioningRequestConfig": "kueue.x-k8s.io_provisioningrequestconfigs.yaml",
        "AdmissionCheck": "kueue.x-k8s.io_admissionchecks.yaml",
        "ClusterQueue": "kueue.x-k8s.io_clusterqueues.yaml",
        "Topology": "kueue.x-k8s.io_topologies.yaml",
        "ResourceFlavor": "kueue.x-k8s.io_resourceflavors.yaml",
    }
    for kind, file in files.items():
        validator = _go_regex_validator(crds / file, "v1beta2")
        objects = gke_training_plan.by_type(f"kubernetes:kueue.x-k8s.io/v1beta2:{kind}")
        assert objects, kind
        for obj in objects:
            assert not schema_errors(validator, _cr(obj)), obj.name
    (topology,) = gke_training_plan.by_type(TOPOLOGY)
    assert topology.inputs["spec"]["levels"][0]["nodeLabel"] == "cloud.google.com/gce-topology-block"


def _go_regex_validator(path: Path, version: str) -> Any:
    """:func:`crd_validator`, with Go's ``^(?i)...`` patterns (inline flag after the anchor, which
    RE2 accepts and Python's ``re`` does not; the AdmissionCheck CRD has them) moved to the front."""
    import jsonschema

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (v.replace("^(?i)", "(?i)^", 1) if k == "pattern" and isinstance(v, str) else fix(v)) for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    doc = yaml.safe_load(path.read_text())
    (schema,) = [v["schema"]["openAPIV3Schema"] for v in doc["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(fix(schema))


def test_flex_start_is_refused_off_gke(write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    doc = training_config()
    pools = doc["config"]["ml-platform:gpuPools"]
    pools[0] = {**pools[0], "capacity": "flex-start"}
    path = write_stack("prod", "awsflex", gpuPools=pools)
    assert cli.main(["plan", "--stack", "awsflex", "--stacks-dir", str(path.parent)]) == 2
    assert "ml-platform:gpuPools[0].capacity: 'flex-start' is GKE's" in capsys.readouterr().err


# ---- FSx for Lustre next to the lake ------------------------------------------------------------------


def test_lustre_is_persistent_2_encrypted_protected_and_linked_to_curated(training_plan: engine.Plan) -> None:
    from components.aws import fsx

    fs = _one(training_plan, "aws:fsx/lustreFileSystem:LustreFileSystem", "lustre-fs")
    assert fs.inputs["deploymentType"] == "PERSISTENT_2" and fs.inputs["storageCapacity"] == 2400
    assert fs.inputs["perUnitStorageThroughput"] == 250
    (key,) = [k for k in training_plan.by_type("aws:kms/key:Key") if k.name == "platform-key"]
    assert fs.inputs["kmsKeyId"].startswith("arn:aws:kms:") and key.urn in fs.dependencies  # the platform key
    assert fs.protect and fs.retain_on_delete  # prod
    (dra,) = training_plan.by_type("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation")
    curated = next(
        b
        for b in training_plan.by_type("aws:s3/bucket:Bucket")
        if b.inputs.get("tags", {}).get("lake-zone") == "curated" and "replica" not in b.name
    )
    assert dra.inputs["dataRepositoryPath"] == f"s3://{curated.inputs['bucket']}/"
    assert dra.inputs["fileSystemPath"] == "/curated" and dra.inputs["batchImportMetaDataOnCreate"] is True
    assert dra.protect and fs.urn in dra.dependencies
    (lustre_id,) = fs.inputs["securityGroupIds"]
    # the nodes' group: the EKS cluster security group (the one Karpenter discovers by tag)
    nodes_sg = _one(training_plan, "aws:ec2/tag:Tag", "karpenter-sg-discovery").inputs["resourceId"]

    def rules(kind: str, on: str, peer: str) -> set[tuple[int, int]]:
        type_ = f"aws:vpc/{kind[0].lower()}{kind[1:]}:{kind}"
        found = [
            r.inputs
            for r in training_plan.by_type(type_)
            if r.inputs["securityGroupId"] == on and r.inputs.get("referencedSecurityGroupId") == peer
        ]
        assert all(r["ipProtocol"] == "tcp" for r in found)
        return {(r["fromPort"], r["toPort"]) for r in found}

    # FSx user guide, "File system access control with Amazon VPC": the servers' group, in and out, to itself and the clients
    assert rules("SecurityGroupIngressRule", lustre_id, lustre_id) == set(fsx.LUSTRE_PORTS)
    assert rules("SecurityGroupIngressRule", lustre_id, nodes_sg) == set(fsx.LUSTRE_PORTS)
    assert rules("SecurityGroupEgressRule", lustre_id, lustre_id) == set(fsx.LUSTRE_PORTS)
    assert rules("SecurityGroupEgressRule", lustre_id, nodes_sg) == set(fsx.LUSTRE_PORTS)
    # "Lustre client VPC security group rules": the nodes' group admits the servers (they connect back)
    assert rules("SecurityGroupIngressRule", nodes_sg, lustre_id) == set(fsx.CLIENT_PORTS)
    client_rules = [
        r
        for r in training_plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.name.startswith("lustre-client-in-")
    ]
    assert client_rules and all(r.urn in fs.dependencies for r in client_rules)  # mounts work once the file system is up
    s3_out = _one(training_plan, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "lustre-s3-out")
    assert (s3_out.inputs["fromPort"], s3_out.inputs["toPort"]) == (443, 443)  # S3 through the gateway endpoint only
    policy = json.loads(key.inputs["policy"])
    via = next(st for st in policy["Statement"] if st["Sid"] == "AccountUsesViaServices")["Condition"]["StringEquals"][
        "kms:ViaService"
    ]
    assert "fsx.us-east-1.amazonaws.com" in via
    item = next(i for i in training_plan.cost["by_item"] if i["type"] == "aws:fsx/lustreFileSystem:LustreFileSystem")
    assert item["monthly_usd"] == pytest.approx(2400 * 0.21)


def test_lake_key_lets_fsx_read_the_linked_sse_kms_buckets_and_nothing_else(training_plan: engine.Plan) -> None:
    """FSx's per-file-system S3 role has no KMS rights of its own: without the key-policy statement the data
    repository association cannot read one SSE-KMS object of the lake (FSx for Lustre user guide, "Working with
    server-side encrypted Amazon S3 buckets")."""
    from components.aws import kms

    (key,) = [k for k in training_plan.by_type("aws:kms/key:Key") if k.name == "platform-key"]
    statements = {st["Sid"]: st for st in json.loads(key.inputs["policy"])["Statement"]}
    fsx = statements["FsxLustreDataRepositories"]
    (dra,) = training_plan.by_type("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation")
    bucket_arn = "arn:aws:s3:::" + dra.inputs["dataRepositoryPath"].removeprefix("s3://").rstrip("/")
    cond = fsx["Condition"]
    assert sorted(cond["StringLike"]["kms:EncryptionContext:aws:s3:arn"]) == [
        bucket_arn,
        f"{bucket_arn}/*",
    ]  # the linked zone only
    assert cond["StringLike"]["aws:userid"] == kms.FSX_S3_ACCESS_USERID == "*:FSx"
    assert cond["StringEquals"] == {"kms:CallerAccount": "123456789012", "kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(fsx["Action"]) and "kms:CreateGrant" not in fsx["Action"]
    # the per-file-system role is not named: it does not exist when the key (which encrypts the file system) is created
    assert fsx["Principal"] == {"AWS": "*"} and "AWSServiceRoleForFSxS3Access" not in key.inputs["policy"]
    dev_key = next(k for k in plan_stack("dev").by_type("aws:kms/key:Key") if k.name == "platform-key")
    assert "FsxLustreDataRepositories" not in dev_key.inputs["policy"]  # no Lustre, no statement
    with pytest.raises(ValueError, match="bucket ARNs"):
        kms.fsx_data_repository_statement(account_id="1", region="r", bucket_arns=[])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"zone_buckets": {}}, "at least one lake zone"),
        ({"storage_gb": 3000}, "1200 or a multiple of 2400"),
        ({"throughput_mb_per_tib": 300}, "throughput"),
    ],
)
def test_lake_lustre_args_refuse_what_fsx_would(changes: dict[str, Any], match: str) -> None:
    from components.aws import fsx

    good: dict[str, Any] = dict(
        subnet_id="subnet-1",
        vpc_id="vpc-1",
        client_security_group_id="sg-1",
        zone_buckets={"curated": "b"},
        storage_gb=2400,
        throughput_mb_per_tib=250,
        kms_key_arn="arn:k",
        oidc_provider_arn="arn:o",
        oidc_issuer="oidc",
    )
    fsx.LakeLustreArgs(**good)
    with pytest.raises(ValueError, match=match):
        fsx.LakeLustreArgs(**{**good, **changes})


@pytest.mark.upstream
def test_fsx_csi_driver_is_pinned_with_irsa_and_a_volume_per_team(training_plan: engine.Plan, upstream: Path) -> None:
    from components.aws import fsx

    release = _one(training_plan, RELEASE, "lustre-csi")
    assert release.inputs["version"] == fsx.CHART_VERSION == chart_version(upstream / "aws-fsx-csi-driver" / "Chart.yaml")
    assert_keys_exist(release.inputs["values"], upstream / "aws-fsx-csi-driver" / "values.yaml")
    assert release.inputs["values"]["controller"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    teams = [t["name"] for t in training_plan.config.model_dump(by_alias=True)["teams"]]
    pvs = {
        pv.inputs["metadata"]["name"]: pv.inputs["spec"] for pv in training_plan.by_type("kubernetes:core/v1:PersistentVolume")
    }
    claims = {
        c.inputs["metadata"]["namespace"]: c.inputs["spec"]
        for c in training_plan.by_type("kubernetes:core/v1:PersistentVolumeClaim")
    }
    assert sorted(claims) == sorted(teams)
    for team in teams:
        spec = pvs[f"lustre-{team}"]
        assert spec["csi"]["driver"] == fsx.CSI_DRIVER and spec["persistentVolumeReclaimPolicy"] == "Retain"
        assert spec["claimRef"] == {"namespace": team, "name": fsx.CLAIM}
        assert claims[team]["volumeName"] == f"lustre-{team}" and claims[team]["storageClassName"] == ""


LUSTRE_REFUSALS = {
    "no lake zone": ({**LUSTRE, "zones": []}, "dataLake.lustre.zones", ("without a lake zone", "allowed: raw")),
    "not a lake zone": ({**LUSTRE, "zones": ["gold"]}, "dataLake.lustre.zones[0]", ("'gold'", "allowed:")),
    "bad size": ({**LUSTRE, "storageGb": 2000}, "dataLake.lustre.storageGb", ("2000", "1200")),
    "no availability zone": (
        {k: v for k, v in LUSTRE.items() if k != "availabilityZone"},
        "dataLake.lustre.availabilityZone",
        ("required",),
    ),
}


def test_lustre_mistakes_exit_2_naming_the_key(write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    lake = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["ml-platform:dataLake"]
    failures = []
    for i, (label, (lustre, key, words)) in enumerate(LUSTRE_REFUSALS.items()):
        path = write_stack("prod", f"fsx{i}", dataLake={**lake, "lustre": lustre})
        code = cli.main(["plan", "--stack", f"fsx{i}", "--stacks-dir", str(path.parent)])
        lines = [ln.strip() for ln in capsys.readouterr().err.splitlines() if ln.strip().startswith("ml-platform:")]
        if (
            code != 2
            or len(lines) != 1
            or not lines[0].startswith(f"ml-platform:{key}:")
            or any(w not in lines[0] for w in words)
        ):
            failures.append(f"{label}: exit {code}, {lines}")
    assert not failures, "\n".join(failures)


# ---- faster image pulls -----------------------------------------------------------------------------------


@pytest.mark.upstream
def test_bottlerocket_pool_restores_its_data_volume_from_the_image_snapshot(upstream: Path) -> None:
    spec = karpenter_mod.NodePoolSpec(
        name="train-br",
        instance_types=["p5.48xlarge"],
        capacity_types=["on-demand"],
        labels={},
        gpu_limit=8,
        cpu_limit=192,
        ami_family="bottlerocket",
        image_snapshot="snap-0123abcd",
    )
    assert spec.node_class == "gpu-pool-train-br"  # its own class: the snapshot is the pool's
    body = karpenter_mod.node_class_spec(
        ami_family="bottlerocket",
        ami_alias="bottlerocket@latest",
        disk_gb=200,
        role="r",
        discovery_value="c",
        tags={},
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        image_snapshot=spec.image_snapshot,
    )
    data = next(d for d in body["blockDeviceMappings"] if d["deviceName"] == "/dev/xvdb")
    assert data["ebs"]["snapshotID"] == "snap-0123abcd" and data["ebs"]["encrypted"] is True
    assert all("snapshotID" not in d["ebs"] for d in body["blockDeviceMappings"] if d["deviceName"] != "/dev/xvdb")
    validator = crd_validator(upstream / "karpenter" / "crds" / "karpenter.k8s.aws_ec2nodeclasses.yaml", "v1")
    assert not schema_errors(
        validator, {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "x"}, "spec": body}
    )
    with pytest.raises(ValueError, match="bottlerocket"):
        karpenter_mod.NodePoolSpec(
            name="p",
            instance_types=["p5.48xlarge"],
            capacity_types=["on-demand"],
            labels={},
            gpu_limit=8,
            cpu_limit=192,
            image_snapshot="snap-0123abcd",
        )


@pytest.mark.parametrize("hugepages", [0, efa.HUGEPAGES_2MI_PAGES])
def test_fast_image_pull_turns_on_soci_parallel_pull_on_both_ami_families(hugepages: int) -> None:
    """AL2023: nodeadm's FastImagePull gate in a NodeConfig part (after the EFA huge-pages script when both);
    Bottlerocket: the SOCI snapshotter in parallel-pull-unpack mode, in valid TOML next to the sysctl."""
    import email
    import tomllib

    from components.aws import node_user_data

    doc = node_user_data.user_data("al2023", hugepages=hugepages, fast_image_pull=True)
    assert doc is not None
    message = email.message_from_string(doc)
    assert message.is_multipart()
    parts = {p.get_content_type(): str(p.get_payload()) for p in message.walk() if not p.is_multipart()}
    node_config = yaml.safe_load(parts["application/node.eks.aws"])
    assert node_config["apiVersion"] == "node.eks.aws/v1alpha1" and node_config["kind"] == "NodeConfig"
    assert node_config["spec"] == {"featureGates": {"FastImagePull": True}}
    assert ("text/x-shellscript" in parts) == bool(hugepages)
    settings = tomllib.loads(node_user_data.user_data("bottlerocket", hugepages=hugepages, fast_image_pull=True) or "")[
        "settings"
    ]
    assert settings["container-runtime"] == {"snapshotter": "soci"}
    assert settings["container-runtime-plugins"]["soci-snapshotter"]["pull-mode"] == "parallel-pull-unpack"
    assert ("kernel" in settings) == bool(hugepages)
    assert node_user_data.user_data("al2023") is None  # nothing asked, no user data
    with pytest.raises(ValueError, match="AMI family"):
        node_user_data.user_data("ubuntu", fast_image_pull=True)


@pytest.mark.upstream
def test_fast_image_pull_pool_gets_its_own_node_class_and_managed_groups_their_launch_template(upstream: Path) -> None:
    import base64

    spec = karpenter_mod.NodePoolSpec(
        name="serve-fast",
        instance_types=["g6e.12xlarge"],
        capacity_types=["on-demand"],
        labels={},
        gpu_limit=8,
        cpu_limit=192,
        fast_image_pull=True,
    )
    assert spec.node_class == "gpu-pool-serve-fast"  # the user data is the pool's
    body = karpenter_mod.node_class_spec(
        ami_family="al2023",
        ami_alias="al2023@latest",
        disk_gb=200,
        role="r",
        discovery_value="c",
        tags={},
        kms_key_arn=None,
        fast_image_pull=spec.fast_image_pull,
    )
    assert "FastImagePull: true" in body["userData"]
    validator = crd_validator(upstream / "karpenter" / "crds" / "karpenter.k8s.aws_ec2nodeclasses.yaml", "v1")
    assert not schema_errors(
        validator, {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "x"}, "spec": body}
    )
    from components.aws.gpu_node_group import GpuNodeGroupArgs, launch_template_user_data

    group = GpuNodeGroupArgs(
        cluster_name="c",
        subnet_ids=[],
        instance_types=["g6e.12xlarge"],
        capacity="on-demand",
        min_nodes=0,
        max_nodes=1,
        ami_family="bottlerocket",
        fast_image_pull=True,
    )
    assert 'snapshotter = "soci"' in base64.b64decode(launch_template_user_data(group) or "").decode()
    assert (
        launch_template_user_data(
            GpuNodeGroupArgs(
                cluster_name="c", subnet_ids=[], instance_types=["g6e.12xlarge"], capacity="on-demand", min_nodes=0, max_nodes=1
            )
        )
        is None
    )


# ---- deploy lifecycle of the training objects (infra/plan/lifecycle_facts.yaml) --------------------------


def test_training_plans_have_a_clean_deploy_lifecycle(training_plan: engine.Plan, gke_training_plan: engine.Plan) -> None:
    """JobSet / LWS / EFA / FSx CSI releases, the Kueue Topology, ProvisioningRequestConfig and AdmissionCheck
    are created after what they need and deleted before it, on EKS and on a private GKE cluster."""
    for plan in (training_plan, gke_training_plan):
        assert plan.lifecycle is not None
        assert [(p.check, p.urn, p.message) for p in plan.lifecycle.problems] == []
        kinds = {lifecycle.k8s_kind(r.type) for r in plan.resources}
        assert "kueue.x-k8s.io/Topology" in kinds
    assert "kueue.x-k8s.io/AdmissionCheck" in {lifecycle.k8s_kind(r.type) for r in gke_training_plan.resources}


def _jobset(release: Any, deps: list[str]) -> RecordedResource:
    return RecordedResource(
        urn=release.urn.rsplit("::", 2)[0] + "::kubernetes:jobset.x-k8s.io/v1alpha2:JobSet::smoke",
        type="kubernetes:jobset.x-k8s.io/v1alpha2:JobSet",
        name="smoke",
        custom=True,
        parent="",
        provider=release.provider,
        protect=False,
        retain_on_delete=False,
        dependencies=deps,
        inputs={
            "apiVersion": "jobset.x-k8s.io/v1alpha2",
            "kind": "JobSet",
            "metadata": {"name": "smoke", "namespace": "team-a"},
            "spec": {},
        },
    )


def test_a_jobset_waits_for_the_jobset_and_the_kueue_webhooks(training_plan: engine.Plan) -> None:
    """JobSet's own webhook and Kueue's (mjobset / vjobset) admit every JobSet: both releases must be up first."""
    resources = copy.deepcopy(training_plan.resources)
    releases = {lifecycle.chart_name(r): r for r in resources if r.type == RELEASE}
    jobset, kueue = releases["jobset"], releases["kueue"]
    env = training_plan.config.environment
    both = lifecycle.analyze([*resources, _jobset(jobset, [jobset.urn, kueue.urn])], env)
    assert both.problems == []
    only_jobset = _jobset(jobset, [jobset.urn])
    found = lifecycle.analyze([*resources, only_jobset], env)
    assert [(p.check, p.urn) for p in found.problems] == [("mlp-life-003", only_jobset.urn)]
    assert "kueue webhook" in found.problems[0].message
