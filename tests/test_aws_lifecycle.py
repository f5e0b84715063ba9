"""AWS create / destroy order and account prerequisites, read from the recorded graph of each plan.

Pulumi creates a resource after everything in its ``dependencies`` and deletes it before them; the
mock engine accepts any order, so these tests check the edges a real account needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from catalog import conventions as cv
from infra import config
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.helpers import STACKS, raw_config, waits_for

AWS_STACKS = [s for s in STACKS if config.load_stack(s).cloud == "aws"]
SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
KEY = "aws:kms/key:Key"
AUTOSCALING_SLR = "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"

PlanOf = Callable[[str], engine.Plan]


def principals(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for st in policy["Statement"]:
        aws = (st.get("Principal") or {}).get("AWS", []) if isinstance(st.get("Principal"), dict) else []
        out.update([aws] if isinstance(aws, str) else aws)
    return out


def ancestors(plan_resources: list[RecordedResource], res: RecordedResource) -> set[str]:
    return waits_for(plan_resources, res)


# ---- service-linked roles named by the KMS key policies -----------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kms_keys_wait_for_the_autoscaling_service_linked_role_they_name(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    keys = plan.by_type(KEY)
    assert keys
    [slr] = [r for r in plan.by_type(SLR) if r.inputs["awsServiceName"] == "autoscaling.amazonaws.com"]
    # the role belongs to the account (other stacks and Auto Scaling groups use it): kept on destroy
    assert slr.retain_on_delete and not slr.protect
    for key in keys:
        policy = json.loads(key.inputs["policy"])
        assert any(p.endswith(AUTOSCALING_SLR) for p in principals(policy)), key.urn
        assert slr.urn in key.dependencies, f"{key.urn} would be created before the role its policy names"


_VARIANT: list[list[RecordedResource]] = []


def variant() -> list[RecordedResource]:
    """staging with an account that has the Auto Scaling role and two admin roles (planned once)."""
    if not _VARIANT:
        raw = raw_config("staging")
        raw["aws"] = {"autoscalingServiceLinkedRole": "existing"}
        raw["cluster"]["adminRoleArns"] = ["arn:aws:iam::123456789012:role/ci-deployer", "arn:aws:iam::123456789012:role/admins"]
        raw["cluster"]["privateAccessCidrs"] = ["172.16.0.0/16"]  # a VPN
        _VARIANT.append(engine.run_program("variant", raw, [])[0])
    return _VARIANT[0]


def test_an_account_that_has_the_role_uses_it_without_creating_it() -> None:
    resources = variant()
    assert not [r for r in resources if r.type == SLR]
    [key] = [r for r in resources if r.type == KEY]
    assert any(p.endswith(AUTOSCALING_SLR) for p in principals(json.loads(key.inputs["policy"])))


@pytest.mark.parametrize(
    ("base", "aws", "key"),
    [
        ("dev", {"autoscalingServiceLinkedRole": "maybe"}, "ml-platform:aws.autoscalingServiceLinkedRole"),
        ("onprem", {"autoscalingServiceLinkedRole": "create"}, "ml-platform:aws"),
    ],
    ids=["bad-value", "not-aws"],
)
def test_bad_service_linked_role_config_names_the_key(base: str, aws: dict[str, str], key: str) -> None:
    raw = raw_config(base)
    raw["aws"] = aws
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert key in [path for path, _ in err.value.problems], err.value.problems


# ---- Karpenter: the controller keeps what it needs until its objects are gone -------------------

KARPENTER_CRS = (
    "kubernetes:karpenter.sh/v1:NodePool",
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
    "kubernetes:karpenter.sh/v1alpha1:NodeOverlay",
)


def _karpenter_release(plan: engine.Plan) -> RecordedResource:
    [release] = [
        r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if str(r.inputs.get("chart", "")).endswith("karpenter/karpenter")
    ]
    return release


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_karpenter_objects_are_deleted_before_the_controller_loses_its_permissions(plan_of: PlanOf, stack: str) -> None:
    """On destroy the EC2NodeClass finalizer and NodeClaim termination call EC2 / IAM as the
    controller: its IRSA policy, its nodes' access entry and its interruption queue wiring must
    outlive every NodePool, EC2NodeClass and NodeOverlay - and the release itself."""
    plan = plan_of(stack)
    release = _karpenter_release(plan)
    component = plan.get(release.parent)
    assert component is not None and component.type == "ml-platform:aws:Karpenter"
    under = [r for r in plan.resources if r.urn.startswith(component.urn.split("::")[0]) and r.parent]
    policies = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "karpenter-controller"]
    entry = [r for r in plan.by_type("aws:eks/accessEntry:AccessEntry") if r.name == "karpenter-node"]
    rules = [r for r in plan.resources if r.type.startswith("aws:cloudwatch/event") and r.name.startswith("karpenter-")]
    queue_policy = [r for r in plan.by_type("aws:sqs/queuePolicy:QueuePolicy") if r.name == "karpenter-interruption"]
    needed = {r.urn for r in (*policies, *entry, *rules, *queue_policy)}
    assert len(policies) == 1 and len(entry) == 1 and len(rules) == 10 and len(queue_policy) == 1, needed
    crs = [r for r in plan.resources if r.type in KARPENTER_CRS]
    assert crs and under
    for res in [release, *crs]:
        missing = needed - set(res.dependencies)
        assert not missing, f"{res.urn} does not wait for {sorted(missing)}"
    node_policies = {
        r.urn for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r.name.startswith("karpenter-node-")
    }
    sg_tags = {r.urn for r in plan.by_type("aws:ec2/tag:Tag") if r.name == "karpenter-sg-discovery"}
    assert len(node_policies) == 4 and len(sg_tags) == 1
    for res in crs:
        assert release.urn in res.dependencies, res.urn
        assert node_policies | sg_tags <= set(res.dependencies), res.urn


def _role_arn_fragment(role: RecordedResource) -> str:
    import hashlib

    name = role.inputs.get("name") or f"{role.name}-{hashlib.sha256(role.name.encode()).hexdigest()[:8]}"
    return f":role/{name}"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_workloads_using_an_irsa_role_wait_for_its_policies(plan_of: PlanOf, stack: str) -> None:
    """Whatever carries an IRSA role ARN (a Helm release's values, a ServiceAccount annotation, an
    EKS add-on) is created after the role's policies and deleted before them."""
    plan = plan_of(stack)
    irsa = {r.urn: r for r in plan.resources if r.type == "ml-platform:aws:IrsaRole"}
    assert irsa
    checked = 0
    for comp_urn in irsa:
        [role] = [r for r in plan.by_type("aws:iam/role:Role") if r.parent == comp_urn]
        perms = {r.urn for r in plan.resources if r.parent == comp_urn and r.type.startswith("aws:iam/rolePolicy")}
        assert perms, comp_urn
        fragment = _role_arn_fragment(role)
        users = [
            r
            for r in plan.resources
            if r.custom
            and r.parent != comp_urn
            and r.type != "aws:iam/rolePolicy:RolePolicy"
            and fragment in json.dumps(r.inputs)
        ]
        for user in users:
            if user.type.startswith("aws:iam/"):
                continue  # other IAM documents naming the role (trust, PassRole)
            missing = perms - set(user.dependencies)
            assert not missing, f"{user.urn} uses {fragment} but does not wait for {sorted(missing)}"
            checked += 1
    assert checked >= len(irsa) - 1, "each IRSA role is used by something"


