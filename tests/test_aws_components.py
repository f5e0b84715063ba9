"""Unit tests of the AWS foundation components, each run alone under the mock engine."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.aws import data_lake, eks, irsa, kms, network
from infra.plan import engine
from infra.plan.recorder import RecordedResource

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def _run(build: Any) -> list[RecordedResource]:
    def program() -> None:
        build(aws.Provider("p", region="eu-west-1"))

    resources, _ = engine.run_program("unit", {}, [], program=program)
    return resources


def _one(resources: list[RecordedResource], type_: str, name: str | None = None) -> RecordedResource:
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


# ---- IrsaRole ---------------------------------------------------------------------------------


def test_irsa_trust_policy_admits_exactly_one_service_account() -> None:
    res = _run(
        lambda p: irsa.IrsaRole(
            "mlflow",
            irsa.IrsaRoleArgs(
                oidc_provider_arn=OIDC_ARN,
                oidc_issuer="https://" + ISSUER,  # a full URL is tolerated
                namespace="mlflow",
                service_account="mlflow-server",
                policy_document=json.dumps({"Version": "2012-10-17", "Statement": []}),
            ),
            pulumi.ResourceOptions(provider=p),
        )
    )
    role = _one(res, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    [stmt] = trust["Statement"]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"] == {"Federated": OIDC_ARN}
    assert stmt["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:mlflow:mlflow-server",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }
    policy = _one(res, "aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"].startswith("mlflow-")  # the role's (auto-named) id
    assert role.parent.endswith("ml-platform:aws:IrsaRole::mlflow")
    assert role.provider.startswith(_one(res, "pulumi:providers:aws").urn)


def test_irsa_annotations_carry_the_role_arn() -> None:
    seen: dict[str, str] = {}

    def build(p: aws.Provider) -> None:
        role = irsa.IrsaRole(
            "ebs",
            irsa.IrsaRoleArgs(
                oidc_provider_arn=OIDC_ARN,
                oidc_issuer=ISSUER,
                namespace="kube-system",
                service_account="ebs-csi-controller-sa",
                managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
            ),
            pulumi.ResourceOptions(provider=p),
        )
        role.annotations[irsa.ROLE_ARN_ANNOTATION].apply(lambda v: seen.setdefault("arn", v))

    res = _run(build)
    assert seen["arn"].startswith("arn:aws:iam::123456789012:role/")
    attach = _one(res, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attach.inputs["policyArn"].endswith("AmazonEBSCSIDriverPolicy")
    assert not [r for r in res if r.type == "aws:iam/rolePolicy:RolePolicy"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"namespace": "Bad_NS"}, "namespace"),
        ({"service_account": ""}, "service_account"),
        ({"policy_document": None}, "policy_document or managed_policy_arns"),
        ({"oidc_issuer": None}, "oidc_provider_arn and oidc_issuer"),
    ],
)
def test_irsa_rejects_bad_args_eagerly(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "oidc_provider_arn": OIDC_ARN,
        "oidc_issuer": ISSUER,
        "namespace": "team-a",
        "service_account": "workloads",
        "policy_document": "{}",
    }
    irsa.IrsaRoleArgs(**args)  # the good case passes
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        irsa.IrsaRoleArgs(**args)


# ---- Vpc --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cidr", "azs"), [("10.0.0.0/16", 3), ("10.1.0.0/20", 2), ("172.16.0.0/16", 6)])
def test_subnet_plan_fits_disjoint_subnets_inside_the_vpc(cidr: str, azs: int) -> None:
    private, public = network.subnet_plan(cidr, azs)
    assert len(private) == len(public) == azs
    nets = [ipaddress.ip_network(c) for c in private + public]
    vpc = ipaddress.ip_network(cidr)
    assert all(n.subnet_of(vpc) for n in nets)  # type: ignore[arg-type]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert ipaddress.ip_network(private[0]).num_addresses > ipaddress.ip_network(public[0]).num_addresses


def test_subnet_plan_rejects_a_too_small_cidr() -> None:
    with pytest.raises(ValueError, match="too small"):
        network.subnet_plan("10.0.0.0/26", 3)


def test_vpc_per_az_nat_routes_each_zone_through_its_own_nat() -> None:
    res = _run(
        lambda p: network.Vpc(
            "net",
            network.VpcArgs(cidr="10.5.0.0/16", region="eu-west-1", az_count=2, nat_gateways="perAz", cluster_name="c1"),
            pulumi.ResourceOptions(provider=p),
        )
    )
    assert len([r for r in res if r.type == "aws:ec2/natGateway:NatGateway"]) == 2
    for i in range(2):
        rt = _one(res, "aws:ec2/routeTable:RouteTable", f"net-private-{i}")
        assert rt.inputs["routes"][0]["natGatewayId"].startswith(f"net-{i}-")
        sub = _one(res, "aws:ec2/subnet:Subnet", f"net-private-{i}")
        assert sub.inputs["availabilityZone"] == f"eu-west-1{'ab'[i]}"
        assert sub.inputs["tags"]["karpenter.sh/discovery"] == "c1"
    assert _one(res, "aws:ec2/vpcEndpoint:VpcEndpoint").inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"


def test_vpc_single_nat_serves_every_zone() -> None:
    res = _run(
        lambda p: network.Vpc(
            "net",
            network.VpcArgs(cidr="10.5.0.0/16", region="eu-west-1", nat_gateways="single"),
            pulumi.ResourceOptions(provider=p),
        )
    )
    assert len([r for r in res if r.type == "aws:ec2/natGateway:NatGateway"]) == 1
    routes = [
        r.inputs["routes"][0]["natGatewayId"] for r in res if r.type == "aws:ec2/routeTable:RouteTable" and "-private-" in r.name
    ]
    assert len(routes) == 3 and len(set(routes)) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"az_count": 1}, "az_count"),
        ({"nat_gateways": "none"}, "nat_gateways"),
        ({"cidr": "10.0.0.0/26"}, "too small"),
        ({"region": ""}, "region"),
    ],
)
def test_vpc_args_reject_bad_args(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"cidr": "10.0.0.0/16", "region": "eu-west-1"}
    network.VpcArgs(**args)
    with pytest.raises(ValueError, match=match):
        network.VpcArgs(**{**args, **kwargs})


# ---- KmsKey -----------------------------------------------------------------------------------


def test_key_policy_without_optional_principals() -> None:
    policy = json.loads(
        kms.key_policy(account_id="123456789012", region="eu-west-1", via_services=(), cloudwatch_logs=False, autoscaling=False)
    )
    assert [s["Sid"] for s in policy["Statement"]] == ["AccountAdministers"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"alias": "alias/x"}, "alias"), ({"deletion_window_days": 3}, "deletion_window_days"), ({"region": ""}, "region")],
)
def test_kms_key_rejects_bad_args(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"alias": "ml", "account_id": "123456789012", "region": "eu-west-1"}
    kms.KmsKeyArgs(**args)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kms.KmsKeyArgs(**args)


# ---- DataLake ---------------------------------------------------------------------------------


def _lake_args(**overrides: Any) -> data_lake.DataLakeArgs:
    args: dict[str, Any] = {
        "zones": ["raw", "models"],
        "bucket_prefix": "mlp-dev",
        "account_id": "123456789012",
        "region": "eu-west-1",
        "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k",
    }
    args.update(overrides)
    return data_lake.DataLakeArgs(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"force_destroy": True, "protect": True}, "force_destroy"),
        ({"zones": ["raw", "access-logs"]}, "reserved"),
        ({"zones": ["raw", "raw"]}, "unique"),
        ({"zones": []}, "at least one"),
        ({"bucket_prefix": "x" * 40}, "63"),
        ({"replica": data_lake.LakeReplica(region="eu-west-1", kms_key_arn="k", provider=object())}, "differ"),
    ],
)
def test_data_lake_rejects_bad_args(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _lake_args(**overrides)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"infrequent_access_days": 10}, "at least 30"),
        ({"glacier_ir_days": 30}, "later"),
        ({"abort_multipart_days": 0}, "abort_multipart_days"),
    ],
)
def test_lake_lifecycle_rejects_bad_days(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        data_lake.LakeLifecycle(**kwargs)  # type: ignore[arg-type]


def test_data_lake_without_replica_has_no_replication_and_names_buckets_by_account_and_region() -> None:
    res = _run(lambda p: data_lake.DataLake("lake", _lake_args(force_destroy=True), pulumi.ResourceOptions(provider=p)))
    buckets = {r.inputs["bucket"]: r for r in res if r.type == "aws:s3/bucket:Bucket"}
    assert set(buckets) == {f"mlp-dev-{z}-123456789012-eu-west-1" for z in ("raw", "models", "access-logs")}
    assert all(b.inputs["forceDestroy"] is True and not b.protect for b in buckets.values())
    assert not [r for r in res if "replication" in r.type.lower() or r.type == "aws:iam/role:Role"]


@pytest.mark.parametrize("rtc", [False, True])
def test_data_lake_replica_twins_every_zone_in_the_dr_region_with_the_dr_key(rtc: bool) -> None:
    dr_key = "arn:aws:kms:eu-central-1:123456789012:key/dr"
    seen: dict[str, Any] = {}

    def build(p: aws.Provider) -> None:
        dr = aws.Provider("dr", region="eu-central-1")
        replica = data_lake.LakeReplica(region="eu-central-1", kms_key_arn=dr_key, provider=dr, replication_time_control=rtc)
        lake = data_lake.DataLake("lake", _lake_args(protect=True, replica=replica), pulumi.ResourceOptions(provider=p))
        pulumi.Output.all(lake.bucket_names, lake.bucket_arns).apply(lambda a: seen.update(names=a[0], arns=a[1]))

    res = _run(build)
    dr_urn = _one(res, "pulumi:providers:aws", "dr").urn
    buckets = {r.inputs["bucket"]: r for r in res if r.type == "aws:s3/bucket:Bucket"}
    assert all(b.protect and b.retain_on_delete and not b.inputs.get("forceDestroy") for b in buckets.values())
    assert seen["arns"] == {z: f"arn:aws:s3:::{n}" for z, n in seen["names"].items()}
    sse = {r.inputs["bucket"]: r.inputs["rules"][0] for r in res if "ServerSideEncryption" in r.type}
    configs = {r.inputs["bucket"]: r for r in res if r.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig"}
    assert set(configs) == {f"mlp-dev-{z}-123456789012-eu-west-1" for z in ("raw", "models")}
    for zone in ("raw", "models"):
        twin = buckets[f"mlp-dev-{zone}-123456789012-eu-central-1"]
        assert twin.provider.startswith(dr_urn) and twin.inputs["tags"]["lake-role"] == "replica"
        by_default = sse[twin.inputs["bucket"]]["applyServerSideEncryptionByDefault"]
        assert by_default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": dr_key}
        [rule] = configs[f"mlp-dev-{zone}-123456789012-eu-west-1"].inputs["rules"]
        dest = rule["destination"]
        assert dest["bucket"] == f"arn:aws:s3:::{twin.inputs['bucket']}"
        assert dest["encryptionConfiguration"] == {"replicaKmsKeyId": dr_key}
        assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
        if rtc:
            assert dest["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
        else:
            assert "replicationTime" not in dest and "metrics" not in dest


def test_bucket_policy_is_deny_only() -> None:
    policy = json.loads(data_lake.bucket_policy("arn:aws:s3:::b", "arn:aws:kms:r:1:key/k"))
    assert {s["Effect"] for s in policy["Statement"]} == {"Deny"}


# ---- EksCluster -------------------------------------------------------------------------------


def _eks_args(**overrides: Any) -> eks.EksClusterArgs:
    args: dict[str, Any] = {
        "cluster_name": "mlp-dev",
        "version": "1.33",
        "region": "eu-west-1",
        "subnet_ids": ["subnet-1", "subnet-2"],
        "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k",
    }
    args.update(overrides)
    return eks.EksClusterArgs(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"public_access_cidrs": ["0.0.0.0/0"]}, "internet"),
        ({"version": "133"}, "version"),
        ({"cluster_name": "Bad"}, "cluster_name"),
        ({"log_retention_days": 0}, "log_retention_days"),
        ({"private_access_cidrs": ["0.0.0.0/0"]}, "everything"),
        ({"region": ""}, "region"),
    ],
)
def test_eks_cluster_rejects_bad_args(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _eks_args(**overrides)


def test_system_nodes_reject_min_above_max() -> None:
    with pytest.raises(ValueError, match="min_nodes"):
        eks.SystemNodes(min_nodes=5, max_nodes=2)


def test_kubeconfig_authenticates_with_aws_eks_get_token() -> None:
    doc = json.loads(eks.kubeconfig("mlp-dev", "https://x.eks.amazonaws.com", "Q0E=", "eu-west-1"))
    [user] = doc["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "aws" and exec_["args"][:2] == ["eks", "get-token"]
    assert exec_["args"][exec_["args"].index("--cluster-name") + 1] == "mlp-dev"
    assert exec_["args"][exec_["args"].index("--region") + 1] == "eu-west-1"
    assert "token" not in user["user"] and "password" not in user["user"]
    assert doc["clusters"][0]["cluster"]["server"] == "https://x.eks.amazonaws.com"


def test_ebs_csi_kms_policy_only_through_ec2() -> None:
    policy = json.loads(eks.ebs_kms_policy("arn:aws:kms:eu-west-1:1:key/k"))
    for stmt in policy["Statement"]:
        assert stmt["Resource"] == "arn:aws:kms:eu-west-1:1:key/k"
        assert stmt["Condition"]


def test_eks_cluster_alone_builds_addons_and_access_entries() -> None:
    arn = "arn:aws:iam::123456789012:role/admins"
    res = _run(
        lambda p: eks.EksCluster(
            "eks",
            _eks_args(admin_principal_arns=[arn], security_group_tags={"karpenter.sh/discovery": "mlp-dev"}),
            pulumi.ResourceOptions(provider=p),
        )
    )
    tag = _one(res, "aws:ec2/tag:Tag")
    assert (tag.inputs["key"], tag.inputs["value"]) == ("karpenter.sh/discovery", "mlp-dev")
    assert tag.inputs["resourceId"].startswith("sg-")  # the EKS-created cluster security group
    assert _one(res, "aws:eks/accessEntry:AccessEntry").inputs["principalArn"] == arn
    assert {r.inputs["addonName"] for r in res if r.type == "aws:eks/addon:Addon"} == {
        "vpc-cni",
        "kube-proxy",
        "coredns",
        "aws-ebs-csi-driver",
    }
    cluster = _one(res, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster.inputs["bootstrapSelfManagedAddons"] is False  # the add-ons above replace the self-managed ones
    assert _one(res, "pulumi:providers:kubernetes").inputs["kubeconfig"] == "[secret]"


# ---- the one component shape: children wait for what their AWS component waits for -----------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_children_of_aws_components_wait_for_what_their_component_waits_for(stack: str) -> None:
    """Every ``ml-platform:aws:*`` component passes its ``depends_on`` to each child (``Component.child_opts``):
    Karpenter's IAM, the GPU node groups, Lustre and GuardDuty wait for the system nodes like their releases."""
    from tests.helpers import plan_stack

    plan = plan_stack(stack)
    checked, missing = 0, []
    for comp in plan.resources:
        if comp.custom or not comp.type.startswith("ml-platform:aws:") or not comp.dependencies:
            continue
        for child in (r for r in plan.resources if r.parent == comp.urn):
            checked += 1
            lacking = set(comp.dependencies) - set(child.dependencies)
            if lacking:
                missing.append(f"{child.urn} lacks {sorted(lacking)}")
    assert not missing, "\n".join(missing[:10])
    assert checked > 10  # Karpenter and the managed GPU node groups wait for the system nodes on every AWS stack
