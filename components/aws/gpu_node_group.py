"""An EKS managed GPU node group: NVIDIA AMI, GPU taint, IMDSv2-only launch template, encrypted volumes.

For pools that should not be managed by Karpenter (``mode: managed``): a fixed floor of nodes
(``min_nodes`` > 0 is honoured, unlike Karpenter), spot, on-demand or one reservation (ODCR or Capacity
Block, recorded in node-group tags for the cost estimate). Scaling between min and max needs a cluster
autoscaler; Karpenter does not scale managed node groups. Multi-node training options match a Karpenter
pool's class: EFA interfaces with their security group and huge pages, a cluster placement group, SOCI
parallel pull, a Bottlerocket data volume restored from an image snapshot.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from catalog import conventions as cv
from catalog.pools import RESERVED_NODES_ANNOTATION, RESERVED_PRICE_ANNOTATION
from components.aws import efa, node_user_data
from components.base import Component

AMI_TYPES = {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}
"""EKS AMI types that ship the NVIDIA driver, per AMI family."""
DATA_DEVICE = {"al2023": "/dev/xvda", "bottlerocket": "/dev/xvdb"}
"""The device holding images and ephemeral storage (Bottlerocket keeps its OS on ``/dev/xvda``)."""
CAPACITY = {"spot": "SPOT", "on-demand": "ON_DEMAND", "reserved": "ON_DEMAND"}
"""EKS capacity type per setting; a reservation launches on-demand instances into it (a Capacity Block: ``CAPACITY_BLOCK``)."""
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class GpuNodeGroupArgs:
    """Inputs of :class:`GpuNodeGroup`.

    :param cluster_name: EKS cluster name.
    :param subnet_ids: Private subnets for the nodes.
    :param instance_types: EC2 GPU instance types (one GPU model).
    :param capacity: ``spot``, ``on-demand`` or ``reserved`` (a managed node group cannot mix them).
    :param min_nodes: Smallest size (0 allowed).
    :param max_nodes: Largest size.
    :param labels: Node labels.
    :param ami_family: ``al2023`` or ``bottlerocket`` (NVIDIA variants).
    :param disk_gb: Size of the root (al2023) or data (bottlerocket) volume.
    :param kms_key_arn: Customer key for the volumes; ``None``: the account's EBS default key.
    :param node_role_arn: Existing node role; ``None`` creates one for this group.
    :param taints: ``{"key", "value", "effect"}`` with Kubernetes effects; default: the GPU taint.
    :param tags: Tags for the group, its launch template, instances and volumes.
    :param partition: AWS partition (for managed policy ARNs).
    """

    cluster_name: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    instance_types: Sequence[str]
    capacity: Literal["spot", "on-demand", "reserved"]
    min_nodes: int
    max_nodes: int
    labels: Mapping[str, str] = field(default_factory=dict)
    ami_family: Literal["al2023", "bottlerocket"] = "al2023"
    disk_gb: int = 200
    kms_key_arn: pulumi.Input[str] | None = None
    node_role_arn: pulumi.Input[str] | None = None
    taints: Sequence[Mapping[str, str]] = field(
        default_factory=lambda: [{"key": cv.GPU_TAINT_KEY, "value": cv.GPU_TAINT_VALUE, "effect": cv.GPU_TAINT_EFFECT}]
    )
    tags: Mapping[str, str] = field(default_factory=dict)
    partition: str = "aws"
    capacity_reservation_id: str | None = None
    """``capacity: reserved``: the ODCR / Capacity Block the launch template targets."""
    capacity_block: bool = False
    """The reservation is a Capacity Block for ML (node group capacity type ``CAPACITY_BLOCK``)."""
    auto_repair: bool = True
    """EKS node auto repair: replace nodes the node monitoring agent reports unhealthy (GPU faults)."""
    reserved_nodes: int = 0
    """``capacity: reserved``: instances the reservation holds (a node-group tag the cost estimate reads:
    reserved capacity is already paid, priced apart)."""
    reserved_usd_hour: float | None = None
    """The price paid per reserved node-hour (a Capacity Block's), when not the on-demand list price."""
    fast_image_pull: bool = False
    """SOCI parallel pull and unpack (launch-template user data, merged by EKS with its own:
    :mod:`components.aws.node_user_data`)."""
    efa_interfaces: int = 0
    """EFA interfaces per node (0: none): launch-template network interfaces in an EFA security group,
    and huge pages in the user data (as a Karpenter EFA pool's class, :mod:`components.aws.efa`)."""
    vpc_id: pulumi.Input[str] | None = None
    """The cluster's VPC (the EFA security group lives there); required with ``efa_interfaces``."""
    cluster_security_group_id: pulumi.Input[str] | None = None
    """The EKS cluster security group: interfaces listed in a launch template carry their groups
    explicitly, so the nodes keep the cluster's next to the EFA one; required with ``efa_interfaces``."""
    placement_group: bool = False
    """Launch into a cluster placement group made for the group (its subnets must be one zone)."""
    image_snapshot: str | None = None
    """Bottlerocket: the EBS snapshot (pre-pulled images) the data volume is restored from, then encrypted
    with ``kms_key_arn`` (as a Karpenter pool's class does)."""

    def __post_init__(self) -> None:
        where = "GpuNodeGroup"
        if not self.instance_types:
            raise ValueError(f"{where}: instance_types must not be empty")
        if self.capacity not in CAPACITY:
            raise ValueError(f"{where}: capacity must be one of {tuple(CAPACITY)} (a managed node group cannot mix them)")
        if (self.capacity == "reserved") != (self.capacity_reservation_id is not None):
            raise ValueError(f"{where}: capacity 'reserved' and capacity_reservation_id go together")
        if self.capacity_block and self.capacity != "reserved":
            raise ValueError(f"{where}: capacity_block needs capacity 'reserved'")
        if self.reserved_nodes < 0 or (self.reserved_nodes and self.capacity != "reserved"):
            raise ValueError(f"{where}: reserved_nodes needs capacity 'reserved' and must be >= 0")
        if self.reserved_usd_hour is not None and (self.reserved_usd_hour <= 0 or not self.reserved_nodes):
            raise ValueError(f"{where}: reserved_usd_hour must be positive and needs reserved_nodes")
        if self.ami_family not in AMI_TYPES:
            raise ValueError(f"{where}: ami_family must be one of {tuple(AMI_TYPES)}")
        if self.image_snapshot is not None and self.ami_family != "bottlerocket":
            raise ValueError(f"{where}: image_snapshot restores the Bottlerocket data volume; needs ami_family bottlerocket")
        if self.efa_interfaces < 0:
            raise ValueError(f"{where}: efa_interfaces must be >= 0")
        if self.efa_interfaces and (self.vpc_id is None or self.cluster_security_group_id is None):
            raise ValueError(
                f"{where}: efa_interfaces needs vpc_id and cluster_security_group_id (the EFA and cluster security groups)"
            )
        if self.min_nodes < 0 or self.max_nodes < 1 or self.min_nodes > self.max_nodes:
            raise ValueError(f"{where}: need 0 <= min_nodes <= max_nodes and max_nodes >= 1")
        if self.disk_gb < 20:
            raise ValueError(f"{where}: disk_gb must be >= 20")
        for taint in self.taints:
            if taint.get("effect") not in TAINT_EFFECTS:
                raise ValueError(f"{where}: taint effect must be one of {tuple(TAINT_EFFECTS)}")


def launch_template_user_data(args: GpuNodeGroupArgs) -> str | None:
    """Base64 user data of the launch template (a launch template takes it encoded), or ``None``."""
    hugepages = efa.HUGEPAGES_2MI_PAGES if args.efa_interfaces else 0
    data = node_user_data.user_data(args.ami_family, hugepages=hugepages, fast_image_pull=args.fast_image_pull)
    return base64.b64encode(data.encode()).decode() if data is not None else None


def reservation_tags(args: GpuNodeGroupArgs) -> dict[str, str]:
    """Node-group tags recording the reservation for the cost estimate (:mod:`catalog.pools` reads them, as it
    reads a Karpenter NodePool's annotations): nodes held and, when given, the price paid per node-hour."""
    if not args.reserved_nodes:
        return {}
    out = {RESERVED_NODES_ANNOTATION: str(args.reserved_nodes)}
    if args.reserved_usd_hour is not None:
        out[RESERVED_PRICE_ANNOTATION] = f"{args.reserved_usd_hour:g}"
    return out


class GpuNodeGroup(Component):
    """An EKS managed node group of GPU nodes, named ``resource_name`` (a DNS label); the AWS
    provider comes through ``opts``. Outputs: ``node_group_name``, ``node_role_arn``.
    """

    node_group_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]

    def __init__(self, resource_name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not _DNS_LABEL.match(resource_name):
            raise ValueError(f"GpuNodeGroup {resource_name!r}: the name (also the node group's) must be a DNS label")
        super().__init__("ml-platform:aws:GpuNodeGroup", resource_name, opts)
        name = resource_name
        child = self.child_opts()
        tags = dict(args.tags)

        role_arn = args.node_role_arn
        if role_arn is None:
            trust = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
            role = aws.iam.Role(f"{name}-node", assume_role_policy=json.dumps(trust), tags=tags, opts=child)
            attachments = [
                aws.iam.RolePolicyAttachment(
                    f"{name}-{p}", role=role.name, policy_arn=f"arn:{args.partition}:iam::aws:policy/{p}", opts=child
                )
                for p in NODE_POLICIES
            ]
            role_arn = role.arn
        else:
            attachments = []

        ebs: dict[str, pulumi.Input[str] | int] = {
            "volume_size": args.disk_gb,
            "volume_type": "gp3",
            "encrypted": "true",
            "delete_on_termination": "true",
        }
        if args.kms_key_arn is not None:
            ebs["kms_key_id"] = args.kms_key_arn
        if args.image_snapshot is not None:  # the data volume (Bottlerocket): its images come with it
            ebs["snapshot_id"] = args.image_snapshot
        # EFA: the interfaces Karpenter lays out for an EFA class (efa.network_interfaces), each in the
        # cluster security group and the EFA one (all traffic to and from itself); both groups and the
        # placement group exist before the template and outlive the nodes
        network_interfaces = None
        network_deps: list[pulumi.Resource] = []
        if args.efa_interfaces:
            assert args.vpc_id is not None and args.cluster_security_group_id is not None  # __post_init__
            group, rules = efa.efa_security_group(f"{name}-efa", vpc_id=args.vpc_id, tags=tags, opts=child)
            network_deps += [group, *rules]
            groups = [args.cluster_security_group_id, group.id]
            network_interfaces = [
                {
                    "network_card_index": nic["networkCardIndex"],
                    "device_index": nic["deviceIndex"],
                    "interface_type": nic["interfaceType"],
                    "security_groups": groups,
                    "delete_on_termination": "true",
                }
                for nic in efa.network_interfaces(args.efa_interfaces)
            ]
        placement = None
        if args.placement_group:
            self.placement = aws.ec2.PlacementGroup(
                f"{name}-pg", name=pulumi.Output.concat(args.cluster_name, f"-{name}"), strategy="cluster", tags=tags, opts=child
            )
            network_deps.append(self.placement)
            placement = {"group_name": self.placement.name}
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"GPU node group {name}: IMDSv2 only, encrypted volumes",
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
            },
            block_device_mappings=[{"device_name": DATA_DEVICE[args.ami_family], "ebs": ebs}],
            # EKS user guide, "Create a managed node group with Capacity Blocks" / ODCRs: the launch
            # template targets the reservation; a Capacity Block also sets the capacity-block market
            capacity_reservation_specification={
                "capacity_reservation_target": {"capacity_reservation_id": args.capacity_reservation_id}
            }
            if args.capacity_reservation_id
            else None,
            instance_market_options={"market_type": "capacity-block"} if args.capacity_block else None,
            user_data=launch_template_user_data(args),
            network_interfaces=network_interfaces,
            placement=placement,
            tag_specifications=[{"resource_type": kind, "tags": tags} for kind in ("instance", "volume", "network-interface")],
            tags=tags,
            opts=self.child_opts(depends_on=network_deps),
        )
        self.node_group = aws.eks.NodeGroup(
            f"{name}",
            cluster_name=args.cluster_name,
            node_group_name=name,
            node_role_arn=role_arn,
            subnet_ids=args.subnet_ids,
            instance_types=list(args.instance_types),
            ami_type=AMI_TYPES[args.ami_family],
            capacity_type="CAPACITY_BLOCK" if args.capacity_block else CAPACITY[args.capacity],
            node_repair_config={"enabled": args.auto_repair},
            scaling_config={"min_size": args.min_nodes, "max_size": args.max_nodes, "desired_size": args.min_nodes},
            update_config={"max_unavailable": 1},
            labels=dict(args.labels),
            taints=[{"key": t["key"], "value": t.get("value"), "effect": TAINT_EFFECTS[t["effect"]]} for t in args.taints],
            launch_template={"id": self.launch_template.id, "version": self.launch_template.latest_version.apply(str)},
            tags={**tags, **reservation_tags(args)},
            opts=self.child_opts(depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.publish(node_group_name=self.node_group.node_group_name, node_role_arn=pulumi.Output.from_input(role_arn))