# Actions of upstream's v1.14 reference controller policies (aws/karpenter-provider-aws @ v1.14.1,
# website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml).
UPSTREAM_V1_14_ACTIONS = {
    "ec2:RunInstances",
    "ec2:CreateFleet",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
    "ec2:DeleteLaunchTemplate",
    "iam:PassRole",
    "iam:CreateInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:ListInstanceProfiles",
    "iam:GetInstanceProfile",
    "eks:DescribeCluster",
    "sqs:DeleteMessage",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "arc-zonal-shift:GetManagedResource",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
    "ssm:GetParameter",
    "pricing:GetProducts",
}


def test_controller_policy_grants_every_action_of_the_upstream_v1_14_reference() -> None:
    from components.aws.karpenter import controller_policy

    policy = controller_policy(
        cluster="c",
        region="us-east-1",
        account="123456789012",
        partition="aws",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        node_role_arn="arn:aws:iam::123456789012:role/n",
    )
    actions: set[str] = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        actions.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    assert UPSTREAM_V1_14_ACTIONS <= actions, sorted(UPSTREAM_V1_14_ACTIONS - actions)
    assert not {a for a in actions if a.endswith("*") or a == "*"}
    [shared] = [st for st in policy["Statement"] if st["Sid"] == "RunWithSharedResources"]
    # launches into placement groups and capacity reservations (NodeClass selectors) need them
    assert {"arn:aws:ec2:us-east-1:*:placement-group/*", "arn:aws:ec2:us-east-1:*:capacity-reservation/*"} <= set(
        shared["Resource"]
    )
    [listing] = [st for st in policy["Statement"] if "iam:ListInstanceProfiles" in st["Action"]]
    # IAM checks the list call against the path's ARN (arn:aws:iam::<acct>:instance-profile/karpenter/...,
    # as AccessDenied messages show); upstream's "*" is narrowed to instance profiles (policy mlp-sec-014)
    assert listing["Resource"] == "arn:aws:iam::123456789012:instance-profile/*"


