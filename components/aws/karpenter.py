"""Karpenter on EKS: controller IAM (IRSA), node role, interruption queue, Helm release, GPU NodePools.

One :class:`Karpenter` component registers

* the node role every Karpenter node runs as (worker, CNI, ECR pull, SSM policies) and its EKS
  access entry (``EC2_LINUX``);
* an encrypted SQS interruption queue fed by EventBridge rules for spot interruption warnings,
  rebalance recommendations, instance state changes and scheduled (AWS Health) changes;
* the controller role, assumed through IRSA by the ``karpenter`` service account, with a policy
  scoped to this cluster's tags, the queue and the node role;
* the pinned Helm release of the official chart;
* one ``EC2NodeClass`` per AMI family and root-volume size, and one ``NodePool`` per
  :class:`NodePoolSpec`, both depending on the release (which installs their CRDs).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from catalog.cost_model import RESERVED_NODES_ANNOTATION, RESERVED_PRICE_ANNOTATION
from components.aws import efa, node_user_data
from components.aws.irsa import IrsaRole, IrsaRoleArgs
from components.base import Component
from components.k8s.helm import pinned_release

CHART = "oci://public.ecr.aws/karpenter/karpenter"
CHART_VERSION = "1.14.1"
"""Pinned chart version: the chart published for Karpenter v1.14.1. Its release job packages the
chart with ``helm package --version <tag>`` (hack/release/common.sh), so the published version is
the tag, not the ``version: 1.13.0`` left in the tag's ``Chart.yaml``; a test compares it with the
pinned upstream ref."""
SERVICE_ACCOUNT = "karpenter"
AMI_FAMILIES = ("al2023", "bottlerocket")
"""EKS-optimized AMI families (alias ``<family>@<version>``); for GPU instance types Karpenter picks the NVIDIA variant,
for Trainium / Inferentia types the Neuron one. The v1 EC2NodeClass CRD allows only the aliases al2, al2023,
bottlerocket and windows*: there is no ``neuron`` alias. Karpenter's AL2023 family resolves the standard, nvidia
and neuron x86_64 variants (``pkg/providers/amifamily/al2023.go``, ``DescribeImageQuery``), and Bottlerocket's
standard x86_64 image carries the Neuron driver."""
_AMI_VERSION = re.compile(r"^(latest|v[0-9]+(\.[0-9]+)*)$")
CAPACITY_TYPES = ("spot", "on-demand", "reserved")
"""``karpenter.sh/capacity-type`` values; ``reserved`` is an ODCR / Capacity Block the EC2NodeClass selects
(feature gate ``reservedCapacity``, beta and on by default in the 1.14 chart values)."""
CONSOLIDATION_POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized")
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
INTERRUPTION_EVENTS = {
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "capacity-reservation": {"source": ["aws.ec2"], "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"]},
}
"""The EventBridge rules of upstream's v1.14 reference template (aws/karpenter-provider-aws
``website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml``:
ScheduledChangeRule, SpotInterruptionRule, RebalanceRule, InstanceStateChangeRule,
CapacityReservationInterruptionRule)."""
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DURATION = re.compile(r"^([0-9]+(s|m|h))+$|^Never$")


@dataclass(frozen=True)
class NodePoolSpec:
    """One Karpenter ``NodePool``.

    :param name: NodePool name (a DNS label).
    :param instance_types: EC2 instance types the pool may launch.
    :param capacity_types: ``spot`` and/or ``on-demand``; with both, Karpenter takes spot first.
    :param labels: Node labels (pool, purpose, GPU model, MIG / device-plugin config).
    :param gpu_limit: Ceiling on ``nvidia.com/gpu`` across the pool's nodes.
    :param cpu_limit: Ceiling on CPU across the pool's nodes.
    :param consolidation: ``WhenEmpty`` (never evicts running pods) or ``WhenEmptyOrUnderutilized``.
    :param consolidate_after: How long a node stays empty / under-utilized before it is removed.
    :param budgets: Disruption budgets (``[{"nodes": "10%"}]``).
    :param expire_after: Node lifetime (``720h``) or ``Never``.
    :param termination_grace_period: Longest a draining node waits for its pods, or ``None``.
    :param ami_family: ``al2023`` or ``bottlerocket`` (the NVIDIA variant is picked per instance type).
    :param ami_version: AMI release to pin (``v20250715``), or ``latest`` (nodes drift to each release).
    :param disk_gb: Root (al2023) or data (bottlerocket) volume size.
    :param weight: NodePool weight 1-100; higher is tried first.
    :param min_nodes: Configured minimum, recorded as an annotation only (Karpenter has no minimum).
    :param max_nodes: Configured maximum: an annotation and a ``nodes`` limit (Karpenter stops
        provisioning at it, like at the GPU and CPU limits).
    :param taints: Node taints; default: the platform GPU taint.
    """

    name: str
    instance_types: Sequence[str]
    capacity_types: Sequence[str]
    labels: Mapping[str, str]
    gpu_limit: int
    cpu_limit: int
    consolidation: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmpty"
    consolidate_after: str = "10m"
    budgets: Sequence[Mapping[str, Any]] = ({"nodes": "10%"},)
    expire_after: str = "720h"
    termination_grace_period: str | None = None
    ami_family: Literal["al2023", "bottlerocket"] = "al2023"
    ami_version: str = "latest"
    disk_gb: int = 200
    weight: int | None = None
    min_nodes: int = 0
    max_nodes: int | None = None
    taints: Sequence[Mapping[str, str]] = field(
        default_factory=lambda: [{"key": cv.GPU_TAINT_KEY, "value": cv.GPU_TAINT_VALUE, "effect": cv.GPU_TAINT_EFFECT}]
    )
    accelerator_resource: str = cv.GPU_RESOURCE
    """The resource ``gpu_limit`` limits: ``nvidia.com/gpu``, or ``aws.amazon.com/neuron`` for a
    Trainium / Inferentia pool (Karpenter knows both from the instance types it launches)."""
    extended_capacity: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Instance type -> extended resources its nodes will advertise that EC2 does not report
    (MIG slices: ``{"p4d.24xlarge": {"nvidia.com/mig-1g.5gb": 56}}``); becomes NodeOverlays."""
    capacity_reservations: Sequence[Mapping[str, Any]] = ()
    """``capacityReservationSelectorTerms`` of the pool's own EC2NodeClass (``{"id": "cr-..."}`` or
    ``{"tags": {...}}``); needs ``reserved`` in ``capacity_types``."""
    reserved_nodes: int = 0
    """Instances the reservations hold (recorded as an annotation for the cost estimate)."""
    reserved_usd_hour: float | None = None
    """Price paid per reserved node-hour, when it is not the on-demand list price (annotation)."""
    efa_interfaces: int = 0
    """EFA interfaces per node (0: none); the pool's EC2NodeClass lists them in ``networkInterfaces``."""
    placement_group: bool = False
    """Launch into a cluster placement group created for the pool (needs ``zone``)."""
    zone: str | None = None
    """The one availability zone (and so subnet) the pool launches in."""
    do_not_disrupt_reasons: Sequence[str] = ()
    """Disruption reasons (``Drifted``, ``Underutilized``) blocked outright by a ``nodes: "0"`` budget."""
    image_snapshot: str | None = None
    """Bottlerocket: EBS snapshot (pre-pulled images) the data volume is restored from (the pool's own class)."""
    fast_image_pull: bool = False
    """SOCI parallel pull and unpack of container images (the pool's own class's user data,
    :mod:`components.aws.node_user_data`)."""
    replicas: int | None = None
    """A static NodePool keeping this many nodes (alpha feature gate ``staticCapacity``): no weight, and
    ``limits`` holds only ``nodes`` (NodePool CRD rules). For pools whose nodes must exist before a job
    is admitted (Kueue topology-aware scheduling)."""

    def __post_init__(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        where = f"NodePoolSpec {self.name!r}"
        if not _DNS_LABEL.match(self.name) or len(self.name) > 63:
            raise ValueError(f"{where}: name must be a DNS label")
        if not self.instance_types:
            raise ValueError(f"{where}: instance_types must not be empty")
        if not self.capacity_types or set(self.capacity_types) - set(CAPACITY_TYPES):
            raise ValueError(f"{where}: capacity_types must be a non-empty subset of {CAPACITY_TYPES}")
        if ("reserved" in self.capacity_types) != bool(self.capacity_reservations):
            raise ValueError(f"{where}: capacity type 'reserved' and capacity_reservations go together")
        if self.efa_interfaces < 0:
            raise ValueError(f"{where}: efa_interfaces must be >= 0")
        if self.replicas is not None and (
            self.replicas < 1 or self.weight is not None or self.max_nodes is None or self.replicas > self.max_nodes
        ):
            raise ValueError(f"{where}: a static pool needs 1 <= replicas <= max_nodes and no weight")
        if self.image_snapshot and self.ami_family != "bottlerocket":
            raise ValueError(f"{where}: image_snapshot restores the Bottlerocket data volume; needs ami_family bottlerocket")
        if self.placement_group and not self.zone:
            raise ValueError(f"{where}: a cluster placement group lives in one zone; set zone")
        if self.gpu_limit < 1 or self.cpu_limit < 1:
            raise ValueError(f"{where}: gpu_limit and cpu_limit must be >= 1")
        if self.consolidation not in CONSOLIDATION_POLICIES:
            raise ValueError(f"{where}: consolidation must be one of {CONSOLIDATION_POLICIES}")
        for name, value in (("consolidate_after", self.consolidate_after), ("expire_after", self.expire_after)):
            if not _DURATION.match(value):
                raise ValueError(f"{where}: {name} {value!r} is not a duration such as 720h or Never")
        if self.ami_family not in AMI_FAMILIES:
            raise ValueError(f"{where}: ami_family must be one of {AMI_FAMILIES}")
        if not _AMI_VERSION.match(self.ami_version):
            raise ValueError(f"{where}: ami_version {self.ami_version!r} must be 'latest' or a release such as v20250715")
        if self.weight is not None and not 1 <= self.weight <= 100:
            raise ValueError(f"{where}: weight must be 1-100")
        if self.disk_gb < 20:
            raise ValueError(f"{where}: disk_gb must be >= 20")
        if self.max_nodes is not None and self.min_nodes > self.max_nodes:
            raise ValueError(f"{where}: min_nodes exceeds max_nodes")
        for instance_type, resources in self.extended_capacity.items():
            if instance_type not in self.instance_types:
                raise ValueError(f"{where}: extended_capacity names {instance_type!r}, not one of the pool's instance types")
            for resource, count in resources.items():
                if "/" not in resource or resource.split("/")[0] in ("kubernetes.io", "") or count < 1:
                    raise ValueError(f"{where}: extended_capacity {resource!r}={count} must be a domain-prefixed resource >= 1")

    @property
    def own_node_class(self) -> bool:
        """Reservations, EFA interfaces and placement groups are per pool: such a pool has its own EC2NodeClass."""
        return bool(
            self.capacity_reservations
            or self.efa_interfaces
            or self.placement_group
            or self.image_snapshot
            or self.fast_image_pull
        )

    @property
    def node_class(self) -> str:
        """Name of the ``EC2NodeClass`` this pool uses (one per AMI family, pinned release and disk size,
        or the pool's own, ``gpu-pool-<name>``, see :attr:`own_node_class`)."""
        if self.own_node_class:
            return f"gpu-pool-{self.name}"
        version = "" if self.ami_version == "latest" else "-" + self.ami_version.replace(".", "-")
        return f"gpu-{self.ami_family}{version}-{self.disk_gb}g"

    @property
    def ami_alias(self) -> str:
        return f"{self.ami_family}@{self.ami_version}"


@dataclass(frozen=True)
class KarpenterArgs:
    """Inputs of :class:`Karpenter`.

    :param cluster_name: EKS cluster name.
    :param region: AWS region of the cluster.
    :param account_id: AWS account id (for ARNs in the controller policy).
    :param oidc_provider_arn: ARN of the cluster's IAM OIDC provider (IRSA).
    :param oidc_issuer: The cluster's OIDC issuer URL (with or without ``https://``).
    :param node_pools: The NodePools to create.
    :param discovery_value: Value of the ``karpenter.sh/discovery`` tag on the node subnets and
        security groups; default: the cluster name.
    :param kms_key_arn: Customer key for the node volumes; ``None`` uses the account's EBS default key.
    :param tags: Tags for the EC2 resources Karpenter launches.
    :param partition: AWS partition.
    :param namespace: Namespace of the controller.
    :param replicas: Controller replicas.
    :param controller_node_selector: Where the controller runs (the system nodes).
    :param cluster_endpoint: API endpoint; default: discovered by the controller.
    :param security_group_id: A security group (the EKS cluster security group) to tag with
        ``karpenter.sh/discovery`` so the node classes select it; ``None`` if it is tagged already.
    """

    cluster_name: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    node_pools: Sequence[NodePoolSpec] = ()
    discovery_value: pulumi.Input[str] | None = None
    kms_key_arn: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    partition: str = "aws"
    namespace: str = cv.NS_KARPENTER
    replicas: int = 2
    controller_node_selector: Mapping[str, str] | None = None
    cluster_endpoint: pulumi.Input[str] | None = None
    security_group_id: pulumi.Input[str] | None = None
    vpc_id: pulumi.Input[str] | None = None
    """The cluster's VPC: where the EFA security group is made (required when a pool has EFA)."""
    node_repair: bool = False
    """Feature gate ``nodeRepair``: replace nodes whose conditions (from the EKS node monitoring
    agent: GPU XID errors, NVLink, EFA) stay unhealthy (v1.14 disruption.md, "Node Auto Repair")."""

    def __post_init__(self) -> None:
        if any(p.efa_interfaces for p in self.node_pools) and self.vpc_id is None:
            raise ValueError("KarpenterArgs: vpc_id is required for a pool with EFA interfaces (its security group)")
        if not self.region:
            raise ValueError("KarpenterArgs: region is required")
        if self.replicas < 1:
            raise ValueError("KarpenterArgs: replicas must be >= 1")
        names = [p.name for p in self.node_pools]
        if len(set(names)) != len(names):
            raise ValueError(f"KarpenterArgs: duplicate NodePool names in {names}")
        object.__setattr__(self, "node_pools", tuple(self.node_pools))


def capacity_types_for(capacity: str) -> list[str]:
    """Karpenter ``karpenter.sh/capacity-type`` values for a pool's ``capacity`` setting.

    Karpenter launches reserved capacity first whenever a NodePool allows it, then spot / on-demand
    (upstream ``website/content/en/v1.14/tasks/odcrs.md``, "Prioritization Behavior").
    """
    return {
        "spot": ["spot"],
        "on-demand": ["on-demand"],
        "spot-with-fallback": ["spot", "on-demand"],
        "reserved": ["reserved"],
        "reserved-then-spot": ["reserved", "spot"],
        "reserved-then-on-demand": ["reserved", "on-demand"],
    }[capacity]


def cpu_limit_for(gpu_limit: int, node_shapes: Sequence[tuple[int, int]]) -> int:
    """Most vCPUs a pool can hold while staying under ``gpu_limit``; shapes are ``(gpus, vcpu)``."""
    return max(math.ceil(gpu_limit / gpus) * vcpu for gpus, vcpu in node_shapes)


# ---- IAM documents (pure functions: tests parse them) ----------------------------------------


def controller_policy(
    *,
    cluster: str,
    region: str,
    account: str,
    partition: str,
    queue_arn: str,
    node_role_arn: str,
    kms_key_arn: str | None = None,
    spot: bool = False,
) -> dict[str, Any]:
    """Least-privilege controller policy: EC2 writes only on resources tagged for this cluster.

    Statement for statement the v1.14 reference policies of upstream's getting-started template
    (aws/karpenter-provider-aws ``website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml``:
    NodeLifecyclePolicy, IAMIntegrationPolicy, EKSIntegrationPolicy, InterruptionPolicy,
    ZonalShiftPolicy, ResourceDiscoveryPolicy), with the node role and queue of this stack.

    With ``spot``, EC2 may create the account's Spot service-linked role on the controller's behalf:
    the first spot launch in an account fails without it (``ServiceLinkedRoleCreationNotPermitted``).
    """
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    owned_resource = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "RunWithSharedResources",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
        },
        {
            "Sid": "RunWithOwnLaunchTemplates",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": f"{ec2}:*:launch-template/*",
            "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "CreateTaggedForCluster",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Resource": launched,
            "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "TagOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": launched,
            "Condition": {
                "StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "TagOwnInstances",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:*:instance/*",
            "Condition": {
                "StringEquals": owned_resource,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
            },
        },
        {
            "Sid": "DeleteOwn",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "RegionalReads",
            "Effect": "Allow",
            "Action": [
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
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AmiParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
        },
        {"Sid": "Pricing", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {
            "Sid": "InterruptionQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            "Resource": queue_arn,
        },
        {
            "Sid": "PassNodeRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
        },
        {
            "Sid": "CreateInstanceProfiles",
            "Effect": "Allow",
            "Action": "iam:CreateInstanceProfile",
            "Resource": profile,
            "Condition": {
                "StringEquals": {**owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "TagInstanceProfiles",
            "Effect": "Allow",
            "Action": "iam:TagInstanceProfile",
            "Resource": profile,
            "Condition": {
                "StringEquals": {**owned_resource, "aws:ResourceTag/topology.kubernetes.io/region": region, **owned},
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
        {
            "Sid": "ManageOwnInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            "Resource": profile,
            "Condition": {
                "StringEquals": {**owned_resource, "aws:ResourceTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        # upstream grants ListInstanceProfiles on "*"; IAM evaluates it against the listed path's
        # instance-profile ARN (arn:...:instance-profile/karpenter/<region>/...), which this matches
        {
            "Sid": "ReadInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:GetInstanceProfile", "iam:ListInstanceProfiles"],
            "Resource": profile,
        },
        {
            "Sid": "DescribeCluster",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": f"arn:{partition}:eks:{region}:{account}:cluster/{cluster}",
        },
        {
            "Sid": "ZonalShiftStatus",
            "Effect": "Allow",
            "Action": "arc-zonal-shift:GetManagedResource",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "arc-zonal-shift:ResourceIdentifier": f"arn:{partition}:eks:{region}:{account}:cluster/{cluster}"
                }
            },
        },
    ]
    if spot:
        statements.append(
            {
                "Sid": "CreateSpotServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": f"arn:{partition}:iam::{account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
                "Condition": {"StringEquals": {"iam:AWSServiceName": "spot.amazonaws.com"}},
            }
        )
    if kms_key_arn:
        statements.append(
            {
                "Sid": "EncryptNodeVolumes",
                "Effect": "Allow",
                "Action": [
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncrypt*",
                    "kms:Decrypt",
                ],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def queue_policy(queue_arn: str) -> dict[str, Any]:
    """Only EventBridge (and SQS itself) may send to the queue, and only over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeSends",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def _ec2_trust() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        }
    )


# ---- Kubernetes objects (pure functions) -----------------------------------------------------


def node_class_spec(
    *,
    ami_family: str,
    ami_alias: str,
    disk_gb: int,
    role: pulumi.Input[str],
    discovery_value: pulumi.Input[str],
    tags: Mapping[str, str],
    kms_key_arn: pulumi.Input[str] | None,
    capacity_reservations: Sequence[Mapping[str, Any]] = (),
    efa_interfaces: int = 0,
    placement_group: pulumi.Input[str] | None = None,
    security_group_ids: Sequence[pulumi.Input[str]] = (),
    image_snapshot: str | None = None,
    fast_image_pull: bool = False,
) -> dict[str, Any]:
    """``EC2NodeClass.spec``: NVIDIA-capable AMI alias, discovery selectors, encrypted gp3, IMDSv2 only.

    A pool's own class adds its capacity reservations (``capacityReservationSelectorTerms``), EFA
    interfaces (``networkInterfaces``) with huge pages in the user data, a placement group
    (``placementGroupSelector``) and extra security groups (selector terms are ORed: the discovery-
    tagged cluster group and these).
    """

    def volume(size_gb: int, snapshot: str | None = None) -> dict[str, Any]:
        ebs: dict[str, Any] = {
            "volumeSize": f"{size_gb}Gi",
            "volumeType": "gp3",
            "encrypted": True,
            "deleteOnTermination": True,
        }
        if kms_key_arn is not None:
            ebs["kmsKeyID"] = kms_key_arn
        if snapshot is not None:  # restored, then encrypted with the key above
            ebs["snapshotID"] = snapshot
        return ebs

    if ami_family == "bottlerocket":
        devices = [
            {"deviceName": "/dev/xvda", "ebs": volume(8)},
            {"deviceName": "/dev/xvdb", "ebs": volume(disk_gb, image_snapshot), "rootVolume": True},
        ]
    else:
        devices = [{"deviceName": "/dev/xvda", "ebs": volume(disk_gb), "rootVolume": True}]
    selector = [{"tags": {cv.KARPENTER_DISCOVERY_TAG: discovery_value}}]
    extra: dict[str, Any] = {}
    if capacity_reservations:
        extra["capacityReservationSelectorTerms"] = [dict(t) for t in capacity_reservations]
    if efa_interfaces:
        extra["networkInterfaces"] = efa.network_interfaces(efa_interfaces)
    user_data = node_user_data.user_data(
        ami_family, hugepages=efa.HUGEPAGES_2MI_PAGES if efa_interfaces else 0, fast_image_pull=fast_image_pull
    )
    if user_data is not None:
        extra["userData"] = user_data
    if placement_group is not None:
        extra["placementGroupSelector"] = {"name": placement_group}
    return {
        **extra,
        "role": role,
        "amiSelectorTerms": [{"alias": ami_alias}],
        "subnetSelectorTerms": selector,
        "securityGroupSelectorTerms": selector + [{"id": sg} for sg in security_group_ids],
        "blockDeviceMappings": devices,
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "tags": dict(tags),
    }


def node_pool_body(pool: NodePoolSpec) -> dict[str, Any]:
    """``NodePool`` metadata + spec for ``pool``."""
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.node_class},
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            *([{"key": "topology.kubernetes.io/zone", "operator": "In", "values": [pool.zone]}] if pool.zone else []),
        ],
        "taints": [dict(t) for t in pool.taints],
        "expireAfter": pool.expire_after,
    }
    if pool.termination_grace_period:
        template_spec["terminationGracePeriod"] = pool.termination_grace_period
    annotations = {cv.MIN_NODES_ANNOTATION: str(pool.min_nodes)}
    if pool.max_nodes is not None:
        annotations[cv.MAX_NODES_ANNOTATION] = str(pool.max_nodes)
    if pool.reserved_nodes:
        annotations[RESERVED_NODES_ANNOTATION] = str(pool.reserved_nodes)
        if pool.reserved_usd_hour is not None:
            annotations[RESERVED_PRICE_ANNOTATION] = f"{pool.reserved_usd_hour:g}"
    budgets = [dict(b) for b in pool.budgets]
    if pool.do_not_disrupt_reasons:
        # a budget naming reasons caps only those; nodes "0" forbids them (v1.14 disruption.md, "Reasons")
        budgets.append({"nodes": "0", "reasons": list(pool.do_not_disrupt_reasons)})
    spec: dict[str, Any] = {
        "template": {"metadata": {"labels": dict(pool.labels)}, "spec": template_spec},
        "disruption": {
            "consolidationPolicy": pool.consolidation,
            "consolidateAfter": pool.consolidate_after,
            "budgets": budgets,
        },
        "limits": {"cpu": pool.cpu_limit, pool.accelerator_resource: pool.gpu_limit},
    }
    if pool.max_nodes is not None:
        # Karpenter tracks "nodes" in the NodePool's resources and checks it like cpu when it
        # provisions (a burst may overshoot by the nodes launched in one batch)
        spec["limits"]["nodes"] = pool.max_nodes
    if pool.weight is not None:
        spec["weight"] = pool.weight
    if pool.replicas is not None:
        spec["replicas"] = pool.replicas
        spec["limits"] = {"nodes": pool.max_nodes}  # the CRD allows only limits.nodes on a static pool
    return {
        "metadata": {"name": pool.name, "labels": {cv.POOL_LABEL: pool.name}, "annotations": annotations},
        "spec": spec,
    }


def node_overlays(pool: NodePoolSpec) -> list[dict[str, Any]]:
    """``NodeOverlay`` metadata + spec per instance type with extended capacity (alpha feature gate ``nodeOverlay``).

    Without them Karpenter does not know that, say, a MIG-partitioned p4d offers
    ``nvidia.com/mig-1g.5gb`` and never launches a node for a pod that asks for it.
    """
    overlays = []
    for instance_type, resources in sorted(pool.extended_capacity.items()):
        overlays.append(
            {
                "metadata": {"name": f"{pool.name}-{instance_type.replace('.', '-')}", "labels": {cv.POOL_LABEL: pool.name}},
                "spec": {
                    # the slices exist only on this pool's nodes (its MIG label): another pool
                    # launching the same instance type must not be promised them
                    "requirements": [
                        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]},
                        {"key": "karpenter.sh/nodepool", "operator": "In", "values": [pool.name]},
                    ],
                    "capacity": {k: str(v) for k, v in sorted(resources.items())},
                },
            }
        )
    return overlays


class Karpenter(Component):
    """Karpenter with GPU NodePools on an EKS cluster.

    Providers through ``opts``: ``providers={"aws": ..., "kubernetes": ...}`` (the IAM / SQS /
    EventBridge / EKS resources, and the cluster). Outputs: ``node_role_arn``, ``controller_role_arn``,
    ``interruption_queue``, ``node_pool_names``.
    """

    node_role_arn: pulumi.Output[str]
    controller_role_arn: pulumi.Output[str]
    interruption_queue: pulumi.Output[str]
    node_pool_names: list[str]

    def __init__(self, resource_name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:Karpenter", resource_name, opts)
        name = resource_name
        child = self.child_opts()
        cluster = pulumi.Output.from_input(args.cluster_name)
        tags = dict(args.tags)
        arn = f"arn:{args.partition}:iam::aws:policy/"

        # -- node role + access entry -------------------------------------------------------------
        self.node_role = aws.iam.Role(f"{name}-node", assume_role_policy=_ec2_trust(), tags=tags, opts=child)
        self.node_role_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=self.node_role.name, policy_arn=arn + policy, opts=child)
            for policy in NODE_POLICIES
        ]
        self.access_entry = aws.eks.AccessEntry(
            f"{name}-node", cluster_name=cluster, principal_arn=self.node_role.arn, type="EC2_LINUX", tags=tags, opts=child
        )

        # -- interruption queue + EventBridge rules -----------------------------------------------
        self.queue = aws.sqs.Queue(
            f"{name}-interruption",
            name=cluster.apply(lambda c: f"{c}-karpenter"),
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        self.queue_policy = aws.sqs.QueuePolicy(
            f"{name}-interruption",
            queue_url=self.queue.url,
            policy=self.queue.arn.apply(lambda a: json.dumps(queue_policy(a))),
            opts=child,
        )
        self.rules: dict[str, aws.cloudwatch.EventRule] = {}
        self.rule_targets: list[aws.cloudwatch.EventTarget] = []
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}",
                description=f"Karpenter interruption handling: {pattern['detail-type'][0]}",
                event_pattern=json.dumps(pattern),
                tags=tags,
                opts=child,
            )
            self.rule_targets.append(
                aws.cloudwatch.EventTarget(
                    f"{name}-{event}", rule=rule.name, arn=self.queue.arn, target_id="KarpenterInterruptionQueue", opts=child
                )
            )
            self.rules[event] = rule

        # -- controller role (IRSA) ---------------------------------------------------------------
        spot = any("spot" in pool.capacity_types for pool in args.node_pools)
        policy = pulumi.Output.all(cluster, args.account_id, self.queue.arn, self.node_role.arn, args.kms_key_arn).apply(
            lambda v: json.dumps(
                controller_policy(
                    cluster=v[0],
                    region=args.region,
                    account=v[1],
                    partition=args.partition,
                    queue_arn=v[2],
                    node_role_arn=v[3],
                    kms_key_arn=v[4],
                    spot=spot,
                ),
                separators=(",", ":"),
            )
        )
        self.controller_role = IrsaRole(
            f"{name}-controller",
            IrsaRoleArgs(
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=pulumi.Output.from_input(args.oidc_issuer).apply(lambda i: i.removeprefix("https://")),
                namespace=args.namespace,
                service_account=SERVICE_ACCOUNT,
                policy_document=policy,
                tags=tags,
            ),
            self.child_opts(),
        )

        # -- discovery tag on the cluster security group (the subnets are tagged by the VPC) -------
        discovery = args.discovery_value if args.discovery_value is not None else cluster
        self.discovery_tags: list[aws.ec2.Tag] = []
        if args.security_group_id is not None:
            sg_tag = aws.ec2.Tag(
                f"{name}-sg-discovery",
                resource_id=args.security_group_id,
                key=cv.KARPENTER_DISCOVERY_TAG,
                value=discovery,
                opts=child,
            )
            self.discovery_tags.append(sg_tag)

        # -- Helm release -------------------------------------------------------------------------
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": args.namespace, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
            opts=child,
        )
        settings: dict[str, Any] = {"clusterName": cluster, "interruptionQueue": self.queue.name}
        overlays = [body for pool in args.node_pools for body in node_overlays(pool)]
        gates: dict[str, bool] = {}
        if overlays:
            gates["nodeOverlay"] = True
        if any("reserved" in p.capacity_types for p in args.node_pools):
            gates["reservedCapacity"] = True  # beta, on by default in 1.14; explicit so an override cannot drop it
        if args.node_repair:
            gates["nodeRepair"] = True
        if any(p.replicas is not None for p in args.node_pools):
            gates["staticCapacity"] = True
        if gates:
            settings["featureGates"] = gates
        if args.cluster_endpoint is not None:
            settings["clusterEndpoint"] = args.cluster_endpoint
        values: dict[str, Any] = {
            "replicas": args.replicas,
            "serviceAccount": {
                "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": self.controller_role.arn},
            },
            "settings": settings,
            "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
        }
        if args.controller_node_selector:
            values["nodeSelector"] = dict(args.controller_node_selector)
        # Destroy order matters as much as create order: Pulumi deletes a resource before what it
        # depends on. The controller must keep its permissions (IRSA policy), its nodes' access
        # entry and its interruption queue until every NodePool / EC2NodeClass is gone - their
        # finalizers terminate the NodeClaims' instances and delete the instance profiles. So the
        # release and the custom resources depend on all of them explicitly.
        self.controller_permissions: list[pulumi.Resource] = [
            *self.controller_role.permissions,
            self.access_entry,
            self.queue_policy,
            *self.rules.values(),
            *self.rule_targets,
        ]
        self.release = pinned_release(
            name,
            release="karpenter",
            chart=CHART,
            version=CHART_VERSION,
            namespace=self.namespace.metadata["name"],
            values=values,
            opts=self.child_opts(depends_on=self.controller_permissions),
        )

        # -- EC2NodeClasses + NodePools -----------------------------------------------------------
        # the node role's policies and the security-group discovery tag are what the nodes launched
        # for these classes need (join, pull images; the SG selector): created first, deleted last
        cr_deps: list[pulumi.Resource] = [
            self.release,
            *self.controller_permissions,
            *self.node_role_policies,
            *self.discovery_tags,
        ]
        cr_opts = self.child_opts(depends_on=cr_deps)
        # -- per-pool network: the EFA security group and cluster placement groups ----------------
        efa_groups: list[pulumi.Input[str]] = []
        network_deps: list[pulumi.Resource] = []
        if any(p.efa_interfaces for p in args.node_pools):
            if args.vpc_id is None:
                raise ValueError("Karpenter: EFA pools need vpc_id (their security group lives in the cluster's VPC)")
            group, rules = efa.efa_security_group(f"{name}-efa", vpc_id=args.vpc_id, tags=tags, opts=child)
            self.efa_security_group = group
            efa_groups = [group.id]
            network_deps += [group, *rules]
        self.placement_groups: dict[str, aws.ec2.PlacementGroup] = {}
        for pool in args.node_pools:
            if pool.placement_group:
                self.placement_groups[pool.name] = aws.ec2.PlacementGroup(
                    f"{name}-pg-{pool.name}",
                    name=pulumi.Output.concat(cluster, f"-{pool.name}"),
                    strategy="cluster",
                    tags=tags,
                    opts=child,
                )
        network_deps += list(self.placement_groups.values())
        # the EFA security group and the placement groups are named in the EC2NodeClass: created
        # before it, deleted after it (and so after the NodePools and their nodes)
        class_opts = self.child_opts(depends_on=[*cr_deps, *network_deps])

        self.node_classes: dict[str, k8s.apiextensions.CustomResource] = {}
        for pool in args.node_pools:
            if pool.node_class in self.node_classes:
                continue
            placement = self.placement_groups.get(pool.name)
            self.node_classes[pool.node_class] = k8s.apiextensions.CustomResource(
                f"{name}-{pool.node_class}",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata={"name": pool.node_class},
                spec=node_class_spec(
                    ami_family=pool.ami_family,
                    ami_alias=pool.ami_alias,
                    disk_gb=pool.disk_gb,
                    role=self.node_role.name,
                    discovery_value=discovery,
                    tags=tags,
                    kms_key_arn=args.kms_key_arn,
                    capacity_reservations=pool.capacity_reservations,
                    efa_interfaces=pool.efa_interfaces,
                    placement_group=placement.name if placement is not None else None,
                    security_group_ids=efa_groups if pool.efa_interfaces else (),
                    image_snapshot=pool.image_snapshot,
                    fast_image_pull=pool.fast_image_pull,
                ),
                opts=class_opts,
            )
        self.node_pools: dict[str, k8s.apiextensions.CustomResource] = {}
        for pool in args.node_pools:
            body = node_pool_body(pool)
            self.node_pools[pool.name] = k8s.apiextensions.CustomResource(
                f"{name}-pool-{pool.name}",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata=body["metadata"],
                spec=body["spec"],
                opts=self.child_opts(depends_on=[*cr_deps, self.release, self.node_classes[pool.node_class]]),
            )

        self.node_overlays: dict[str, k8s.apiextensions.CustomResource] = {}
        for body in overlays:
            overlay = body["metadata"]["name"]
            self.node_overlays[overlay] = k8s.apiextensions.CustomResource(
                f"{name}-overlay-{overlay}",
                api_version="karpenter.sh/v1alpha1",
                kind="NodeOverlay",
                metadata=body["metadata"],
                spec=body["spec"],
                opts=cr_opts,
            )

        self.publish(
            node_role_arn=self.node_role.arn,
            controller_role_arn=self.controller_role.arn,
            interruption_queue=self.queue.name,
            node_pool_names=list(self.node_pools),
        )
