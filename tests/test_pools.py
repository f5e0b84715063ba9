"""One reading of node pools: the cost estimate and the cost policies size every pool alike.

Each case is a node-pool resource with an input shape that used to be read two ways (``nodeCount:
0``, spot as a string, family requirements, requirements that must all hold, JSON-encoded inputs).
The expected figures are worked out by hand from the provider's semantics (see catalog/pools.py),
never from the mock engine. The estimate reads plain dicts, the policies read ``pulumi_policy``
proxies, as each does in real use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from catalog import conventions as cv
from catalog import cost_model, pools
from catalog import gpus as gpu_catalog
from catalog.inputs import as_list, as_map, decoded, get_in, number, truthy
from infra import policy_hook
from infra.plan.model import RecordedResource
from infra.plan.sdk_compat import unknown_checking_proxy
from policies.common import gpu as policy_gpu

H = cost_model.HOURS_PER_MONTH


@dataclass
class Case:
    id: str
    type: str
    inputs: dict[str, Any]
    min_nodes: int
    gpus_idle: int
    gpus_ceiling: int
    spot: bool
    node_type: str | None
    """The type the estimate prices (``None``: none of the pool's types is in the GPU catalog)."""
    types: tuple[str, ...] = ()
    patterns: tuple[str, ...] = field(default_factory=tuple)


def _gke(node_config: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "name": "mlp-train",
        "nodeConfig": {"labels": {cv.POOL_LABEL: "train", cv.PURPOSE_LABEL: "training"}, **node_config},
        **top,
    }


def _karpenter(requirements: Any, *, limit: Any = 16, min_nodes: str = "0") -> dict[str, Any]:
    return {
        "metadata": {"name": "mlp-train", "annotations": {cv.MIN_NODES_ANNOTATION: min_nodes}},
        "spec": {
            "template": {
                "metadata": {"labels": {cv.POOL_LABEL: "train", cv.PURPOSE_LABEL: "training"}},
                "spec": {"requirements": requirements},
            },
            "limits": {cv.GPU_RESOURCE: limit},
        },
    }


def _req(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


A2_1G = "a2-highgpu-1g"  # 1 x A100-40GB
A2_8G = "a2-highgpu-8g"  # 8 x A100-40GB

CASES = [
    # GKE: nodeCount 0 is zero nodes, not "unset": the initial count no longer counts (it was 2 for the policies).
    Case(
        "gke-nodecount-zero",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_1G}, nodeCount=0, initialNodeCount=2),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=0,
        spot=False,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    # GKE: without nodeCount the initial count runs in each of the 2 zones.
    Case(
        "gke-initial-count-per-zone",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_1G}, initialNodeCount=1, nodeLocations=["us-central1-a", "us-central1-b"]),
        min_nodes=2,
        gpus_idle=2,
        gpus_ceiling=2,
        spot=False,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    # GKE: spot given as the string "true" is spot (the policies read it as on-demand).
    Case(
        "gke-spot-string-true",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_1G, "spot": "true"}, autoscaling={"minNodeCount": 0, "maxNodeCount": 3}),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=3,
        spot=True,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    # GKE: spot given as the string "false" is on-demand (the estimate read any non-empty string as spot).
    Case(
        "gke-spot-string-false",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_1G, "spot": "false", "preemptible": False}, autoscaling={"minNodeCount": 0, "maxNodeCount": 3}),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=3,
        spot=False,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    Case(
        "gke-preemptible",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_1G, "preemptible": True}, autoscaling={"minNodeCount": 0, "maxNodeCount": 1}),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=1,
        spot=True,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    # GKE: per-zone bounds x 3 zones; 8 GPUs a node.
    Case(
        "gke-per-zone-autoscaling",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_8G}, autoscaling={"minNodeCount": 1, "maxNodeCount": 2}, nodeLocations=["a", "b", "c"]),
        min_nodes=3,
        gpus_idle=24,
        gpus_ceiling=48,
        spot=False,
        node_type=A2_8G,
        types=(A2_8G,),
    ),
    # GKE: total bounds win over the zones; a total given as null falls back to the per-zone bounds.
    Case(
        "gke-total-autoscaling",
        pools.GKE_NODE_POOL,
        _gke({"machineType": A2_1G}, autoscaling={"totalMinNodeCount": 1, "totalMaxNodeCount": 5}, nodeLocations=["a", "b", "c"]),
        min_nodes=1,
        gpus_idle=1,
        gpus_ceiling=5,
        spot=False,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    Case(
        "gke-null-total-autoscaling",
        pools.GKE_NODE_POOL,
        _gke(
            {"machineType": A2_1G},
            autoscaling={"totalMaxNodeCount": None, "minNodeCount": 1, "maxNodeCount": 2},
            nodeLocations=["a", "b"],
        ),
        min_nodes=2,
        gpus_idle=2,
        gpus_ceiling=4,
        spot=False,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    # GKE: the whole nodeConfig JSON-encoded.
    Case(
        "gke-json-node-config",
        pools.GKE_NODE_POOL,
        {
            "name": "mlp-train",
            "nodeConfig": json.dumps({"machineType": A2_1G, "spot": True, "labels": {cv.POOL_LABEL: "train"}}),
            "nodeCount": 1,
        },
        min_nodes=1,
        gpus_idle=1,
        gpus_ceiling=1,
        spot=True,
        node_type=A2_1G,
        types=(A2_1G,),
    ),
    # Karpenter: a family requirement alone -> every catalog type of the family, plus the family pattern.
    Case(
        "karpenter-family",
        pools.KARPENTER_NODEPOOL,
        _karpenter([_req(pools.INSTANCE_FAMILY_LABEL, "p5")], limit=16),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=16,
        spot=False,
        node_type="p5.48xlarge",
        types=("p5.48xlarge",),
        patterns=("p5.48xlarge", "p5.*"),
    ),
    # Karpenter: requirements are ANDed - g6 or p5, and an L4 GPU -> g6 only (the estimate used to ignore the GPU name,
    # the policies the family's GPU); the cheapest L4 per GPU-hour is priced.
    Case(
        "karpenter-family-and-gpu-name",
        pools.KARPENTER_NODEPOOL,
        _karpenter(
            [
                _req(pools.INSTANCE_FAMILY_LABEL, "g6", "p5"),
                _req(pools.GPU_NAME_LABEL, "l4"),
                _req(pools.CAPACITY_TYPE_LABEL, "spot"),
            ],
            limit=4,
        ),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=4,
        spot=True,
        node_type="g6.xlarge",
        types=tuple(n.name for n in gpu_catalog.NODE_TYPES.values() if n.cloud == "aws" and n.family == "g6"),
        patterns=(*(n.name for n in gpu_catalog.NODE_TYPES.values() if n.cloud == "aws" and n.family == "g6"), "g6.*", "p5.*"),
    ),
    # Karpenter: a family the catalog does not list -> nothing priced, the pattern still visible to the policies.
    Case(
        "karpenter-unknown-family",
        pools.KARPENTER_NODEPOOL,
        _karpenter([_req(pools.INSTANCE_FAMILY_LABEL, "p6")], limit=8),
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=0,
        spot=False,
        node_type=None,
        types=(),
        patterns=("p6.*",),
    ),
    # Karpenter: requirements and the GPU limit JSON-encoded / as a string; baseline from the annotation.
    Case(
        "karpenter-json-requirements",
        pools.KARPENTER_NODEPOOL,
        _karpenter(
            json.dumps([_req(pools.INSTANCE_TYPE_LABEL, "g6.12xlarge"), _req(pools.CAPACITY_TYPE_LABEL, "spot", "on-demand")]),
            limit="8",
            min_nodes="1",
        ),
        min_nodes=1,
        gpus_idle=4,
        gpus_ceiling=8,
        spot=True,
        node_type="g6.12xlarge",
        types=("g6.12xlarge",),
    ),
    # EKS managed node group: scaling JSON-encoded, capacity type in lower case.
    Case(
        "eks-json-scaling",
        pools.EKS_NODE_GROUP,
        {
            "nodeGroupName": "mlp-train",
            "instanceTypes": ["g6.xlarge"],
            "capacityType": "spot",
            "scalingConfig": json.dumps({"minSize": 0, "maxSize": 5}),
            "labels": {cv.POOL_LABEL: "train", cv.PURPOSE_LABEL: "training"},
        },
        min_nodes=0,
        gpus_idle=0,
        gpus_ceiling=5,
        spot=True,
        node_type="g6.xlarge",
        types=("g6.xlarge",),
    ),
]


def _urn(case: Case) -> str:
    return f"urn:pulumi:test::ml-platform::{case.type}::{case.id}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_estimate_and_policies_read_the_same_pool(case: Case) -> None:
    [item] = cost_model.estimate_items([(_urn(case), case.type, case.inputs)])
    policy_pool = policy_gpu.pool_of(case.type, unknown_checking_proxy(case.inputs), case.id)
    assert policy_pool is not None
    # the hand-worked figures, for the estimate ...
    assert (item.category, item.pool, item.spot, item.node_type) == ("gpu", "train", case.spot, case.node_type)
    assert (item.gpus_idle, item.gpus_ceiling) == (case.gpus_idle, case.gpus_ceiling)
    if case.node_type is not None:
        price = gpu_catalog.node_type(policy_pool.cloud, case.node_type).hourly_usd(spot=case.spot)
        assert item.monthly_usd_idle == pytest.approx(price * case.min_nodes * H)
    # ... and for the policies, read from the proxies the CLI hands a pack
    assert (policy_pool.name, policy_pool.spot, policy_pool.min_nodes, policy_pool.gpu) == (
        "train",
        case.spot,
        case.min_nodes,
        True,
    )
    assert policy_pool.instance_types == case.types
    assert policy_pool.type_patterns == (case.patterns or case.types)
    if case.node_type is not None:
        assert policy_pool.gpu_ceiling == case.gpus_ceiling
    # the shared reading, with plain data, is the one both saw
    assert pools.pool_of(case.type, case.inputs, case.id) == policy_pool


def _recorded(case: Case, environment: str) -> list[RecordedResource]:
    provider_urn = "urn:pulumi:test::ml-platform::pulumi:providers:aws::default"
    res = RecordedResource(
        urn=_urn(case),
        type=case.type,
        name=case.id,
        custom=True,
        parent="",
        provider=f"{provider_urn}::id",
        protect=False,
        retain_on_delete=False,
        dependencies=[],
        inputs=case.inputs,
    )
    provider = RecordedResource(
        urn=provider_urn,
        type="pulumi:providers:aws",
        name="default",
        custom=True,
        parent="",
        provider="",
        protect=False,
        retain_on_delete=False,
        dependencies=[],
        inputs={"defaultTags": {"tags": {cv.TAG_ENVIRONMENT: environment}}},
    )
    return [provider, res]


def _cost_findings(case: Case, environment: str) -> set[str]:
    found = policy_hook.evaluate_resources(_recorded(case, environment), environment, packs=["cost"])
    return {v.policy for v in found if v.urn == _urn(case)}


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.id in ("gke-nodecount-zero", "gke-spot-string-true", "gke-spot-string-false")],
    ids=lambda c: c.id,
)
def test_the_packs_judge_a_pool_by_the_figures_the_estimate_prices(case: Case) -> None:
    """The real dev pack config: GPU pools scale to zero (mlp-cost-006), training runs on spot (mlp-cost-004)."""
    findings = _cost_findings(case, "dev")
    assert ("mlp-cost-006" in findings) == (case.min_nodes > 0)
    assert ("mlp-cost-004" in findings) == (not case.spot)