# ---- every in-cluster object waits for running nodes and the core add-ons ------------------------


def _cluster_readiness(plan: engine.Plan) -> set[str]:
    """What in-cluster objects must wait for: the system nodes and every core add-on (CoreDNS,
    VPC CNI, kube-proxy, EBS CSI) on EKS; the node pools on GKE."""
    if plan.config.cloud == "aws":
        [system] = [r for r in plan.by_type("aws:eks/nodeGroup:NodeGroup") if r.inputs.get("nodeGroupName") == "system"]
        # the node monitoring agent (GPU health for node repair) is no add-on pods need to schedule or resolve names
        addons = {r.urn for r in plan.by_type("aws:eks/addon:Addon") if r.inputs["addonName"] != "eks-node-monitoring-agent"}
        assert {"coredns", "vpc-cni", "kube-proxy", "aws-ebs-csi-driver"} <= {
            r.inputs["addonName"] for r in plan.by_type("aws:eks/addon:Addon") if r.urn in addons
        }
        return {system.urn, *addons}
    if plan.config.cloud == "gcp":
        return {r.urn for r in plan.by_type("gcp:container/nodePool:NodePool")}
    return set()


@pytest.mark.parametrize("stack", [s for s in STACKS if config.load_stack(s).cloud != "existing"])
def test_every_kubernetes_object_waits_for_the_nodes_and_core_addons(plan_of: PlanOf, stack: str) -> None:
    """A Helm release with atomic/wait times out and rolls back if its pods cannot schedule or
    resolve names; so every Kubernetes object of every component (MLflow, Feast, Karpenter, GPU
    operator, Kueue, teams...) depends directly on the system nodes and the core add-ons."""
    plan = plan_of(stack)
    ready = _cluster_readiness(plan)
    assert ready
    objects = [
        r for r in plan.resources if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith("pulumi:providers:")
    ]
    components = {parent.type for r in objects if (parent := plan.get(r.parent)) is not None}
    assert {"ml-platform:k8s:Mlflow", "ml-platform:k8s:Feast"} <= components, components
    late = {r.urn: sorted(ready - set(r.dependencies)) for r in objects if not ready <= set(r.dependencies)}
    assert not late, f"{len(late)} objects do not wait for the cluster: {json.dumps(late, indent=1)[:3000]}"


