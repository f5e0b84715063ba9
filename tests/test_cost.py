"""The monthly cost estimate: catalog arithmetic, spot, idle vs ceiling, by pool, by team, reports."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import pytest

from catalog import conventions, cost_model
from catalog import gpus as gpu_catalog
from infra import config, cost
from infra.plan import engine, report
from infra.plan.recorder import UNKNOWN, RecordedResource
from tests.helpers import STACKS, raw_config

H = cost_model.HOURS_PER_MONTH


def _res(type_: str, name: str, inputs: dict[str, Any]) -> RecordedResource:
    return RecordedResource(
        urn=f"urn:pulumi:test::ml-platform::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        parent="",
        provider="",
        protect=False,
        retain_on_delete=False,
        dependencies=[],
        inputs=inputs,
    )


def _nodepool(
    name: str,
    types: list[str],
    capacity: list[str],
    *,
    limit: int | None,
    min_nodes: int | None = None,
    max_nodes: int | None = None,
) -> RecordedResource:
    annotations = {}
    if min_nodes is not None:
        annotations[cost_model.MIN_NODES_ANNOTATION] = str(min_nodes)
    if max_nodes is not None:
        annotations[cost_model.MAX_NODES_ANNOTATION] = str(max_nodes)
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {conventions.POOL_LABEL: name}},
            "spec": {
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity},
                ]
            },
        }
    }
    if limit is not None:
        spec["limits"] = {conventions.GPU_RESOURCE: limit}
    return _res(
        cost_model.KARPENTER_NODEPOOL,
        f"pool-{name}",
        {"metadata": {"name": f"mlp-{name}", "annotations": annotations}, "spec": spec},
    )


SYNTHETIC_CONFIG = {
    "cloud": "aws",
    "environment": "prod",
    "region": "us-east-1",
    "gpuPools": [
        {
            "name": "train",
            "purpose": "training",
            "instanceTypes": ["g6.xlarge", "g6.12xlarge"],
            "capacity": "spot-with-fallback",
            "minNodes": 1,
            "maxNodes": 4,
            "gpuLimit": 4,
        },
        {"name": "serve", "purpose": "serving", "instanceTypes": ["g6e.xlarge"], "mode": "managed", "minNodes": 1, "maxNodes": 3},
    ],
    "teams": [
        {"name": "alpha", "owners": "g-alpha", "costCenter": "CC-1", "quotas": {"cpu": 8, "memory": "32Gi", "gpu": 3}},
        {"name": "beta", "owners": "g-beta", "costCenter": "CC-2", "quotas": {"cpu": 8, "memory": "32Gi", "gpu": 1}},
    ],
    "dataLake": {"sizeGb": {"raw": 1000}},
}


def _synthetic_resources() -> list[RecordedResource]:
    lake = conventions.TAG_LAKE_ZONE
    role = conventions.TAG_LAKE_ROLE
    return [
        _nodepool("train", ["g6.xlarge", "g6.12xlarge"], ["spot", "on-demand"], limit=4, min_nodes=1, max_nodes=4),
        _res(
            cost_model.EKS_NODE_GROUP,
            "serve",
            {
                "instanceTypes": ["g6e.xlarge"],
                "capacityType": "ON_DEMAND",
                "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 1},
                "labels": {conventions.POOL_LABEL: "serve"},
            },
        ),
        _res(
            cost_model.EKS_NODE_GROUP,
            "system",
            {"instanceTypes": ["m6i.large"], "scalingConfig": {"minSize": 2, "maxSize": 4, "desiredSize": 2}},
        ),
        _res(cost_model.NAT_GATEWAY, "nat-a", {"subnetId": "s-a"}),
        _res(cost_model.NAT_GATEWAY, "nat-b", {"subnetId": "s-b"}),
        _res(cost_model.ELASTIC_IP, "eip-a", {"domain": "vpc"}),
        _res(cost_model.ELASTIC_IP, "eip-b", {"domain": "vpc"}),
        _res(cost_model.EKS_CLUSTER, "cluster", {"version": "1.33"}),
        _res(cost_model.RDS_INSTANCE, "mlflow-db", {"instanceClass": "db.r6g.large", "allocatedStorage": 200, "multiAz": True}),
        _res(cost_model.ELASTICACHE_REPLICATION_GROUP, "online", {"nodeType": "cache.r7g.large", "numCacheClusters": 2}),
        _res(cost_model.S3_BUCKET, "lake-raw", {"tags": {lake: "raw", role: "primary"}}),
        _res(cost_model.S3_BUCKET, "lake-raw-replica", {"tags": {lake: "raw", role: "replica"}}),
        _res(cost_model.S3_BUCKET, "lake-logs", {"tags": {role: "logs"}}),
        _res(cost_model.KMS_KEY, "lake-key", {"enableKeyRotation": True}),
        _res("aws:iam/role:Role", "not-priced", {"name": "r"}),
    ]


@pytest.fixture(scope="module")
def synthetic() -> engine.Plan:
    cfg = config.parse(SYNTHETIC_CONFIG)
    plan = engine.Plan(project="ml-platform", stack="synthetic", config=cfg, resources=_synthetic_resources())
    plan.cost = cost.estimate(plan)
    return plan


def _cheapest_per_gpu(names: list[str], *, spot: bool) -> gpu_catalog.NodeType:
    nodes = [gpu_catalog.node_type("aws", n) for n in names]
    return min(nodes, key=lambda n: n.hourly_usd(spot=spot) / n.gpus)


def test_synthetic_plan_equals_catalog_arithmetic(synthetic: engine.Plan) -> None:
    train = _cheapest_per_gpu(["g6.xlarge", "g6.12xlarge"], spot=True).hourly_usd(spot=True)
    serve = gpu_catalog.node_type("aws", "g6e.xlarge").hourly_usd(spot=False)
    system = cost_model.EC2_USD_HOUR["m6i.large"]
    fixed = (
        2 * cost_model.NAT_GATEWAY_USD_HOUR * H
        + 2 * cost_model.PUBLIC_IPV4_USD_HOUR * H
        + cost_model.EKS_CONTROL_PLANE_USD_HOUR * H
        + 2 * (cost_model.RDS_USD_HOUR["db.r6g.large"] * H + 200 * cost_model.RDS_STORAGE_USD_GB_MONTH)
        + 2 * cost_model.ELASTICACHE_USD_HOUR["cache.r7g.large"] * H
        + 2 * 1000 * cost_model.S3_STANDARD_USD_GB_MONTH  # primary + DR replica; the logs bucket is not lake data
        + cost_model.KMS_KEY_USD_MONTH
        # prod records the lake's S3 data events: audit.dataEventsMillionsPerMonth (default 10) x USD 1 per million
        + synthetic.config.audit.data_events_millions_per_month * cost.CLOUDTRAIL_DATA_EVENT_USD_MILLION
    )
    idle = 1 * train * H + 1 * serve * H + 2 * system * H + fixed
    ceiling = 4 * train * H + 3 * serve * H + 4 * system * H + fixed
    assert synthetic.cost["monthly_usd_idle"] == pytest.approx(idle, abs=0.01)
    assert synthetic.cost["monthly_usd"] == pytest.approx(ceiling, abs=0.01)
    assert synthetic.cost["by_pool"]["train"]["ceiling"] == pytest.approx(4 * train * H, abs=0.01)
    assert synthetic.cost["by_pool"]["serve"]["idle"] == pytest.approx(serve * H, abs=0.01)
    # every priced resource is itemised with its arithmetic; unpriced types are not
    urns = {i["urn"] for i in synthetic.cost["by_item"]}
    assert not any(u.endswith("::not-priced") for u in urns)
    assert all(i["basis"] for i in synthetic.cost["by_item"])
    assert sum(i["monthly_usd"] for i in synthetic.cost["by_item"]) == pytest.approx(ceiling, abs=0.1)


def test_pools_come_from_the_plan_not_the_config_when_planned(synthetic: engine.Plan) -> None:
    assert {p: v["source"] for p, v in synthetic.cost["by_pool"].items()} == {"train": "plan", "serve": "plan"}
    assert not any(i["urn"].startswith("config:gpuPools") for i in synthetic.cost["by_item"])


def test_spot_reduces_gpu_cost() -> None:
    types = ["g6.xlarge", "g6.12xlarge"]
    [on_demand] = cost_model.estimate_items([_nodepool("p", types, ["on-demand"], limit=8, max_nodes=8)])
    [spot] = cost_model.estimate_items([_nodepool("p", types, ["spot"], limit=8, max_nodes=8)])
    [fallback] = cost_model.estimate_items([_nodepool("p", types, ["spot", "on-demand"], limit=8, max_nodes=8)])
    assert spot.monthly_usd_ceiling < on_demand.monthly_usd_ceiling
    assert spot.node_type is not None
    discount = gpu_catalog.node_type("aws", spot.node_type).spot_discount
    assert spot.monthly_usd_ceiling == pytest.approx(on_demand.monthly_usd_ceiling * (1 - discount))
    assert fallback.monthly_usd_ceiling == spot.monthly_usd_ceiling  # spot-with-fallback is estimated at spot


def test_gpu_limit_caps_the_ceiling_before_max_nodes() -> None:
    [item] = cost_model.estimate_items([_nodepool("p", ["g6.12xlarge"], ["on-demand"], limit=4, max_nodes=4)])
    price = gpu_catalog.node_type("aws", "g6.12xlarge").on_demand_usd_hour
    assert item.gpus_ceiling == 4
    assert item.monthly_usd_ceiling == pytest.approx(1 * price * H)  # one 4-GPU node, not four
    assert item.monthly_usd_idle == 0.0  # no min-nodes annotation: Karpenter scales to zero


def test_karpenter_ceiling_follows_the_enforced_gpu_limit_not_the_max_nodes_annotation() -> None:
    [item] = cost_model.estimate_items([_nodepool("p", ["g6.xlarge"], ["on-demand"], limit=8, min_nodes=1, max_nodes=2)])
    price = gpu_catalog.node_type("aws", "g6.xlarge").on_demand_usd_hour
    assert item.gpus_ceiling == 8
    assert item.monthly_usd_ceiling == pytest.approx(8 * price * H)
    assert "does not enforce" in item.basis


def test_plan_ceilings_equal_the_limits_the_cloud_enforces(plan_of: Any) -> None:
    plan = plan_of("prod")
    by_pool = plan.cost["by_pool"]
    pools = plan.by_type(cost_model.KARPENTER_NODEPOOL)
    assert pools, "prod has Karpenter pools"
    for np in pools:
        name = np.inputs["metadata"]["labels"][conventions.POOL_LABEL]
        assert by_pool[name]["gpus_ceiling"] == np.inputs["spec"]["limits"][conventions.GPU_RESOURCE], name
    for ng in plan.by_type(cost_model.EKS_NODE_GROUP):
        name = (ng.inputs.get("labels") or {}).get(conventions.POOL_LABEL)
        if name in by_pool:
            per_node = gpu_catalog.node_type("aws", by_pool[name]["node_type"]).gpus
            assert by_pool[name]["gpus_ceiling"] == ng.inputs["scalingConfig"]["maxSize"] * per_node, name
            assert by_pool[name]["gpus_idle"] == ng.inputs["scalingConfig"]["minSize"] * per_node, name


def test_karpenter_instance_family_requirement_is_priced() -> None:
    pool = _nodepool("p", [], ["on-demand"], limit=8)
    pool.inputs["spec"]["template"]["spec"]["requirements"][0] = {
        "key": cost_model.INSTANCE_FAMILY_LABEL,
        "operator": "In",
        "values": ["p5"],
    }
    [item] = cost_model.estimate_items([pool])
    p5 = gpu_catalog.node_type("aws", "p5.48xlarge")
    assert item.node_type == p5.name
    assert item.monthly_usd_ceiling == pytest.approx(p5.on_demand_usd_hour * H)
    pool.inputs["spec"]["template"]["spec"]["requirements"][0] = {
        "key": cost_model.GPU_NAME_LABEL,
        "operator": "In",
        "values": ["l4"],
    }
    [by_gpu] = cost_model.estimate_items([pool])
    assert by_gpu.node_type == min(gpu_catalog.node_types("aws", gpu="L4"), key=lambda n: n.on_demand_usd_hour / n.gpus).name


@pytest.mark.parametrize("stack", STACKS)
def test_ceiling_is_at_least_idle(plan_of: Any, stack: str) -> None:
    c = plan_of(stack).cost
    assert c["monthly_usd"] >= c["monthly_usd_idle"] >= 0
    for pool, v in c["by_pool"].items():
        assert v["ceiling"] >= v["idle"] >= 0, pool
    for item in c["by_item"]:
        assert item["monthly_usd"] >= item["monthly_usd_idle"] >= 0, item["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_configured_pool_is_reported(plan_of: Any, stack: str) -> None:
    plan = plan_of(stack)
    assert set(plan.cost["by_pool"]) == {p.name for p in plan.config.gpu_pools}
    for pool in plan.config.gpu_pools:  # never more GPUs than the config's ceiling (which team quotas are checked against)
        assert 0 < plan.cost["by_pool"][pool.name]["gpus_ceiling"] <= plan.config.pool_gpu_ceiling(pool), pool.name


def test_prod_gpu_pools_stop_at_the_size_their_stack_file_states(plan_of: Any) -> None:
    """A Karpenter pool without ``gpuLimit`` may hold ``maxNodes`` x the GPUs of its *biggest* type
    (``gpu: L4``, ``maxNodes: 8`` -> 64 GPUs, 64 one-GPU nodes): prod bounds every pool explicitly,
    so its ceiling is at most ``maxNodes`` nodes of the type it is priced at."""
    plan = plan_of("prod")
    for pool in plan.config.gpu_pools:
        entry = plan.cost["by_pool"][pool.name]
        per_node = gpu_catalog.node_type("aws", entry["node_type"]).gpus
        assert pool.max_nodes is not None
        assert entry["gpus_ceiling"] <= pool.max_nodes * per_node, (pool.name, entry["gpus_ceiling"], entry["node_type"])
        if pool.mode == "karpenter":
            assert pool.gpu_limit is not None, f"prod pool {pool.name} has no explicit gpuLimit"
    assert not [i["basis"] for i in plan.cost["by_item"] if "does not enforce" in i["basis"]]


def test_dev_gpu_pools_cost_nothing_idle(plan_of: Any) -> None:
    plan = plan_of("dev")
    assert all(p.min_nodes == 0 for p in plan.config.gpu_pools)
    assert all(v["idle"] == 0 and v["gpus_idle"] == 0 for v in plan.cost["by_pool"].values())
    assert all(v["ceiling"] > 0 for v in plan.cost["by_pool"].values())
    gpu_items = [i for i in plan.cost["by_item"] if i["category"] == "gpu"]
    assert gpu_items and sum(i["monthly_usd_idle"] for i in gpu_items) == 0


@pytest.mark.parametrize("stack", STACKS)
def test_by_team_adds_up_to_the_totals(plan_of: Any, stack: str) -> None:
    c = plan_of(stack).cost
    entries = c["by_team"].values()
    assert sum(e["monthly_usd"] for e in entries) == pytest.approx(c["monthly_usd"], abs=0.05)
    assert sum(e["monthly_usd_idle"] for e in entries) == pytest.approx(c["monthly_usd_idle"], abs=0.05)
    gpu_total = sum(v["ceiling"] for v in c["by_pool"].values())
    assert c["by_team"][cost_model.PLATFORM_KEY]["monthly_usd"] == pytest.approx(c["monthly_usd"] - gpu_total, abs=0.05)


def test_teams_pay_their_quota_at_the_average_gpu_hour(synthetic: engine.Plan) -> None:
    c = synthetic.cost
    gpus = sum(v["gpus_ceiling"] for v in c["by_pool"].values())
    rate = sum(v["ceiling"] for v in c["by_pool"].values()) / (gpus * H)
    for team in synthetic.config.teams:
        assert c["by_team"][team.name]["monthly_usd"] == pytest.approx(team.quotas.gpu * rate * H, abs=0.01)
    assert c["by_team"]["alpha"]["monthly_usd"] == pytest.approx(3 * c["by_team"]["beta"]["monthly_usd"], abs=0.05)
    # 7 GPUs at ceiling, 4 under quota: the other 3 are nobody's
    assert c["by_team"][cost_model.UNALLOCATED_KEY]["gpus_allocated"] == pytest.approx(gpus - 4)


def test_overcommitted_quotas_are_scaled_to_the_ceiling() -> None:
    items = cost_model.estimate_items([_nodepool("p", ["g6.xlarge"], ["on-demand"], limit=4, min_nodes=1, max_nodes=4)])
    split = cost_model.allocate_to_teams(items, {"a": 6, "b": 2})  # 8 GPUs of quota on a 4-GPU ceiling
    assert split["a"]["gpus_allocated"] + split["b"]["gpus_allocated"] == pytest.approx(4)
    assert split["a"]["monthly_usd"] + split["b"]["monthly_usd"] == pytest.approx(items[0].monthly_usd_ceiling)
    assert split["a"]["monthly_usd_idle"] == pytest.approx(3 * split["b"]["monthly_usd_idle"])
    assert split[cost_model.UNALLOCATED_KEY]["monthly_usd"] == pytest.approx(0)


def test_mig_quotas_count_as_gpu_equivalents(plan_of: Any) -> None:
    cfg = plan_of("prod").config
    vision = next(t for t in cfg.teams if t.name == "vision")
    pool = next(p for p in cfg.gpu_pools if p.mig_profile == "1g.5gb")
    per_gpu = cfg.pool_gpu(pool).mig_profiles["1g.5gb"]
    assert cost.gpu_quota_equivalents(cfg)["vision"] == vision.quotas.gpu + vision.quotas.mig["1g.5gb"] / per_gpu


def test_existing_cluster_is_owned_hardware(plan_of: Any) -> None:
    plan = plan_of("onprem")
    assert plan.cost["monthly_usd"] == 0
    for pool in plan.config.gpu_pools:
        entry = plan.cost["by_pool"][pool.name]
        per_node = plan.config.pool_node_types(pool)[0].gpus
        assert entry["capacity"] == "owned" and entry["ceiling"] == 0
        assert entry["gpus_ceiling"] == pool.nodes_count_for_existing * per_node
        assert entry["gpu_hours_ceiling"] == entry["gpus_ceiling"] * H


def test_lake_priced_from_config_when_no_bucket_is_tagged() -> None:
    cfg = config.parse(raw_config("dev"))
    out = cost.estimate_config(cfg, [])
    storage = [i for i in out["by_item"] if i["category"] == "storage"]
    assert {i["urn"] for i in storage} == {f"config:dataLake.sizeGb.{z}" for z in cfg.data_lake.size_gb}
    assert sum(i["monthly_usd"] for i in storage) == pytest.approx(
        sum(cfg.data_lake.size_gb.values()) * cost_model.S3_STANDARD_USD_GB_MONTH
    )


def test_gcp_resources_are_priced() -> None:
    resources = [
        ("urn:gke", cost_model.GKE_CLUSTER, {"location": "us-central1"}),
        (
            "urn:np",
            cost_model.GKE_NODE_POOL,
            {
                "nodeLocations": ["us-central1-a", "us-central1-b"],
                "autoscaling": {"minNodeCount": 0, "maxNodeCount": 2},
                "nodeConfig": {"machineType": "a2-highgpu-1g", "spot": True, "labels": {conventions.POOL_LABEL: "train"}},
            },
        ),
        (
            "urn:sys",
            cost_model.GKE_NODE_POOL,
            {"nodeCount": 1, "nodeLocations": ["a", "b", "c"], "nodeConfig": {"machineType": "e2-standard-4"}},
        ),
        (
            "urn:sql",
            cost_model.CLOUD_SQL,
            {"settings": {"tier": "db-custom-2-7680", "availabilityType": "REGIONAL", "diskSize": 20}},
        ),
        ("urn:redis", cost_model.MEMORYSTORE, {"tier": "STANDARD_HA", "memorySizeGb": 5}),
    ]
    items = {i.urn: i for i in cost_model.estimate_items(resources)}
    a2 = gpu_catalog.node_type("gcp", "a2-highgpu-1g").hourly_usd(spot=True)
    assert items["urn:gke"].monthly_usd == pytest.approx(cost_model.GKE_CLUSTER_USD_HOUR * H)
    assert items["urn:np"].pool == "train" and items["urn:np"].gpus_ceiling == 4  # per-zone max x 2 zones
    assert items["urn:np"].monthly_usd_ceiling == pytest.approx(4 * a2 * H)
    assert items["urn:sys"].monthly_usd == pytest.approx(3 * cost_model.GCE_USD_HOUR["e2-standard-4"] * H)
    sql_hour = 2 * cost_model.CLOUD_SQL_VCPU_USD_HOUR + 7.5 * cost_model.CLOUD_SQL_RAM_USD_GB_HOUR
    assert items["urn:sql"].monthly_usd == pytest.approx(2 * (sql_hour * H + 20 * cost_model.CLOUD_SQL_SSD_USD_GB_MONTH))
    assert items["urn:redis"].monthly_usd == pytest.approx(5 * cost_model.memorystore_usd_gb_hour("STANDARD_HA", 5) * H)


def _gke_pool(name: str, label: str, *, spot: bool, min_nodes: int, max_nodes: int) -> tuple[str, str, dict[str, Any]]:
    return (
        f"urn:{name}",
        cost_model.GKE_NODE_POOL,
        {
            "name": name,
            "autoscaling": {"totalMinNodeCount": min_nodes, "totalMaxNodeCount": max_nodes},
            "nodeConfig": {"machineType": "a3-highgpu-8g", "spot": spot, "labels": {conventions.POOL_LABEL: label}},
        },
    )


def test_spot_with_fallback_twin_is_estimated_at_spot() -> None:
    """GKE builds spot-with-fallback as a spot pool plus an on-demand twin with the same pool label."""
    a3 = gpu_catalog.node_type("gcp", "a3-highgpu-8g")
    items = cost_model.estimate_items(
        [
            _gke_pool("train", "train", spot=True, min_nodes=0, max_nodes=2),
            _gke_pool("train-ondemand", "train", spot=False, min_nodes=0, max_nodes=2),
        ]
    )
    idle, ceiling = cost_model.totals(items)
    assert idle == 0
    assert ceiling == pytest.approx(2 * a3.hourly_usd(spot=True) * H)
    twin = next(i for i in items if not i.spot)
    assert twin.monthly_usd_ceiling == 0 and twin.gpus_ceiling == 0
    assert f"{2 * a3.on_demand_usd_hour * H:,.0f}" in twin.basis  # what the fallback would add is stated
    # an on-demand pool of its own is not a twin
    [alone] = cost_model.estimate_items([_gke_pool("serve", "serve", spot=False, min_nodes=1, max_nodes=2)])
    assert alone.monthly_usd_ceiling == pytest.approx(2 * a3.on_demand_usd_hour * H)


def test_dual_region_and_replicated_lake_is_stored_twice() -> None:
    tags = {conventions.TAG_LAKE_ZONE: "raw", conventions.TAG_LAKE_ROLE: "primary"}
    dual = (
        "urn:b",
        cost_model.GCS_BUCKET,
        {"labels": tags, "customPlacementConfig": {"dataLocations": ["US-CENTRAL1", "US-EAST1"]}},
    )
    single = ("urn:c", cost_model.GCS_BUCKET, {"labels": tags})
    [d] = cost_model.estimate_items([dual], storage_gb={"raw": 100})
    [s1] = cost_model.estimate_items([single], storage_gb={"raw": 100})
    assert d.monthly_usd == pytest.approx(2 * s1.monthly_usd) == pytest.approx(2 * 100 * cost_model.GCS_STANDARD_USD_GB_MONTH)
    raw = raw_config("prod")  # DR on: with no bucket in the plan, config-priced zones count the replica too
    out = cost.estimate_config(config.parse(raw), [])
    raw_item = next(i for i in out["by_item"] if i["urn"] == "config:dataLake.sizeGb.raw")
    assert raw_item["monthly_usd"] == pytest.approx(2 * raw["dataLake"]["sizeGb"]["raw"] * cost_model.S3_STANDARD_USD_GB_MONTH)


def test_policy_resource_shape_and_unknown_inputs() -> None:
    """The policy pack passes ``PolicyResource`` objects; previews may hold unknown values."""
    triple = ("urn:db", cost_model.RDS_INSTANCE, {"instanceClass": "db.t4g.medium", "allocatedStorage": 50})
    as_policy = SimpleNamespace(urn="urn:db", resource_type=triple[1], props=triple[2])
    assert cost_model.estimate_items([triple]) == cost_model.estimate_items([as_policy])
    unknown = cost_model.estimate_items(
        [("urn:x", cost_model.RDS_INSTANCE, {"instanceClass": UNKNOWN, "allocatedStorage": UNKNOWN})]
    )
    assert len(unknown) == 1 and "not in the price list" in unknown[0].basis
    assert math.isfinite(unknown[0].monthly_usd)


def test_policy_proxies_price_like_plain_inputs() -> None:
    """Under ``pulumi preview`` a pack reads props through read-only proxies that raise on unknowns."""
    from infra.plan import sdk_compat as proxy

    resources = [(r.urn, r.type, r.inputs) for r in _synthetic_resources()]
    proxied = [SimpleNamespace(urn=u, resource_type=t, props=proxy.unknown_checking_proxy(i)) for u, t, i in resources]
    assert cost_model.estimate_items(proxied, storage_gb={"raw": 1000}) == cost_model.estimate_items(
        resources, storage_gb={"raw": 1000}
    )
    unknown = {"instanceClass": proxy.UNKNOWN_POLICY_VALUE, "allocatedStorage": 20}
    [item] = cost_model.estimate_items(
        [SimpleNamespace(urn="urn:db", resource_type=cost_model.RDS_INSTANCE, props=proxy.unknown_checking_proxy(unknown))]
    )
    assert item.monthly_usd == 0 and item.category == "unknown" and "instanceClass" in item.basis


PRICED_INPUT_KEYS = {
    cost_model.KARPENTER_NODEPOOL: ("metadata", "spec"),
    cost_model.EKS_NODE_GROUP: ("instanceTypes", "scalingConfig", "capacityType", "labels"),
    cost_model.GKE_NODE_POOL: ("nodeConfig", "autoscaling", "nodeLocations", "nodeCount"),
    cost_model.RDS_INSTANCE: ("instanceClass", "allocatedStorage", "multiAz"),
    cost_model.ELASTICACHE_REPLICATION_GROUP: ("nodeType", "numCacheClusters", "engine"),
    cost_model.CLOUD_SQL: ("settings",),
    cost_model.MEMORYSTORE: ("tier", "memorySizeGb"),
    cost_model.VPC_ENDPOINT: ("vpcEndpointType", "subnetIds"),
    cost_model.S3_BUCKET: ("tags",),
}


@pytest.mark.parametrize("type_", sorted(PRICED_INPUT_KEYS))
def test_unknown_preview_values_never_break_the_estimate(type_: str) -> None:
    for inputs in ({k: UNKNOWN for k in PRICED_INPUT_KEYS[type_]}, UNKNOWN, {}):
        for item in cost_model.estimate_items([("urn:x", type_, inputs)], storage_gb={"raw": 10}):
            assert item.monthly_usd_ceiling >= item.monthly_usd_idle >= 0


def test_prod_plan_json_and_markdown_show_the_figures(plan_of: Any) -> None:
    plan = plan_of("prod")
    doc = json.loads(json.dumps(plan.to_json()))
    c = doc["cost"]
    assert c["monthly_usd"] > c["monthly_usd_idle"] > 0
    assert set(c["by_pool"]) == {p.name for p in plan.config.gpu_pools}
    assert {t.name for t in plan.config.teams} <= set(c["by_team"])
    md = report.markdown(plan)
    assert f"${c['monthly_usd']:,.0f}/month" in md and f"${c['monthly_usd_idle']:,.0f}/month idle" in md
    for pool, v in c["by_pool"].items():
        assert f"| {pool} | ${v['idle']:,.0f} | ${v['ceiling']:,.0f} |" in md
    for team, v in c["by_team"].items():
        assert f"| {team} | ${v['monthly_usd']:,.0f} |" in md
    for item in c["by_item"]:  # every priced resource with its arithmetic, in a collapsed section
        assert (
            f"| `{item['urn'].rsplit('::', 1)[-1]}` | ${item['monthly_usd']:,.0f} | ${item['monthly_usd_idle']:,.0f} | {item['basis']} |"
            in md
        )
    for team in plan.config.teams:
        assert c["by_team"][team.name]["budget_usd"] == team.budget_usd


def test_console_summary_shows_idle_and_ceiling_by_pool_and_by_team(plan_of: Any) -> None:
    import io

    from rich.console import Console

    plan = plan_of("prod")
    out = io.StringIO()
    report.print_summary(plan, Console(file=out, width=240, color_system=None))
    text = out.getvalue()
    c = plan.cost
    assert f"estimated monthly cost: ${c['monthly_usd']:,.0f} at ceiling, ${c['monthly_usd_idle']:,.0f} idle" in text
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
        for line in text.splitlines()
        if line.count("│") == 4
    }
    for pool, v in c["by_pool"].items():
        assert rows[pool] == [f"${v['idle']:,.0f}", f"${v['ceiling']:,.0f}"], pool
    for team, v in c["by_team"].items():
        assert rows[team] == [f"${v['monthly_usd_idle']:,.0f}", f"${v['monthly_usd']:,.0f}"], team