def test_family_patterns_reach_the_allowed_types_policy() -> None:
    """A denied family the catalog does not list (p5en in dev) is still found through its pattern."""
    case = Case("p5en", pools.KARPENTER_NODEPOOL, _karpenter([_req(pools.INSTANCE_FAMILY_LABEL, "p5en")]), 0, 0, 0, False, None)
    assert "mlp-cost-001" in _cost_findings(case, "dev")
    allowed = Case("g6", pools.KARPENTER_NODEPOOL, _karpenter([_req(pools.INSTANCE_FAMILY_LABEL, "g6")]), 0, 0, 0, False, None)
    assert "mlp-cost-001" not in _cost_findings(allowed, "dev")


def test_not_a_pool_is_none_and_unconstrained_karpenter_is_flagged() -> None:
    assert pools.pool_of("aws:s3/bucket:Bucket", {}, "b") is None
    pool = pools.pool_of(pools.KARPENTER_NODEPOOL, _karpenter([_req(pools.CAPACITY_TYPE_LABEL, "spot")]), "p")
    assert pool is not None and pool.unconstrained and pool.instance_types == () and pool.gpu  # GPU limit set


def test_inputs_helpers_decode_once_and_leave_non_json_alone() -> None:
    assert decoded('{"a": 1}') == {"a": 1}
    assert decoded("[1, 2]") == [1, 2]
    assert decoded("{not json") == "{not json"
    assert decoded("") == ""
    assert as_list("x") == [] and as_list(None) == [] and as_list('["a"]') == ["a"]
    assert as_map("[unknown]") == {} and as_map('{"k": "v"}') == {"k": "v"}
    assert get_in({"a": '{"b": {"c": 3}}'}, "a", "b", "c") == 3
    assert get_in({"a": 1}, "a", "b") is None
    assert number(True) is None and number("2.5") == 2.5 and number("2Gi") is None
    assert truthy("TRUE") and truthy(True) and not truthy("false") and not truthy(1)
    assert as_map(unknown_checking_proxy({"x": {"y": 1}}))["x"]["y"] == 1


