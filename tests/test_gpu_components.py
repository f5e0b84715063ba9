"""GPU components on their own (small programs under the mock engine), their argument checks, and bad GPU config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml

from catalog import conventions as cv
from components.aws.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from components.aws.karpenter import (
    Karpenter,
    KarpenterArgs,
    NodePoolSpec,
    capacity_types_for,
    controller_policy,
    cpu_limit_for,
    node_class_spec,
)
from components.k8s.gpu_monitoring import GpuMonitoring, GpuMonitoringArgs
from components.k8s.gpu_operator import GpuOperatorArgs, MigLayout, device_plugin_config, mig_parted_config
from components.k8s.scheduling import PriorityClasses, PriorityClassesArgs
from infra import config
from infra.layers import aws_gpu, k8s_gpu
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.chart_values import missing_keys
from tests.helpers import raw_config, run_cli

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
OIDC_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC"


def _run(program: Callable[[], None]) -> list[RecordedResource]:
    resources, _ = engine.run_program("unit", {}, [], program=program)
    return resources


def _pool(**overrides: Any) -> NodePoolSpec:
    base: dict[str, Any] = {
        "name": "p1",
        "instance_types": ["g6.xlarge"],
        "capacity_types": ["spot"],
        "labels": {cv.POOL_LABEL: "p1"},
        "gpu_limit": 4,
        "cpu_limit": 16,
    }
    return NodePoolSpec(**{**base, **overrides})


# ---- the Helm values checker (other charts' tests reuse it) -------------------------------------


def test_values_checker_finds_typos_and_allows_free_form_maps() -> None:
    upstream = {
        "settings": {"clusterName": "", "featureGates": {"nodeRepair": False}},
        "podAnnotations": {},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tag": None,
    }
    assert missing_keys({"settings": {"clusterName": "x"}, "podAnnotations": {"a/b": "c"}, "tag": {"x": 1}}, upstream) == []
    assert missing_keys({"settings": {"clustername": "x"}}, upstream) == ["settings.clustername"]
    assert missing_keys({"settings": {"featureGates": {"nodeRepiar": True}}}, upstream) == ["settings.featureGates.nodeRepiar"]
    assert missing_keys({"nodeSelector": {"pool": "system"}}, upstream) == ["nodeSelector.pool"]
    assert missing_keys({"nodeSelector": {"pool": "system"}}, upstream, free_form={"nodeSelector"}) == []
    assert missing_keys({"settings": {"clusterName": {"nested": 1}}}, upstream) == [
        "settings.clusterName (upstream is a str, not a map)"
    ]


# ---- Karpenter ---------------------------------------------------------------------------------


def test_capacity_settings_map_to_karpenter_capacity_types() -> None:
    assert capacity_types_for("spot") == ["spot"]
    assert capacity_types_for("on-demand") == ["on-demand"]
    assert capacity_types_for("spot-with-fallback") == ["spot", "on-demand"]


def test_cpu_limit_allows_the_gpu_limit_on_any_shape() -> None:
    # 4 GPUs: 4 x g6.xlarge (4 vCPU) = 16, or 1 x g6.12xlarge (4 GPUs, 48 vCPU) = 48 -> 48
    assert cpu_limit_for(4, [(1, 4), (4, 48)]) == 48
    # 10 GPUs on 8-GPU nodes need 2 nodes
    assert cpu_limit_for(10, [(8, 192)]) == 384


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"capacity_types": ["dedicated"]}, "capacity_types"),
        ({"capacity_types": ["reserved"]}, "capacity_reservations"),
        ({"capacity_types": []}, "capacity_types"),
        ({"instance_types": []}, "instance_types"),
        ({"gpu_limit": 0}, "gpu_limit"),
        ({"consolidation": "Always"}, "consolidation"),
        ({"expire_after": "30d"}, "expire_after"),
        ({"weight": 101}, "weight"),
        ({"name": "Bad_Name"}, "DNS label"),
        ({"min_nodes": 3, "max_nodes": 2}, "min_nodes"),
        ({"ami_version": "2025-07-15"}, "ami_version"),
    ],
)
def test_nodepool_spec_is_validated_eagerly(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _pool(**overrides)


def test_duplicate_nodepool_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        KarpenterArgs(
            cluster_name="c",
            region="us-east-1",
            account_id="1",
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer=OIDC_ISSUER,
            node_pools=[_pool(), _pool()],
        )
    with pytest.raises(ValueError, match="vpc_id"):
        KarpenterArgs(
            cluster_name="c",
            region="us-east-1",
            account_id="1",
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer=OIDC_ISSUER,
            node_pools=[_pool(efa_interfaces=4)],
        )
    with pytest.raises(ValueError, match="replicas"):
        KarpenterArgs(
            cluster_name="c", region="us-east-1", account_id="1", oidc_provider_arn=OIDC_ARN, oidc_issuer=OIDC_ISSUER, replicas=0
        )


def test_controller_policy_uses_our_key_only_when_given() -> None:
    kw: dict[str, Any] = {
        "cluster": "c1",
        "region": "us-east-1",
        "account": "123456789012",
        "partition": "aws",
        "queue_arn": "arn:q",
        "node_role_arn": "arn:r",
    }
    without = controller_policy(**kw)

    def kms_actions(policy: dict[str, Any]) -> list[str]:
        return [
            a
            for s in policy["Statement"]
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            if a.startswith("kms:")
        ]

    assert kms_actions(without) == []
    with_key = controller_policy(**kw, kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k")
    (kms,) = [s for s in with_key["Statement"] if s["Sid"] == "EncryptNodeVolumes"]
    assert kms_actions(with_key)
    assert kms["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/k"
    assert kms["Condition"]["StringEquals"]["kms:ViaService"] == "ec2.us-east-1.amazonaws.com"
    reads = next(s for s in without["Statement"] if s["Sid"] == "RegionalReads")
    assert reads["Condition"]["StringEquals"]["aws:RequestedRegion"] == "us-east-1"


def test_spot_pools_let_ec2_create_only_the_spot_service_linked_role() -> None:
    """A first spot launch in an account needs AWSServiceRoleForEC2Spot; EC2 creates it with the caller's rights."""
    kw: dict[str, Any] = {
        "cluster": "c1",
        "region": "us-east-1",
        "account": "123456789012",
        "partition": "aws",
        "queue_arn": "arn:q",
        "node_role_arn": "arn:r",
    }
    creating = [s for s in controller_policy(**kw)["Statement"] if "iam:CreateServiceLinkedRole" in json.dumps(s["Action"])]
    assert creating == []
    (slr,) = [
        s for s in controller_policy(**kw, spot=True)["Statement"] if "iam:CreateServiceLinkedRole" in json.dumps(s["Action"])
    ]
    assert slr["Resource"] == "arn:aws:iam::123456789012:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
    assert slr["Condition"] == {"StringEquals": {"iam:AWSServiceName": "spot.amazonaws.com"}}


