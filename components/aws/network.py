"""A VPC over N availability zones: public and private subnets, NAT, an S3 gateway endpoint.

Availability zones come from the ``get_availability_zones`` invoke of the given provider, never
from literals, so the same component builds the primary and the DR region.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from catalog.conventions import KARPENTER_DISCOVERY_TAG
from components.base import Component

ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


def subnet_plan(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Split ``cidr``: private subnets share the first half, smaller public subnets the second.

    :returns: ``(private_cidrs, public_cidrs)``, one of each per AZ.
    :raises ValueError: when ``cidr`` is too small for ``az_count`` zones.
    """
    net = ipaddress.ip_network(cidr)
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"cidr {cidr!r} must be IPv4")
    bits = math.ceil(math.log2(az_count)) if az_count > 1 else 0
    private_prefix = net.prefixlen + 1 + bits
    public_prefix = private_prefix + 2
    if public_prefix > 28:
        raise ValueError(f"cidr {cidr!r} is too small for {az_count} zones; use /20 or larger")
    private_half, public_half = net.subnets(prefixlen_diff=1)
    private = [str(s) for s in private_half.subnets(new_prefix=private_prefix)][:az_count]
    public = [str(s) for s in public_half.subnets(new_prefix=public_prefix)][:az_count]
    return private, public


@dataclass(frozen=True)
class VpcArgs:
    """Arguments of :class:`Vpc`.

    :param cidr: the VPC CIDR (IPv4, /20 or larger).
    :param region: the provider's region (names the S3 endpoint service).
    :param az_count: availability zones to span (2-6).
    :param nat_gateways: ``single`` (one NAT, cheap) or ``perAz`` (one per zone, survives a zone loss).
    :param cluster_name: tags subnets for the AWS load balancer controller and Karpenter discovery.
    :param tags: extra tags (provider default tags apply as well).
    """

    cidr: str
    region: str
    az_count: int = 3
    nat_gateways: Literal["single", "perAz"] = "perAz"
    cluster_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 2 <= self.az_count <= 6:
            raise ValueError(f"az_count {self.az_count} must be between 2 and 6")
        if self.nat_gateways not in ("single", "perAz"):
            raise ValueError(f"nat_gateways {self.nat_gateways!r}: allowed single, perAz")
        subnet_plan(self.cidr, self.az_count)
        if not self.region:
            raise ValueError("region is required")


class Vpc(Component):
    """VPC, subnets, internet and NAT gateways, route tables and an S3 gateway endpoint (the AWS
    provider of ``args.region`` comes through ``opts``; availability zones come from its invoke).

    Outputs: ``vpc_id``, ``private_subnet_ids``, ``public_subnet_ids``, ``availability_zones``.
    """

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    availability_zones: pulumi.Output[list[str]]

    def __init__(self, resource_name: str, args: VpcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:Vpc", resource_name, opts)
        cidr, region, az_count, nat_gateways, cluster_name = (
            args.cidr,
            args.region,
            args.az_count,
            args.nat_gateways,
            args.cluster_name,
        )
        private_cidrs, public_cidrs = subnet_plan(cidr, az_count)
        child = self.child_opts()
        base = dict(args.tags)
        self.cidr = cidr
        self.region = region

        azs = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        availability_zones = azs.names.apply(lambda names: names[:az_count])

        def zone(i: int) -> pulumi.Output[str]:
            return azs.names.apply(lambda names: _nth_zone(names, i, az_count))

        self.vpc = aws.ec2.Vpc(
            resource_name,
            cidr_block=cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**base, "Name": resource_name},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(resource_name, vpc_id=self.vpc.id, tags={**base, "Name": resource_name}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{resource_name}-public",
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={**base, "Name": f"{resource_name}-public"},
            opts=child,
        )
        cluster_tags = {f"kubernetes.io/cluster/{cluster_name}": "shared"} if cluster_name else {}
        discovery = {KARPENTER_DISCOVERY_TAG: cluster_name} if cluster_name else {}

        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        for i in range(az_count):
            sub = aws.ec2.Subnet(
                f"{resource_name}-public-{i}",
                vpc_id=self.vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=zone(i),
                map_public_ip_on_launch=False,
                tags={**base, **cluster_tags, ELB_TAG: "1", "Name": f"{resource_name}-public-{i}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{resource_name}-public-{i}", subnet_id=sub.id, route_table_id=public_rt.id, opts=child
            )
            self.public_subnets.append(sub)

        nat_count = az_count if nat_gateways == "perAz" else 1
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(
                f"{resource_name}-nat-{i}", domain="vpc", tags={**base, "Name": f"{resource_name}-nat-{i}"}, opts=child
            )
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{resource_name}-{i}",
                    allocation_id=eip.id,
                    subnet_id=self.public_subnets[i].id,
                    connectivity_type="public",
                    tags={**base, "Name": f"{resource_name}-{i}"},
                    opts=self.child_opts(depends_on=[igw]),
                )
            )

        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for i in range(az_count):
            nat = self.nat_gateways[i if nat_gateways == "perAz" else 0]
            rt = aws.ec2.RouteTable(
                f"{resource_name}-private-{i}",
                vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags={**base, "Name": f"{resource_name}-private-{i}"},
                opts=child,
            )
            sub = aws.ec2.Subnet(
                f"{resource_name}-private-{i}",
                vpc_id=self.vpc.id,
                cidr_block=private_cidrs[i],
                availability_zone=zone(i),
                tags={**base, **cluster_tags, **discovery, INTERNAL_ELB_TAG: "1", "Name": f"{resource_name}-private-{i}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{resource_name}-private-{i}", subnet_id=sub.id, route_table_id=rt.id, opts=child)
            self.private_route_tables.append(rt)
            self.private_subnets.append(sub)

        # Lake traffic from the nodes goes to S3 through the gateway endpoint, not through NAT.
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{resource_name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in self.private_route_tables] + [public_rt.id],
            tags={**base, "Name": f"{resource_name}-s3"},
            opts=child,
        )

        self.publish(
            vpc_id=self.vpc.id,
            private_subnet_ids=pulumi.Output.all(*[s.id for s in self.private_subnets]),
            public_subnet_ids=pulumi.Output.all(*[s.id for s in self.public_subnets]),
            availability_zones=availability_zones,
        )


def _nth_zone(names: list[str], i: int, wanted: int) -> str:
    if len(names) < wanted:
        raise ValueError(f"the region offers {len(names)} availability zones; az_count asks for {wanted}")
    return names[i]