# ---- reserved capacity and static NodePools (issue 20), read once for the estimate and the policies ----------


def _static_reserved(*, capacity: tuple[str, ...] = ("reserved", "on-demand"), price: str | None = "31.464") -> dict[str, Any]:
    """A static p5 NodePool of 2 replicas (scalable to limits.nodes 4) holding a 2-node Capacity Block."""
    annotations = {cv.MIN_NODES_ANNOTATION: "2", pools.RESERVED_NODES_ANNOTATION: "2"}
    if price is not None:
        annotations[pools.RESERVED_PRICE_ANNOTATION] = price
    return {
        "metadata": {"name": "mlp-train", "annotations": annotations},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {cv.POOL_LABEL: "train", cv.PURPOSE_LABEL: "training"}},
                "spec": {
                    "requirements": [_req(pools.INSTANCE_TYPE_LABEL, "p5.48xlarge"), _req(pools.CAPACITY_TYPE_LABEL, *capacity)]
                },
            },
            "limits": {"nodes": 4},  # the CRD lets a static pool limit nodes only
        },
    }


def test_static_reserved_nodepool_is_read_alike_and_priced_as_already_paid() -> None:
    inputs = _static_reserved()
    pool = policy_gpu.pool_of(pools.KARPENTER_NODEPOOL, unknown_checking_proxy(inputs), "p")
    assert pool is not None and pool == pools.pool_of(pools.KARPENTER_NODEPOOL, inputs, "p")
    assert (pool.replicas, pool.node_limit, pool.reserved_nodes, pool.reserved_usd_hour) == (2, 4, 2, 31.464)
    assert pool.fallback == ("on-demand",) and pool.gpu_limit is None and pool.gpu_ceiling == 32  # 4 nodes x 8 H100
    [item] = cost_model.estimate_items(
        [("urn:pulumi:t::p::kubernetes:karpenter.sh/v1:NodePool::p", pools.KARPENTER_NODEPOOL, inputs)]
    )
    fixed = 2 * 31.464 * H
    on_demand = gpu_catalog.node_type("aws", "p5.48xlarge").hourly_usd(spot=False)
    assert item.reserved_usd_month == pytest.approx(fixed) and item.reserved_price_fixed
    assert item.monthly_usd_idle == pytest.approx(fixed)  # the 2 static nodes are the reserved ones
    assert item.monthly_usd_ceiling == pytest.approx(fixed + 2 * on_demand * H)  # scaled to limits.nodes: 2 more on demand
    assert (item.gpus_idle, item.gpus_ceiling) == (16, 32)