def test_bottlerocket_node_class_keeps_os_and_data_volumes_apart() -> None:
    spec = node_class_spec(
        ami_family="bottlerocket",
        ami_alias="bottlerocket@latest",
        disk_gb=300,
        role="r",
        discovery_value="c1",
        tags={},
        kms_key_arn=None,
    )
    assert spec["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]
    devices = {d["deviceName"]: d for d in spec["blockDeviceMappings"]}
    assert devices["/dev/xvdb"]["ebs"]["volumeSize"] == "300Gi" and devices["/dev/xvdb"]["rootVolume"] is True
    assert all(d["ebs"]["encrypted"] for d in devices.values())
    assert "kmsKeyID" not in devices["/dev/xvda"]["ebs"]


def test_karpenter_component_one_node_class_per_family_and_disk() -> None:
    pools = [
        _pool(name="a"),
        _pool(name="b"),
        _pool(name="c", ami_family="bottlerocket"),
        _pool(name="d", disk_gb=500),
        _pool(name="e", ami_version="v20250715"),
    ]

    def program() -> None:
        Karpenter(
            "karpenter",
            KarpenterArgs(
                cluster_name="c1",
                region="us-east-1",
                account_id="123456789012",
                oidc_provider_arn=OIDC_ARN,
                oidc_issuer=OIDC_ISSUER,
                node_pools=pools,
            ),
            pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region="us-east-1"), "kubernetes": k8s.Provider("k8s")}),
        )

    resources = _run(program)
    classes = sorted(r.inputs["metadata"]["name"] for r in resources if r.type == "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    assert classes == ["gpu-al2023-200g", "gpu-al2023-500g", "gpu-al2023-v20250715-200g", "gpu-bottlerocket-200g"]
    aliases = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["amiSelectorTerms"] for r in resources if r.type.endswith(":EC2NodeClass")
    }
    assert aliases["gpu-al2023-v20250715-200g"] == [{"alias": "al2023@v20250715"}]
    assert aliases["gpu-bottlerocket-200g"] == [{"alias": "bottlerocket@latest"}]
    roots = {
        r.inputs["metadata"]["name"]: [
            b["ebs"]["volumeSize"] for b in r.inputs["spec"]["blockDeviceMappings"] if b.get("rootVolume")
        ]
        for r in resources
        if r.type.endswith(":EC2NodeClass")
    }
    assert roots["gpu-al2023-500g"] == ["500Gi"] and roots["gpu-al2023-200g"] == ["200Gi"]
    nodepools = {r.inputs["metadata"]["name"]: r for r in resources if r.type == "kubernetes:karpenter.sh/v1:NodePool"}
    assert nodepools["d"].inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "gpu-al2023-500g"
    assert nodepools["c"].inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "gpu-bottlerocket-200g"
    # every resource is a child of the component, with an explicit provider
    for r in resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert r.parent.endswith(("::karpenter", "::karpenter-controller")), r.urn
            assert r.provider, r.urn
    # no KMS key given: no kms statement in the controller policy
    policy = json.loads(next(r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert not [s for s in policy["Statement"] if s["Sid"] == "EncryptNodeVolumes"]
    assert not [r for r in resources if r.type == "aws:ec2/tag:Tag"]  # no security group to tag


# ---- managed node groups --------------------------------------------------------------------------


def _group_args(**overrides: Any) -> GpuNodeGroupArgs:
    base: dict[str, Any] = {
        "cluster_name": "c1",
        "subnet_ids": ["subnet-1"],
        "instance_types": ["g6.xlarge"],
        "capacity": "spot",
        "min_nodes": 0,
        "max_nodes": 3,
    }
    return GpuNodeGroupArgs(**{**base, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"capacity": "spot-with-fallback"}, "capacity"),
        ({"min_nodes": 4}, "min_nodes"),
        ({"instance_types": []}, "instance_types"),
        ({"ami_family": "ubuntu"}, "ami_family"),
        ({"taints": [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}]}, "taint effect"),
    ],
)
def test_node_group_args_are_validated_eagerly(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _group_args(**overrides)


def test_bottlerocket_spot_node_group_scales_from_zero() -> None:
    def program() -> None:
        GpuNodeGroup(
            "gpu-br",
            _group_args(ami_family="bottlerocket", disk_gb=100),
            pulumi.ResourceOptions(provider=aws.Provider("aws", region="us-east-1")),
        )

    resources = _run(program)
    (group,) = [r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup"]
    assert group.inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert group.inputs["capacityType"] == "SPOT"
    assert group.inputs["scalingConfig"]["minSize"] == 0
    (lt,) = [r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    (bdm,) = lt.inputs["blockDeviceMappings"]
    assert bdm["deviceName"] == "/dev/xvdb" and bdm["ebs"]["encrypted"] == "true"
    assert int(bdm["ebs"]["volumeSize"]) == 100 and bdm["ebs"]["volumeType"] == "gp3"
    assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
    # no role given: the group gets its own with the worker policies
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in resources
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    assert {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"} <= attached


# ---- GPU operator configs ---------------------------------------------------------------------------


def test_mig_parted_config_one_entry_per_gpu_model_sharing_a_profile() -> None:
    doc = mig_parted_config(
        [MigLayout("A100-80GB", "1g.10gb"), MigLayout("A100-40GB", "1g.10gb"), MigLayout("A100-80GB", "1g.10gb")]
    )
    configs = doc["mig-configs"]
    assert set(configs) == {"all-disabled", "all-1g.10gb"}
    by_device = {e["device-filter"][0]: e["mig-devices"] for e in configs["all-1g.10gb"]}
    assert by_device == {"0x20B210DE": {"1g.10gb": 7}, "0x20B010DE": {"1g.10gb": 4}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mig_layouts": [MigLayout("L4", "1g.10gb")]}, "L4 has no MIG"),
        ({"mig_layouts": [MigLayout("A100-40GB", "1g.20gb")]}, "allowed: 1g.5gb"),
        ({"time_slicing": {"nb": 0}}, ">= 1"),
        ({"time_slicing": {"default": 2}}, "other than 'default'"),
        ({"mig_strategy": "none"}, "mig_strategy"),
    ],
)
def test_operator_args_are_validated_against_the_catalog(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GpuOperatorArgs(install_driver=False, install_toolkit=False, **kwargs)  # validated on construction


def test_device_plugin_config_default_has_no_sharing() -> None:
    data = device_plugin_config("single", {"nb": 3})
    assert yaml.safe_load(data["default"]) == {"version": "v1", "flags": {"migStrategy": "single"}}
    nb = yaml.safe_load(data["nb"])
    assert nb["flags"]["migStrategy"] == "single"
    assert nb["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 3}]
    assert nb["sharing"]["timeSlicing"]["failRequestsGreaterThanOne"] is True


def test_driver_follows_the_node_image_unless_configured() -> None:
    """aws: the EKS NVIDIA AMIs ship driver and toolkit; gpuOperator.driver: true forces the operator's own."""
    cfg = config.load_stack("dev")
    eks = SimpleNamespace(cloud="aws", driver_preinstalled=True, toolkit_preinstalled=True, host_driver_dir=None)
    default = k8s_gpu.operator_args(cfg, eks)  # type: ignore[arg-type]
    assert (default.install_driver, default.install_toolkit) == (False, False)
    forced = cfg.model_copy(update={"gpu_operator": config.GpuOperatorConfig(driver=True)})
    args = k8s_gpu.operator_args(forced, eks)  # type: ignore[arg-type]
    assert (args.install_driver, args.install_toolkit) == (True, True)
    bare = SimpleNamespace(cloud="existing", driver_preinstalled=False, toolkit_preinstalled=False, host_driver_dir=None)
    kept = k8s_gpu.operator_args(cfg.model_copy(update={"gpu_operator": config.GpuOperatorConfig(driver=False)}), bare)  # type: ignore[arg-type]
    assert (kept.install_driver, kept.install_toolkit) == (False, True)  # the operator still configures the runtime


def test_operator_defaults_by_cloud() -> None:
    gcp = config.load_stack("gcp-dev")
    assert not k8s_gpu.operator_enabled(gcp)
    assert k8s_gpu.operator_enabled(gcp.model_copy(update={"gpu_operator": config.GpuOperatorConfig(enabled=True)}))
    assert k8s_gpu.operator_enabled(config.load_stack("dev"))
    assert not k8s_gpu.operator_enabled(
        config.load_stack("dev").model_copy(update={"gpu_operator": config.GpuOperatorConfig(enabled=False)})
    )


# ---- scheduling / monitoring components ------------------------------------------------------------


def test_priority_class_values_are_checked() -> None:
    def program() -> None:
        PriorityClasses(
            "p",
            PriorityClassesArgs(classes={"too-high": 2_000_000_000}, non_preempting=frozenset()),
            pulumi.ResourceOptions(provider=k8s.Provider("k")),
        )

    with pytest.raises(engine.PlanError, match="too-high"):
        _run(program)


def test_monitoring_can_use_an_existing_namespace() -> None:
    def program() -> None:
        GpuMonitoring(
            "m",
            GpuMonitoringArgs(namespace="observability", create_namespace=False, rule_labels={"release": "prom"}),
            pulumi.ResourceOptions(provider=k8s.Provider("k")),
        )

    resources = _run(program)
    assert not [r for r in resources if r.type == "kubernetes:core/v1:Namespace"]
    (rule,) = [r for r in resources if r.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"]
    assert rule.inputs["metadata"]["namespace"] == "observability"
    assert rule.inputs["metadata"]["labels"]["release"] == "prom"


# ---- bad GPU config exits 2 naming the key ---------------------------------------------------------


def _pools_with(**changes: Any) -> list[dict[str, Any]]:
    pools = raw_config("dev")["gpuPools"]
    pools[0].update(changes)
    return pools


@pytest.mark.parametrize(
    ("changes", "key", "says"),
    [
        # L4 has no MIG: the message names the bad profile and what is allowed
        ({"migProfile": "1g.10gb"}, "ml-platform:gpuPools[0].migProfile", ["'1g.10gb'", "allowed: none (L4 has no MIG)"]),
        ({"timeSlicingReplicas": 0}, "ml-platform:gpuPools[0].timeSlicingReplicas", ["greater than or equal to 1", "got 0"]),
    ],
)
def test_cli_rejects_bad_gpu_sharing(
    write_stack: Callable[..., Path], changes: dict[str, Any], key: str, says: list[str]
) -> None:
    path = write_stack("dev", gpuPools=_pools_with(**changes))
    result = run_cli("plan", "--stack", "case", "--stacks-dir", str(path.parent))
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert key in message
    for part in says:
        assert part in message, message
    assert "Traceback" not in result.stderr


def test_pool_disk_and_ami_settings_reach_the_node_class_and_launch_template() -> None:
    raw = raw_config("prod")
    managed = next(i for i, p in enumerate(raw["gpuPools"]) if p.get("mode") == "managed")
    raw["gpuPools"][0].update({"diskGb": 500, "amiVersion": "v20250715"})
    raw["gpuPools"][managed].update({"diskGb": 300, "amiFamily": "bottlerocket"})
    cfg = config.parse(raw)
    spec = aws_gpu.node_pool_spec(cfg, cfg.gpu_pools[0])
    assert (spec.disk_gb, spec.ami_alias, spec.node_class) == (500, "al2023@v20250715", "gpu-al2023-v20250715-500g")
    foundation = SimpleNamespace(
        cluster=SimpleNamespace(name="c1"), vpc=SimpleNamespace(private_subnet_ids=["subnet-1"]), key=SimpleNamespace(arn="arn:k")
    )
    group = aws_gpu.node_group_args(cfg, cfg.gpu_pools[managed], foundation)  # type: ignore[arg-type]
    assert (group.disk_gb, group.ami_family, group.kms_key_arn) == (300, "bottlerocket", "arn:k")


def test_single_strategy_needs_no_node_overlays() -> None:
    cfg = config.load_stack("prod")
    pool = next(p for p in cfg.gpu_pools if p.mig_profile)
    assert aws_gpu.extended_capacity(cfg, pool) == {"p4d.24xlarge": {"nvidia.com/mig-1g.5gb": 56}}
    single = cfg.model_copy(update={"gpu_operator": config.GpuOperatorConfig(mig_strategy="single")})
    assert aws_gpu.extended_capacity(single, pool) == {}


def test_extended_capacity_must_name_pool_instance_types() -> None:
    with pytest.raises(ValueError, match="not one of the pool's instance types"):
        _pool(extended_capacity={"p5.48xlarge": {"nvidia.com/mig-1g.10gb": 56}})
    with pytest.raises(ValueError, match="domain-prefixed"):
        _pool(extended_capacity={"g6.xlarge": {"gpu": 1}})


def test_bottlerocket_pools_keep_the_operator_device_plugin_off() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][0]["amiFamily"] = "bottlerocket"
    cfg = config.parse(raw)
    labels = aws_gpu.pool_node_labels(cfg, cfg.gpu_pools[0])
    assert labels["nvidia.com/gpu.deploy.device-plugin"] == "false"
    assert labels["nvidia.com/gpu.deploy.mig-manager"] == "false"
    assert "nvidia.com/gpu.deploy.device-plugin" not in aws_gpu.pool_node_labels(cfg, cfg.gpu_pools[1])
    raw["gpuPools"][1]["amiFamily"] = "bottlerocket"  # the time-sliced notebooks pool
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert [p for p, _ in err.value.problems] == ["ml-platform:gpuPools[1].amiFamily"]


def test_ami_version_must_be_latest_or_a_release() -> None:
    raw = raw_config("prod")
    raw["gpuPools"][0]["amiVersion"] = "july"
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert [p for p, _ in err.value.problems] == ["ml-platform:gpuPools[0].amiVersion"]
    raw["gpuPools"][0]["amiVersion"] = "v20250715"
    assert config.parse(raw).gpu_pools[0].ami_version == "v20250715"


def test_managed_pool_cannot_mix_spot_and_on_demand() -> None:
    raw = raw_config("prod")
    idx = next(i for i, p in enumerate(raw["gpuPools"]) if p.get("mode") == "managed")
    raw["gpuPools"][idx].update({"capacity": "spot-with-fallback", "purpose": "training"})
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert [p for p, _ in err.value.problems] == [f"ml-platform:gpuPools[{idx}].capacity"]


def test_pool_node_labels_select_the_operator_configs() -> None:
    cfg = config.load_stack("staging")
    mig_pool = next(p for p in cfg.gpu_pools if p.mig_profile)
    labels = aws_gpu.pool_node_labels(cfg, mig_pool)
    assert labels[cv.MIG_CONFIG_LABEL] == f"all-{mig_pool.mig_profile}"
    assert cv.DEVICE_PLUGIN_CONFIG_LABEL not in labels