def test_kubernetes_provider_keeps_the_admin_access_entries_until_its_objects_are_gone() -> None:
    """A CI role listed in ``cluster.adminRoleArns`` deploys through its access entry: the provider
    (and so every Kubernetes object) is created after the entry and its admin policy, and
    destroyed before them."""
    resources = variant()
    access = {
        r.urn
        for r in resources
        if r.type in ("aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        and "-admin-" in r.name
    }
    assert len(access) == 4
    [provider] = [r for r in resources if r.type == "pulumi:providers:kubernetes"]
    assert access <= set(provider.dependencies), sorted(access - set(provider.dependencies))


# ---- dev / staging tear down cleanly; prod keeps its data ------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_non_prod_buckets_are_emptied_on_destroy_and_prod_buckets_are_kept(plan_of: PlanOf, stack: str) -> None:
    """Versioned lake buckets and the access-log buckets S3 keeps delivering to are never empty by
    themselves: outside prod ``pulumi destroy`` must empty them (force_destroy), in prod never."""
    plan = plan_of(stack)
    buckets = plan.by_type("aws:s3/bucket:Bucket")
    roles = {b.inputs["tags"].get(cv.TAG_LAKE_ROLE) for b in buckets}
    assert {"primary", "logs"} <= roles, roles
    for bucket in buckets:
        if plan.config.is_prod:
            assert not bucket.inputs.get("forceDestroy") and bucket.protect and bucket.retain_on_delete, bucket.urn
        else:
            assert bucket.inputs.get("forceDestroy") is True and not bucket.protect, bucket.urn
    # what writes logs into a log bucket is removed before it: the logging configs and the
    # delivery grant depend on it (and the grant on the buckets it admits)
    by_id = {b.urn: b for b in buckets}
    for logging in plan.by_type("aws:s3/bucketLogging:BucketLogging"):
        targets = [u for u in logging.dependencies if u in by_id and by_id[u].inputs["tags"].get(cv.TAG_LAKE_ROLE) == "logs"]
        assert targets, logging.urn


@pytest.mark.parametrize(
    ("env", "value", "expected"), [("dev", None, True), ("staging", None, True), ("dev", False, False), ("prod", None, False)]
)
def test_lake_force_destroy_default_follows_the_environment(env: str, value: bool | None, expected: bool) -> None:
    raw = raw_config("staging")
    raw["environment"] = env
    if value is not None:
        raw["dataLake"]["forceDestroy"] = value
    assert config.parse(raw).lake_force_destroy is expected


# ---- generated secrets are safe wherever they land --------------------------------------------------

URL_AND_SED_SAFE = set("-_.~")
"""Besides letters and digits: URL-unreserved (RFC 3986), not special in a sed replacement, in
configparser interpolation, in a double-quoted shell word or in a Redis connection string."""


@pytest.mark.parametrize("stack", [s for s in STACKS if config.load_stack(s).cloud != "existing"])
def test_generated_passwords_survive_every_template_they_land_in(plan_of: PlanOf, stack: str) -> None:
    """The RDS master password reaches the MLflow chart's auth init container (sed into a
    postgresql:// URL, then an ini file), Feast's SQLAlchemy URL and Secrets Manager JSON; the
    ElastiCache AUTH token reaches Feast's `host:port,ssl=true,password=...` string. RDS forbids
    / @ " and space; ElastiCache AUTH takes 16-128 printable characters without / @ " or space."""
    plan = plan_of(stack)
    passwords = plan.by_type("random:index/randomPassword:RandomPassword")
    assert passwords
    for pw in passwords:
        specials = set(pw.inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?") if pw.inputs.get("special", True) else set()
        assert specials <= URL_AND_SED_SAFE, f"{pw.urn} may generate {''.join(sorted(specials - URL_AND_SED_SAFE))}"
        assert pw.inputs["length"] >= 16, pw.urn
        if "auth-token" in pw.name:
            assert pw.inputs["length"] <= 128, pw.urn


# ---- workloads reach their databases from every kind of node ---------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_databases_admit_the_security_group_every_node_carries(plan_of: PlanOf, stack: str) -> None:
    """System and managed GPU nodes get the EKS cluster security group (their launch templates name
    none); Karpenter nodes get the groups their EC2NodeClass selects by the discovery tag, which is
    put on that same group. RDS (5432) and ElastiCache (6379) must admit exactly it."""
    plan = plan_of(stack)
    tags = [t for t in plan.by_type("aws:ec2/tag:Tag") if t.inputs["key"] == "karpenter.sh/discovery"]
    assert len(tags) == 1
    node_sg, discovery = tags[0].inputs["resourceId"], tags[0].inputs["value"]
    for node_class in plan.by_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
        assert node_class.inputs["spec"]["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": discovery}}]
    for template in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert not template.inputs.get("vpcSecurityGroupIds") and not template.inputs.get("networkInterfaces"), template.urn
    rules = {r.inputs["fromPort"]: r for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert {5432, 6379} <= set(rules), sorted(rules)
    for port in (5432, 6379):
        assert rules[port].inputs["referencedSecurityGroupId"] == node_sg, port


def _api_rules(resources: list[RecordedResource]) -> list[RecordedResource]:
    return [
        r
        for r in resources
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and r.inputs.get("fromPort") == 443
    ]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_private_api_endpoint_admits_the_vpc_where_the_deployer_runs(plan_of: PlanOf, stack: str) -> None:
    """The private endpoint's ENIs carry the cluster security group, which admits only itself: a
    self-hosted runner in the VPC (cluster.deployFrom: vpc) needs HTTPS from the VPC CIDR, and the
    Kubernetes provider waits for that rule (and keeps it until its objects are deleted)."""
    plan = plan_of(stack)
    [cluster] = plan.by_type("aws:eks/cluster:Cluster")
    rules = _api_rules(plan.resources)
    assert [r.inputs["cidrIpv4"] for r in rules] == [plan.config.network.cidr]
    tags = [t for t in plan.by_type("aws:ec2/tag:Tag") if t.inputs["key"] == "karpenter.sh/discovery"]
    assert rules[0].inputs["securityGroupId"] == tags[0].inputs["resourceId"]  # the cluster security group
    assert cluster.urn in rules[0].dependencies
    [provider] = plan.by_type("pulumi:providers:kubernetes")
    assert {r.urn for r in rules} <= set(provider.dependencies)


def test_vpn_ranges_reach_the_private_endpoint_too() -> None:
    resources = variant()
    assert sorted(r.inputs["cidrIpv4"] for r in _api_rules(resources)) == ["10.20.0.0/16", "172.16.0.0/16"]  # staging's VPC + VPN
    raw = raw_config("gcp-dev")
    raw["cluster"] = {"privateAccessCidrs": ["172.16.0.0/16"]}
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert "ml-platform:cluster.privateAccessCidrs" in [p for p, _ in err.value.problems]