def test_a_given_reservation_price_keeps_out_of_the_regional_factor() -> None:
    urn = "urn:pulumi:t::p::kubernetes:karpenter.sh/v1:NodePool::p"
    region = next(r for r, f in sorted(gpu_catalog.REGION_MULTIPLIERS["aws"].items()) if f != 1)
    factor = gpu_catalog.region_multiplier("aws", region)
    [given] = cost_model.estimate_items([(urn, pools.KARPENTER_NODEPOOL, _static_reserved())], region=region)
    assert given.reserved_usd_month == pytest.approx(2 * 31.464 * H)
    [listed] = cost_model.estimate_items([(urn, pools.KARPENTER_NODEPOOL, _static_reserved(price=None))], region=region)
    list_price = gpu_catalog.node_type("aws", "p5.48xlarge").hourly_usd(spot=False)
    assert listed.reserved_usd_month == pytest.approx(2 * list_price * H * factor) and not listed.reserved_price_fixed


def _karpenter_findings(inputs: dict[str, Any], environment: str) -> set[str]:
    case = Case("static", pools.KARPENTER_NODEPOOL, inputs, 0, 0, 0, False, None)
    return _cost_findings(case, environment)


def test_the_packs_bound_a_static_pool_by_its_node_limit_and_let_reservations_pass_the_spot_rule() -> None:
    # mlp-cost-005: limits.nodes bounds a static GPU pool (no nvidia.com/gpu limit allowed there)
    assert "mlp-cost-005" not in _karpenter_findings(_static_reserved(), "prod")
    unbounded = _static_reserved()
    unbounded["spec"]["limits"] = {"cpu": "1000"}
    assert "mlp-cost-005" in _karpenter_findings(unbounded, "prod")
    # mlp-cost-002: 4 nodes x 8 GPUs = 32 > the dev ceiling of 8
    assert "mlp-cost-002" in _karpenter_findings(_static_reserved(), "dev")
    # mlp-cost-004 in dev: a reservation alone is already paid; past it the pool must fall back to spot
    assert "mlp-cost-004" not in _karpenter_findings(_static_reserved(capacity=("reserved",)), "dev")
    assert "mlp-cost-004" in _karpenter_findings(_static_reserved(capacity=("reserved", "on-demand")), "dev")
    assert "mlp-cost-004" not in _karpenter_findings(_static_reserved(capacity=("reserved", "spot")), "dev")


def test_gke_pool_on_a_specific_reservation_is_reserved_capacity_without_fallback() -> None:
    inputs = _gke(
        {
            "machineType": A2_8G,
            "reservationAffinity": {
                "consumeReservationType": "SPECIFIC_RESERVATION",
                "key": "compute.googleapis.com/reservation-name",
                "values": ["block"],
            },
        },
        autoscaling={"totalMinNodeCount": 0, "totalMaxNodeCount": 2},
    )
    pool = pools.pool_of(pools.GKE_NODE_POOL, inputs, "p")
    assert pool is not None and pool.capacity == ("reserved",) and pool.reserved_nodes == 2 and pool.fallback == ()
    [item] = cost_model.estimate_items([("urn:pulumi:t::p::gcp:container/nodePool:NodePool::p", pools.GKE_NODE_POOL, inputs)])
    fixed = 2 * gpu_catalog.node_type("gcp", A2_8G).hourly_usd(spot=False) * H
    assert item.reserved_usd_month == pytest.approx(fixed) and item.monthly_usd_idle == item.monthly_usd_ceiling == pytest.approx(
        fixed
    )
    assert not item.spot and item.gpus_ceiling == 16
