"""GPU compute through the real plan of every stack: Karpenter NodePools, node groups, GPU operator, alerts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import conventions as cv
from catalog import gpus as catalog
from components.aws import karpenter as karpenter_mod
from components.k8s import gpu_operator as operator_mod
from infra import config
from infra.layers import aws_gpu
from infra.plan.engine import Plan, RecordedResource
from tests.chart_values import assert_keys_exist, crd_validator, schema_errors
from tests.helpers import STACKS

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODEGROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
PROMRULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
PRIORITY = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
AWS_STACKS = [s for s in STACKS if config.load_stack(s).cloud == "aws"]
OPERATOR_STACKS = [s for s in STACKS if config.load_stack(s).cloud != "gcp" and config.load_stack(s).gpu_operator_enabled]
"""Stacks that install the GPU operator (GKE preinstalls the driver; a fleet manager has no GPU nodes)."""
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}

PlanOf = Callable[[str], Plan]


def _pools(plan: Plan) -> dict[str, RecordedResource]:
    return {r.inputs["metadata"]["name"]: r for r in plan.by_type(NODEPOOL)}


def _req(pool: RecordedResource, key: str) -> list[str]:
    reqs = pool.inputs["spec"]["template"]["spec"]["requirements"]
    found = [r for r in reqs if r["key"] == key]
    assert len(found) == 1 and found[0]["operator"] == "In", f"{key}: {found}"
    return found[0]["values"]


def _release(plan: Plan, chart_suffix: str) -> RecordedResource:
    found = [r for r in plan.by_type(RELEASE) if str(r.inputs.get("chart", "")).endswith(chart_suffix)]
    assert len(found) == 1, [r.inputs.get("chart") for r in plan.by_type(RELEASE)]
    return found[0]


def _configmap(plan: Plan, name: str) -> RecordedResource:
    found = [r for r in plan.by_type(CONFIGMAP) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, name
    return found[0]


# ---- Karpenter NodePools ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_one_nodepool_per_karpenter_pool_and_a_node_group_per_managed_pool(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    karpenter = sorted(p.name for p in plan.config.gpu_pools if p.mode == "karpenter")
    managed = sorted(p.name for p in plan.config.gpu_pools if p.mode == "managed")
    assert sorted(_pools(plan)) == karpenter
    gpu_groups = sorted(
        r.inputs["labels"][cv.POOL_LABEL] for r in plan.by_type(NODEGROUP) if cv.POOL_LABEL in r.inputs.get("labels", {})
    )
    assert gpu_groups == managed


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodepools_capacity_taint_limits_disruption(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    pools = _pools(plan)
    want_capacity = {"spot": {"spot"}, "on-demand": {"on-demand"}, "spot-with-fallback": {"spot", "on-demand"}}
    for cfg_pool in plan.config.gpu_pools:
        if cfg_pool.mode != "karpenter":
            continue
        res = pools[cfg_pool.name]
        spec = res.inputs["spec"]
        template = spec["template"]["spec"]
        assert set(_req(res, "karpenter.sh/capacity-type")) == want_capacity[cfg_pool.capacity]
        assert _req(res, "kubernetes.io/arch") == ["amd64"]
        assert GPU_TAINT in template["taints"]
        # every instance type is a catalog type carrying the pool's GPU model
        gpu = plan.config.pool_gpu(cfg_pool)
        types = _req(res, "node.kubernetes.io/instance-type")
        assert types and all(catalog.node_type("aws", t).gpu == gpu.key for t in types)
        if cfg_pool.instance_types:
            assert sorted(types) == sorted(cfg_pool.instance_types)
        # GPU ceiling: gpuLimit, else maxNodes x the biggest node's GPUs
        per_node = max(catalog.node_type("aws", t).gpus for t in types)
        gpu_limit = spec["limits"][cv.GPU_RESOURCE]
        assert gpu_limit == (cfg_pool.gpu_limit or (cfg_pool.max_nodes or 0) * per_node)
        # the CPU ceiling lets the pool reach its GPU ceiling on whichever type it launches, and no further
        shapes = [catalog.node_type("aws", t) for t in types]
        needed = [math.ceil(gpu_limit / n.gpus) * n.vcpu for n in shapes]
        assert spec["limits"]["cpu"] == max(needed), (spec["limits"]["cpu"], needed)
        assert spec["limits"]["nodes"] == cfg_pool.max_nodes
        policy = spec["disruption"]["consolidationPolicy"]
        assert policy == ("WhenEmpty" if cfg_pool.purpose == "training" else "WhenEmptyOrUnderutilized")
        assert template["expireAfter"] == cfg_pool.expire_after
        labels = spec["template"]["metadata"]["labels"]
        assert labels[cv.POOL_LABEL] == cfg_pool.name and labels[cv.PURPOSE_LABEL] == cfg_pool.purpose
        assert labels[cv.GPU_MODEL_LABEL] == gpu.key
        if cfg_pool.mig_profile:
            assert labels[cv.MIG_CONFIG_LABEL] == catalog.mig_config_name(cfg_pool.mig_profile)
        else:
            assert cv.MIG_CONFIG_LABEL not in labels
        annotations = res.inputs["metadata"]["annotations"]
        assert annotations[cv.MIN_NODES_ANNOTATION] == str(cfg_pool.min_nodes)
        assert annotations[cv.MAX_NODES_ANNOTATION] == str(cfg_pool.max_nodes)


def test_known_gpu_ceilings(plan_of: PlanOf) -> None:
    """Spot-check the arithmetic: explicit gpuLimit wins; otherwise maxNodes x GPUs per node."""
    dev, prod = _pools(plan_of("dev")), _pools(plan_of("prod"))
    assert dev["train-l4"].inputs["spec"]["limits"][cv.GPU_RESOURCE] == 4  # gpuLimit: 4
    assert prod["train-h100"].inputs["spec"]["limits"][cv.GPU_RESOURCE] == 32  # 4 x p5.48xlarge (8 GPUs)
    assert prod["train-a100-mig"].inputs["spec"]["limits"][cv.GPU_RESOURCE] == 16  # 2 x p4d.24xlarge


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_spot_pools_always_outweigh_costlier_ones(plan_of: PlanOf, stack: str) -> None:
    """Where a pod fits several pools, Karpenter tries the higher weight first: spot before fallback before on-demand."""
    plan = plan_of(stack)
    spotness = {"spot": 2, "spot-with-fallback": 1, "on-demand": 0}
    weights = {name: res.inputs["spec"]["weight"] for name, res in _pools(plan).items()}
    pools = [p for p in plan.config.gpu_pools if p.mode == "karpenter"]
    for a in pools:
        assert 1 <= weights[a.name] <= 100
        for b in pools:
            if spotness[a.capacity] > spotness[b.capacity]:
                assert weights[a.name] > weights[b.name], (a.name, b.name, weights)


def test_spot_pools_are_preferred_by_weight(plan_of: PlanOf) -> None:
    pools = _pools(plan_of("prod"))
    fallback = pools["train-h100"].inputs["spec"]["weight"]
    on_demand = pools["serve-l4"].inputs["spec"]["weight"]
    assert fallback > on_demand
    dev = _pools(plan_of("dev"))
    assert dev["train-l4"].inputs["spec"]["weight"] > fallback


def test_dev_gpu_pools_scale_to_zero(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    pools = _pools(plan)
    assert pools, "dev has Karpenter GPU pools"
    for res in pools.values():
        assert res.inputs["metadata"]["annotations"][cv.MIN_NODES_ANNOTATION] == "0"
        spec = res.inputs["spec"]
        # empty nodes are removed (both policies remove empty nodes; "Never" would keep them) ...
        assert spec["disruption"]["consolidateAfter"] != "Never"
        # (a zero budget may block other reasons, such as drift on training pools, but never Empty)
        assert all(
            b.get("nodes") not in ("0", "0%") or "Empty" not in b.get("reasons", ["Empty"]) for b in spec["disruption"]["budgets"]
        )
        # ... and no static capacity holds nodes up
        assert "replicas" not in spec
    for group in plan.by_type(NODEGROUP):
        if cv.POOL_LABEL in group.inputs.get("labels", {}):
            assert group.inputs["scalingConfig"]["minSize"] == 0


def test_mig_and_time_slicing_pools_are_labelled_for_the_operator(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    pools = _pools(plan)
    mig = pools["train-a100-mig"].inputs["spec"]["template"]["metadata"]["labels"]
    assert mig[cv.MIG_CONFIG_LABEL] == "all-1g.5gb"
    notebooks = pools["notebooks"].inputs["spec"]["template"]["metadata"]["labels"]
    assert cv.MIG_CONFIG_LABEL not in notebooks
    entry = notebooks[cv.DEVICE_PLUGIN_CONFIG_LABEL]
    data = _configmap(plan, operator_mod.DEVICE_PLUGIN_CONFIG).inputs["data"]
    sharing = yaml.safe_load(data[entry])["sharing"]["timeSlicing"]["resources"]
    assert sharing == [{"name": "nvidia.com/gpu", "replicas": 4}]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_mig_pools_tell_karpenter_how_many_slices_a_node_offers(plan_of: PlanOf, stack: str) -> None:
    """Under the mixed strategy pods ask for nvidia.com/mig-<profile>; a NodeOverlay advertises it."""
    plan = plan_of(stack)
    overlays = plan.by_type("kubernetes:karpenter.sh/v1alpha1:NodeOverlay")
    want: dict[str, dict[str, str]] = {}
    for pool in plan.config.gpu_pools:
        if pool.mig_profile and pool.mode == "karpenter":
            gpu = plan.config.pool_gpu(pool)
            for node in plan.config.pool_node_types(pool):
                want[node.name] = {f"nvidia.com/mig-{pool.mig_profile}": str(node.gpus * gpu.mig_profiles[pool.mig_profile])}
    got = {o.inputs["spec"]["requirements"][0]["values"][0]: o.inputs["spec"]["capacity"] for o in overlays}
    assert got == want
    gates = _release(plan, "karpenter/karpenter").inputs["values"]["settings"].get("featureGates", {})
    assert gates.get("nodeOverlay", False) is bool(want)


def test_known_mig_slice_counts(plan_of: PlanOf) -> None:
    (overlay,) = plan_of("prod").by_type("kubernetes:karpenter.sh/v1alpha1:NodeOverlay")
    assert overlay.inputs["spec"]["capacity"] == {"nvidia.com/mig-1g.5gb": "56"}  # 8 A100-40GB x 7 slices
    (overlay,) = plan_of("staging").by_type("kubernetes:karpenter.sh/v1alpha1:NodeOverlay")
    assert overlay.inputs["spec"]["capacity"] == {"nvidia.com/mig-3g.20gb": "16"}  # 8 x 2


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodes_launch_encrypted_imdsv2_only_in_discovered_subnets(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    classes = plan.by_type(NODECLASS)
    assert classes
    for res in classes:
        spec = res.inputs["spec"]
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
        for bdm in spec["blockDeviceMappings"]:
            assert bdm["ebs"]["encrypted"] is True and bdm["ebs"]["volumeType"] == "gp3"
            assert bdm["ebs"]["kmsKeyID"].startswith("arn:aws:kms:")
        assert spec["subnetSelectorTerms"] == [{"tags": {cv.KARPENTER_DISCOVERY_TAG: plan.config.cluster_name}}]
        assert spec["securityGroupSelectorTerms"] == spec["subnetSelectorTerms"]
        assert spec["role"].startswith("karpenter-node")
        assert spec["amiSelectorTerms"][0]["alias"].split("@")[0] in ("al2023", "bottlerocket")
        assert set(cv.REQUIRED_TAGS) <= set(spec["tags"])
    # each pool's node class sizes its volume from the pool's diskGb
    by_name = {r.inputs["metadata"]["name"]: r for r in classes}
    pools = _pools(plan)
    for cfg_pool in plan.config.gpu_pools:
        if cfg_pool.mode != "karpenter":
            continue
        pool = pools[cfg_pool.name]
        ref = pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]
        assert ref["group"] == "karpenter.k8s.aws" and ref["kind"] == "EC2NodeClass"
        assert ref["name"] in by_name
        assert by_name[ref["name"]].urn in pool.dependencies
        node_class = by_name[ref["name"]].inputs["spec"]
        assert node_class["amiSelectorTerms"] == [{"alias": f"{cfg_pool.ami_family}@{cfg_pool.ami_version}"}]
        (root,) = [b for b in node_class["blockDeviceMappings"] if b.get("rootVolume")]
        assert root["ebs"]["volumeSize"] == f"{cfg_pool.disk_gb}Gi", cfg_pool.name


def test_the_security_group_is_tagged_for_discovery(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    tags = [r for r in plan.by_type("aws:ec2/tag:Tag") if r.inputs["key"] == cv.KARPENTER_DISCOVERY_TAG]
    assert len(tags) == 1 and tags[0].inputs["value"] == plan.config.cluster_name
    assert tags[0].inputs["resourceId"].startswith("sg-")


# ---- Karpenter controller, IAM, interruption handling --------------------------------------------


def _inline_policy(plan: Plan, role_name: str) -> dict[str, Any]:
    found = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == role_name]
    assert len(found) == 1
    return json.loads(found[0].inputs["policy"])


def test_controller_policy_is_scoped_to_this_cluster(plan_of: PlanOf) -> None:
    plan = plan_of("staging")
    cluster = plan.config.cluster_name
    policy = _inline_policy(plan, "karpenter-controller")
    statements = policy["Statement"]
    assert len(json.dumps(policy, separators=(",", ":"))) < 10240  # IAM's inline policy size limit
    for st in statements:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), st["Sid"]
        writes = {"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate", "ec2:CreateTags", "iam:DeleteInstanceProfile"}
        if writes & set(actions):
            conditions = json.dumps(st["Condition"])
            assert f"kubernetes.io/cluster/{cluster}" in conditions, st["Sid"]
        if st["Resource"] == "*":  # account-wide only for reads
            assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in actions), st["Sid"]
    pass_role = [st for st in statements if st["Action"] == "iam:PassRole"]
    (entry,) = [r for r in plan.by_type("aws:eks/accessEntry:AccessEntry") if r.name == "karpenter-node"]
    assert len(pass_role) == 1 and pass_role[0]["Resource"] == entry.inputs["principalArn"]  # the node role only
    queue = next(r for r in plan.by_type("aws:sqs/queue:Queue") if r.name == "karpenter-interruption")
    sqs = [
        st
        for st in statements
        if any(str(a).startswith("sqs:") for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]))
    ]
    assert len(sqs) == 1 and sqs[0]["Resource"].endswith(":" + queue.inputs["name"])


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_controller_may_have_the_spot_service_linked_role_created_only_with_spot_pools(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    statements = _inline_policy(plan, "karpenter-controller")["Statement"]
    slr = [st for st in statements if st["Action"] == "iam:CreateServiceLinkedRole"]
    uses_spot = any(p.capacity != "on-demand" for p in plan.config.gpu_pools if p.mode == "karpenter")
    assert len(slr) == int(uses_spot)
    for st in slr:
        assert st["Resource"].endswith(":role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot")
        assert st["Condition"]["StringEquals"]["iam:AWSServiceName"] == "spot.amazonaws.com"


def test_controller_role_trusts_only_the_karpenter_service_account(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    role = next(r for r in plan.by_type("aws:iam/role:Role") if r.name == "karpenter-controller")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    subs = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subs == [f"system:serviceaccount:{cv.NS_KARPENTER}:karpenter"]
    values = _release(plan, "karpenter/karpenter").inputs["values"]
    assert values["serviceAccount"]["name"] == "karpenter"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::123456789012:role/karpenter-controller"
    )


def test_interruption_queue_is_encrypted_and_fed_by_every_upstream_event_type(plan_of: PlanOf) -> None:
    """The five rules of upstream's v1.14 reference template (getting-started cloudformation.yaml)."""
    plan = plan_of("prod")
    queue = next(r for r in plan.by_type("aws:sqs/queue:Queue") if r.name == "karpenter-interruption")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    rules = {
        r.name: json.loads(r.inputs["eventPattern"])
        for r in plan.by_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.startswith("karpenter-")
    }
    detail_types = {t for p in rules.values() for t in p["detail-type"]}
    assert detail_types == {
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "AWS Health Event",
        "EC2 Capacity Reservation Instance Interruption Warning",
    }
    targets = [r for r in plan.by_type("aws:cloudwatch/eventTarget:EventTarget") if r.name.startswith("karpenter-")]
    assert len(targets) == 5 and all(t.inputs["arn"].endswith(":" + queue.inputs["name"]) for t in targets)
    settings = _release(plan, "karpenter/karpenter").inputs["values"]["settings"]
    assert settings["interruptionQueue"] == queue.inputs["name"]
    assert settings["clusterName"] == plan.config.cluster_name
    policy = json.loads(
        next(r for r in plan.by_type("aws:sqs/queuePolicy:QueuePolicy") if r.name == "karpenter-interruption").inputs["policy"]
    )
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_node_role_has_an_access_entry(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    (entry,) = [r for r in plan.by_type("aws:eks/accessEntry:AccessEntry") if r.name == "karpenter-node"]
    assert entry.inputs["type"] == "EC2_LINUX"
    assert ":role/karpenter-node" in entry.inputs["principalArn"]


def test_karpenter_runs_on_system_nodes_and_crs_wait_for_it(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    release = _release(plan, "karpenter/karpenter")
    assert release.inputs["values"]["nodeSelector"] == {"ml-platform.io/node-role": "system"}
    assert release.inputs["namespace"] == cv.NS_KARPENTER
    for res in [*plan.by_type(NODEPOOL), *plan.by_type(NODECLASS)]:
        assert release.urn in res.dependencies


# ---- managed GPU node groups ---------------------------------------------------------------------


def test_managed_pool_is_an_nvidia_node_group_with_imdsv2_and_encrypted_volumes(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    (group,) = [r for r in plan.by_type(NODEGROUP) if r.inputs.get("labels", {}).get(cv.POOL_LABEL) == "serve-l40s"]
    assert group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["scalingConfig"] == {"minSize": 1, "maxSize": 4, "desiredSize": 1}
    assert sorted(group.inputs["instanceTypes"]) == ["g6e.2xlarge", "g6e.xlarge"]
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in group.inputs["taints"]
    lt_urn = next(r.urn for r in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate") if r.name == "gpu-serve-l40s-lt")
    lt = plan.get(lt_urn)
    assert lt is not None
    assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
    (bdm,) = lt.inputs["blockDeviceMappings"]
    assert bdm["ebs"]["encrypted"] == "true" and bdm["ebs"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert int(bdm["ebs"]["volumeSize"]) == 200


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_managed_pool_is_a_node_group_as_configured(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    groups = {
        r.inputs["labels"][cv.POOL_LABEL]: r for r in plan.by_type(NODEGROUP) if cv.POOL_LABEL in r.inputs.get("labels", {})
    }
    templates = {r.urn: r for r in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for pool in plan.config.gpu_pools:
        if pool.mode != "managed":
            continue
        group = groups[pool.name]
        assert group.inputs["labels"] == aws_gpu.pool_node_labels(plan.config, pool)  # same labels as a NodePool's nodes
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in group.inputs["taints"]
        assert (
            group.inputs["amiType"]
            == {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}[pool.ami_family]
        )
        assert group.inputs["capacityType"] == {"spot": "SPOT", "on-demand": "ON_DEMAND"}[pool.capacity]
        scaling = group.inputs["scalingConfig"]
        assert (scaling["minSize"], scaling["maxSize"]) == (pool.min_nodes, pool.max_nodes)
        assert sorted(group.inputs["instanceTypes"]) == sorted(n.name for n in plan.config.pool_node_types(pool))
        (lt,) = [templates[d] for d in group.dependencies if d in templates]
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
        assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        for bdm in lt.inputs["blockDeviceMappings"]:
            assert bdm["ebs"]["encrypted"] == "true" and bdm["ebs"]["kmsKeyId"].startswith("arn:aws:kms:")
            assert int(bdm["ebs"]["volumeSize"]) == pool.disk_gb


# ---- GPU operator ------------------------------------------------------------------------------


def _mig_configs(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    data = _configmap(plan, operator_mod.MIG_PARTED_CONFIG).inputs["data"]
    return yaml.safe_load(data["config.yaml"])["mig-configs"]


@pytest.mark.parametrize("stack", OPERATOR_STACKS)
def test_mig_parted_config_lists_exactly_the_configured_profiles(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    configured = {catalog.mig_config_name(p.mig_profile) for p in plan.config.gpu_pools if p.mig_profile}
    configs = _mig_configs(plan)
    assert set(configs) == {"all-disabled"} | configured
    for pool in plan.config.gpu_pools:
        if not pool.mig_profile:
            continue
        # each layout lists exactly the GPU models that pools cut into that profile, with the catalog's slice count
        gpus = {plan.config.pool_gpu(p).key for p in plan.config.gpu_pools if p.mig_profile == pool.mig_profile}
        want = sorted((catalog.gpu_model(g).pci_device_ids, catalog.gpu_model(g).mig_profiles[pool.mig_profile]) for g in gpus)
        entries = configs[catalog.mig_config_name(pool.mig_profile)]
        got = sorted((tuple(e["device-filter"]), e["mig-devices"][pool.mig_profile]) for e in entries)
        assert got == want
        assert all(e["mig-enabled"] is True and list(e["mig-devices"]) == [pool.mig_profile] for e in entries)
    values = _release(plan, "gpu-operator").inputs["values"]
    assert values["migManager"]["config"] == {"create": False, "name": operator_mod.MIG_PARTED_CONFIG, "default": "all-disabled"}
    assert values["mig"]["strategy"] == plan.config.gpu_operator.mig_strategy


@pytest.mark.upstream
@pytest.mark.parametrize("stack", OPERATOR_STACKS)
def test_mig_parted_entries_match_nvidia_default_config(plan_of: PlanOf, upstream: Path, stack: str) -> None:
    cm = yaml.safe_load((upstream / "gpu-operator" / "default-mig-parted-config.yaml").read_text())
    nvidia = yaml.safe_load(cm["data"]["config.yaml"])["mig-configs"]
    plan = plan_of(stack)
    checked = set()
    for name, entries in _mig_configs(plan).items():
        assert name in nvidia
        for entry in entries:
            if not entry["mig-enabled"]:
                continue
            checked.add((name, entry["device-filter"][0]))
            device = entry["device-filter"][0]
            theirs = next(
                (
                    e
                    for e in nvidia[name]
                    if device in ([e["device-filter"]] if isinstance(e.get("device-filter"), str) else e.get("device-filter", []))
                ),
                next((e for e in nvidia[name] if "device-filter" not in e), None),
            )
            assert theirs is not None, f"{name}: NVIDIA has no entry for {device}"
            assert entry["mig-devices"] == theirs["mig-devices"], name
    # every MIG pool of the config was among the entries compared
    configured = {
        (catalog.mig_config_name(p.mig_profile), plan.config.pool_gpu(p).pci_device_ids[0])
        for p in plan.config.gpu_pools
        if p.mig_profile
    }
    assert configured <= checked, configured - checked


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_gpu_nodes_select_operator_config_entries_that_exist(plan_of: PlanOf, stack: str) -> None:
    """A node label naming a missing device-plugin or mig-parted entry leaves the node's GPUs unconfigured."""
    plan = plan_of(stack)
    device_plugin = _configmap(plan, operator_mod.DEVICE_PLUGIN_CONFIG).inputs["data"]
    mig = _mig_configs(plan)
    node_labels = {name: res.inputs["spec"]["template"]["metadata"]["labels"] for name, res in _pools(plan).items()}
    node_labels |= {
        r.inputs["labels"][cv.POOL_LABEL]: r.inputs["labels"]
        for r in plan.by_type(NODEGROUP)
        if cv.POOL_LABEL in r.inputs.get("labels", {})
    }
    assert sorted(node_labels) == sorted(p.name for p in plan.config.gpu_pools)
    for pool in plan.config.gpu_pools:
        labels = node_labels[pool.name]
        entry = labels.get(cv.DEVICE_PLUGIN_CONFIG_LABEL)
        if pool.time_slicing_replicas:
            sharing = yaml.safe_load(device_plugin[entry])["sharing"]["timeSlicing"]["resources"]
            assert sharing == [{"name": cv.GPU_RESOURCE, "replicas": pool.time_slicing_replicas}]
        else:
            assert entry is None
        layout = labels.get(cv.MIG_CONFIG_LABEL)
        if pool.mig_profile:
            devices = {d for e in mig[layout] for d in e["device-filter"]}
            assert set(plan.config.pool_gpu(pool).pci_device_ids) <= devices, pool.name
        else:
            assert layout is None


@pytest.mark.parametrize("stack", OPERATOR_STACKS)
def test_time_slicing_config_has_one_entry_per_time_sliced_pool(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    data = _configmap(plan, operator_mod.DEVICE_PLUGIN_CONFIG).inputs["data"]
    want = {p.name: p.time_slicing_replicas for p in plan.config.gpu_pools if p.time_slicing_replicas}
    got = {k: yaml.safe_load(v)["sharing"]["timeSlicing"]["resources"][0]["replicas"] for k, v in data.items() if k != "default"}
    assert got == want
    assert "sharing" not in yaml.safe_load(data["default"])
    values = _release(plan, "gpu-operator").inputs["values"]
    assert values["devicePlugin"]["config"]["name"] == operator_mod.DEVICE_PLUGIN_CONFIG


def test_driver_is_installed_only_where_the_image_lacks_it(plan_of: PlanOf) -> None:
    for stack in AWS_STACKS:
        values = _release(plan_of(stack), "gpu-operator").inputs["values"]
        assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False, stack
    onprem = _release(plan_of("onprem"), "gpu-operator").inputs["values"]
    assert onprem["driver"]["enabled"] is True and onprem["toolkit"]["enabled"] is True


def test_operator_is_off_on_gke_by_default_but_priorities_are_there(plan_of: PlanOf) -> None:
    plan = plan_of("gcp-dev")
    assert not [r for r in plan.by_type(RELEASE) if r.inputs.get("chart") == "gpu-operator"]
    assert len(plan.by_type(PRIORITY)) == len(cv.PRIORITY_CLASSES)


@pytest.mark.parametrize("stack", OPERATOR_STACKS)
def test_operator_tolerates_the_gpu_taint_and_exports_dcgm_metrics(plan_of: PlanOf, stack: str) -> None:
    release = _release(plan_of(stack), "gpu-operator")
    values = release.inputs["values"]
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert toleration in values["daemonsets"]["tolerations"]
    assert toleration in values["node-feature-discovery"]["worker"]["tolerations"]
    assert values["dcgmExporter"]["enabled"] is True and values["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    assert release.inputs["namespace"] == cv.NS_GPU_OPERATOR
    assert release.inputs["repositoryOpts"]["repo"] == "https://helm.ngc.nvidia.com/nvidia"


# ---- scheduling and monitoring -----------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_priority_classes_match_the_shared_table(plan_of: PlanOf, stack: str) -> None:
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in plan_of(stack).by_type(PRIORITY)}
    assert {k: v["value"] for k, v in classes.items()} == cv.PRIORITY_CLASSES
    lowest = min(cv.PRIORITY_CLASSES, key=cv.PRIORITY_CLASSES.__getitem__)
    assert lowest == "experiments-low" and classes[lowest]["preemptionPolicy"] == "Never"
    assert all(v["preemptionPolicy"] == "PreemptLowerPriority" for k, v in classes.items() if k != lowest)
    assert not any(v.get("globalDefault") for v in classes.values())
    ranked = ["platform-critical", "serving-high", "training-medium", "experiments-low"]
    values = [classes[c]["value"] for c in ranked]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)


def test_later_platform_components_wait_for_the_priority_classes(plan_of: PlanOf) -> None:
    """Pods naming a PriorityClass are rejected until it exists, so what the later layers build waits."""
    plan = plan_of("prod")
    classes = {r.urn for r in plan.by_type(PRIORITY)}
    mine = {"ml-platform:k8s:PriorityClasses", "ml-platform:k8s:GpuOperator", "ml-platform:k8s:GpuMonitoring"}
    later = [r for r in plan.resources if r.type.startswith("ml-platform:k8s:") and r.type not in mine]
    assert later, "the services layer builds Kubernetes components after the GPU layer"
    for component in later:
        assert classes <= set(component.dependencies), component.urn


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_gpu_kubernetes_objects_wait_for_the_system_nodes(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    (system,) = [r for r in plan.by_type(NODEGROUP) if r.inputs.get("nodeGroupName") == "system"]
    parents = {
        r.urn
        for r in plan.resources
        if r.type
        in (
            "ml-platform:aws:Karpenter",
            "ml-platform:k8s:GpuOperator",
            "ml-platform:k8s:PriorityClasses",
            "ml-platform:k8s:GpuMonitoring",
        )
    }
    children = [r for r in plan.resources if r.custom and r.parent in parents and r.type.startswith("kubernetes:")]
    assert len(children) > 10
    for res in children:
        assert system.urn in res.dependencies, res.urn
    for group in plan.by_type(NODEGROUP):
        if cv.POOL_LABEL in group.inputs.get("labels", {}):
            assert system.urn in group.dependencies


@pytest.mark.parametrize("stack", OPERATOR_STACKS)
def test_gpu_alerts(plan_of: PlanOf, stack: str) -> None:
    (rule,) = [r for r in plan_of(stack).by_type(PROMRULE) if r.inputs["metadata"]["name"] == "ml-platform-gpu"]
    alerts = {r["alert"]: r for g in rule.inputs["spec"]["groups"] for r in g["rules"] if "alert" in r}
    idle = alerts["GpuAllocatedButIdle"]
    assert "DCGM_FI_DEV_GPU_UTIL" in idle["expr"] and 'pod!=""' in idle["expr"] and idle["expr"].endswith("< 30)")
    assert idle["for"] == "1h"
    assert "DCGM_FI_DEV_XID_ERRORS" in alerts["GpuXidError"]["expr"]
    mem = alerts["GpuMemoryNearFull"]["expr"]
    assert "DCGM_FI_DEV_FB_USED" in mem and "DCGM_FI_DEV_FB_FREE" in mem
    assert rule.inputs["metadata"]["namespace"] == cv.NS_MONITORING


# ---- against the pinned upstream data ------------------------------------------------------------


def _cr(res: RecordedResource) -> dict[str, Any]:
    return {k: res.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}


@pytest.mark.upstream
def test_chart_versions_are_the_pinned_ones(plan_of: PlanOf, upstream: Path) -> None:
    sources = (upstream / "SOURCES.tsv").read_text().splitlines()
    refs = {line.split("\t")[0]: line.split("\t")[2] for line in sources[1:]}
    # Karpenter publishes its chart as `helm package --version <tag>`: the published version is the
    # pinned tag (v1.14.1 -> 1.14.1), not the stale `version:` in the tag's Chart.yaml
    karpenter_version = refs["karpenter/Chart.yaml"].removeprefix("v")
    assert karpenter_mod.CHART_VERSION == karpenter_version
    assert operator_mod.CHART_VERSION == refs["gpu-operator/values.yaml"]
    # what the plans install
    for stack in AWS_STACKS:
        release = _release(plan_of(stack), "karpenter/karpenter")
        assert release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
        assert release.inputs["version"] == karpenter_version
    for stack in OPERATOR_STACKS:
        release = _release(plan_of(stack), "gpu-operator")
        assert release.inputs["version"] == refs["gpu-operator/values.yaml"], stack


@pytest.mark.upstream
@pytest.mark.parametrize("stack", STACKS)
def test_helm_values_exist_upstream(plan_of: PlanOf, upstream: Path, stack: str) -> None:
    plan = plan_of(stack)
    checked = set()
    for res in plan.by_type(RELEASE):
        chart = str(res.inputs["chart"])
        if chart == karpenter_mod.CHART:
            assert_keys_exist(res.inputs["values"], upstream / "karpenter" / "values.yaml", free_form={"nodeSelector"})
            checked.add("karpenter")
        elif chart == operator_mod.CHART:
            assert_keys_exist(res.inputs["values"], upstream / "gpu-operator" / "values.yaml")
            checked.add("gpu-operator")
    want = {"karpenter"} if stack in AWS_STACKS else set()
    assert checked == want | ({"gpu-operator"} if stack in OPERATOR_STACKS else set())


@pytest.mark.upstream
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodepools_validate_against_the_upstream_crd(plan_of: PlanOf, upstream: Path, stack: str) -> None:
    pools = plan_of(stack).by_type(NODEPOOL)
    assert pools, f"{stack} plans no NodePool to validate"
    validator = crd_validator(upstream / "karpenter" / "crds" / "karpenter.sh_nodepools.yaml", "v1")
    for res in pools:
        assert not schema_errors(validator, _cr(res)), res.name


@pytest.mark.upstream
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodeclasses_validate_against_the_upstream_crd(plan_of: PlanOf, upstream: Path, stack: str) -> None:
    classes = plan_of(stack).by_type(NODECLASS)
    assert classes, f"{stack} plans no EC2NodeClass to validate"
    validator = crd_validator(upstream / "karpenter" / "crds" / "karpenter.k8s.aws_ec2nodeclasses.yaml", "v1")
    for res in classes:
        assert not schema_errors(validator, _cr(res)), res.name


@pytest.mark.upstream
def test_karpenter_crd_checks_catch_v1beta1_and_malformed_fields(upstream: Path) -> None:
    """The CRD checks above are not vacuous: the v1 schemas reject what a v1beta1-era or malformed
    object would carry (``x-kubernetes-validations`` CEL rules are not evaluated here)."""
    crds = upstream / "karpenter" / "crds"
    pools = crd_validator(crds / "karpenter.sh_nodepools.yaml", "v1")
    pool_spec = karpenter_mod.NodePoolSpec(
        name="p", instance_types=["g6.xlarge"], capacity_types=["spot"], labels={}, gpu_limit=1, cpu_limit=4, weight=10
    )
    body = karpenter_mod.node_pool_body(pool_spec)
    pool = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", **body}
    assert not schema_errors(pools, pool)
    pool["spec"]["disruption"]["consolidationPolicy"] = "WhenUnderutilized"  # the v1beta1 name
    del pool["spec"]["disruption"]["consolidateAfter"]  # required in v1
    del pool["spec"]["template"]["spec"]["nodeClassRef"]["group"]  # required in v1
    pool["spec"]["weight"] = 0
    errors = schema_errors(pools, pool)
    assert len(errors) == 4, errors

    classes = crd_validator(crds / "karpenter.k8s.aws_ec2nodeclasses.yaml", "v1")
    spec = karpenter_mod.node_class_spec(
        ami_family="bottlerocket",
        ami_alias="bottlerocket@latest",
        disk_gb=100,
        role="r",
        discovery_value="c",
        tags={"team": "t"},
        kms_key_arn=None,
    )
    node_class = {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "c"}, "spec": spec}
    assert not schema_errors(classes, node_class)
    spec["blockDeviceMappings"][1]["ebs"]["volumeSize"] = "100"  # no unit
    spec["metadataOptions"]["httpPutResponseHopLimit"] = 0
    del spec["subnetSelectorTerms"]
    errors = schema_errors(classes, node_class)
    assert len(errors) == 3, errors


@pytest.mark.upstream
@pytest.mark.parametrize("stack", OPERATOR_STACKS)
def test_prometheus_rules_validate_against_the_upstream_crd(plan_of: PlanOf, upstream: Path, stack: str) -> None:
    validator = crd_validator(upstream / "prometheus-operator" / "crds" / "crd-prometheusrules.yaml", "v1")
    rules = plan_of(stack).by_type(PROMRULE)
    assert rules
    for res in rules:
        assert not schema_errors(validator, _cr(res)), res.name


NODEOVERLAY = "kubernetes:karpenter.sh/v1alpha1:NodeOverlay"
KARPENTER_OWN_LABELS = {"karpenter.sh/capacity-type", "karpenter.sh/nodepool"}


@pytest.mark.upstream
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodeoverlays_validate_against_the_upstream_crd_and_stay_in_their_pool(
    plan_of: PlanOf, upstream: Path, stack: str
) -> None:
    """NodeOverlays (v1alpha1, behind the ``nodeOverlay`` feature gate) match the pinned CRD, exist
    only with the gate on, and promise extended resources only on their own pool's nodes."""
    plan = plan_of(stack)
    overlays = plan.by_type(NODEOVERLAY)
    settings = _release(plan, "karpenter/karpenter").inputs["values"]["settings"]
    assert bool(overlays) == bool(settings.get("featureGates", {}).get("nodeOverlay")), stack
    validator = crd_validator(upstream / "karpenter" / "crds" / "karpenter.sh_nodeoverlays.yaml", "v1alpha1")
    pools = _pools(plan)
    for res in overlays:
        assert not schema_errors(validator, _cr(res)), res.name
        spec = res.inputs["spec"]
        # the CRD's CEL rules (not evaluated by jsonschema): no core resources, restricted label domains
        assert not set(spec["capacity"]) & {"cpu", "memory", "ephemeral-storage", "pods"}
        for req in spec["requirements"]:
            domain = req["key"].split("/")[0] if "/" in req["key"] else ""
            assert not domain.endswith("karpenter.sh") or req["key"] in KARPENTER_OWN_LABELS, req
        [pool_req] = [r for r in spec["requirements"] if r["key"] == "karpenter.sh/nodepool"]
        [pool_name] = pool_req["values"]
        [types] = [r["values"] for r in spec["requirements"] if r["key"] == "node.kubernetes.io/instance-type"]
        assert set(types) <= set(_req(pools[pool_name], "node.kubernetes.io/instance-type")), res.name
    if stack == "prod":
        assert overlays, "prod's mixed-strategy MIG pool needs NodeOverlays (the check above is not vacuous)"


@pytest.mark.upstream
def test_nodeoverlay_check_catches_an_unscoped_or_malformed_overlay(upstream: Path) -> None:
    validator = crd_validator(upstream / "karpenter" / "crds" / "karpenter.sh_nodeoverlays.yaml", "v1alpha1")
    pool = karpenter_mod.NodePoolSpec(
        name="mig",
        instance_types=["p4d.24xlarge"],
        capacity_types=["spot"],
        labels={},
        gpu_limit=8,
        cpu_limit=96,
        extended_capacity={"p4d.24xlarge": {"nvidia.com/mig-1g.5gb": 56}},
    )
    [body] = karpenter_mod.node_overlays(pool)
    overlay = {"apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", **body}
    assert not schema_errors(validator, overlay)
    assert {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["mig"]} in body["spec"]["requirements"]
    del overlay["spec"]["requirements"]  # required
    overlay["spec"]["capacity"]["nvidia.com/mig-1g.5gb"] = "many"  # not a quantity
    assert len(schema_errors(validator, overlay)) == 2
