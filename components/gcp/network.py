"""GCP network: a VPC, a subnet per region, Cloud Router + NAT and private services access.

Every subnet carries GKE secondary ranges for pods and services (with a DR region, each range
is split in halves: the first for the primary region's cluster, the second kept free for a
standby cluster in the DR region); Private Google Access lets private nodes reach Google APIs;
a reserved range peered with ``servicenetworking.googleapis.com`` gives Cloud SQL and
Memorystore private IPs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.base import Component

PODS_RANGE = "pods"
"""Name of the primary subnet's secondary range for pod IPs."""
SERVICES_RANGE = "services"
"""Name of the primary subnet's secondary range for service IPs."""


@dataclass(frozen=True)
class NetworkArgs:
    """Arguments of :class:`Network`.

    :param name: Prefix of every resource name (a DNS label).
    :param region: Primary region (the GKE cluster's).
    :param cidr: Primary range of the VPC; split in two halves when ``dr_region`` is set.
    :param pods_cidr: Secondary range for pods; split in two halves when ``dr_region`` is set.
    :param services_cidr: Secondary range for services; split in two halves when ``dr_region`` is set.
    :param dr_region: Optional second region that gets its own subnet, with its own secondary
        ranges (a standby cluster).
    :param private_services_prefix: Prefix length of the range reserved for Google managed services.
    :param flow_log_sampling: Share of VPC flow logs kept (0 turns flow logs off).
    :param keep_private_services: On delete, leave the private services peering in place
        (``deletion_policy: ABANDON``; prod, where the database is retained). Otherwise the
        connection is deleted and, when Google refuses because the service producer network of
        recently deleted Cloud SQL / Memorystore instances still uses it, the peering is removed
        (``REMOVE_PEERING``) so that the VPC can be deleted; a plain delete fails for days after
        such instances are gone and ``ABANDON`` leaves a peering that blocks deleting the VPC
        (pulumi-gcp ``servicenetworking.Connection`` ``deletion_policy``).
    """

    name: str
    region: str
    cidr: str
    pods_cidr: str
    services_cidr: str
    dr_region: str | None = None
    private_services_prefix: int = 20
    flow_log_sampling: float = 0.5
    keep_private_services: bool = False

    def __post_init__(self) -> None:
        if not self.region:
            raise ValueError("region is required")
        nets = {}
        for field in ("cidr", "pods_cidr", "services_cidr"):
            try:
                nets[field] = ipaddress.ip_network(getattr(self, field))
            except ValueError:
                raise ValueError(f"{field} {getattr(self, field)!r} is not a CIDR block") from None
        names = list(nets)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if nets[a].overlaps(nets[b]):
                    raise ValueError(f"{a} {nets[a]} overlaps {b} {nets[b]}")
        if self.dr_region == self.region:
            raise ValueError("dr_region must differ from region")
        if self.dr_region:
            for field in names:
                if nets[field].prefixlen >= 29:
                    raise ValueError(f"{field} {getattr(self, field)} is too small to split between two regions")
        if not 8 <= self.private_services_prefix <= 24:
            raise ValueError("private_services_prefix must be between 8 and 24")
        if not 0 <= self.flow_log_sampling <= 1:
            raise ValueError("flow_log_sampling must be between 0 and 1")

    def subnet_cidrs(self) -> tuple[str, str | None]:
        """The primary and DR subnets' ranges: the whole ``cidr``, or its two halves with DR."""
        return _halves(self.cidr) if self.dr_region else (self.cidr, None)

    def secondary_ranges(self) -> tuple[dict[str, str], dict[str, str] | None]:
        """Range name -> CIDR of the primary and DR subnets' secondary ranges (halves with DR)."""
        pods, dr_pods = _halves(self.pods_cidr) if self.dr_region else (self.pods_cidr, None)
        services, dr_services = _halves(self.services_cidr) if self.dr_region else (self.services_cidr, None)
        primary = {PODS_RANGE: pods, SERVICES_RANGE: services}
        return primary, ({PODS_RANGE: dr_pods, SERVICES_RANGE: dr_services} if dr_pods and dr_services else None)


def _halves(cidr: str) -> tuple[str, str]:
    first, second = ipaddress.ip_network(cidr).subnets(prefixlen_diff=1)
    return str(first), str(second)


class Network(Component):
    """VPC, subnets with secondary ranges, Cloud NAT and private services access."""

    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    dr_subnet: gcp.compute.Subnetwork | None
    private_services: gcp.servicenetworking.Connection

    def __init__(self, resource_name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Network", resource_name, opts)
        name = resource_name
        primary_cidr, dr_cidr = args.subnet_cidrs()
        primary_ranges, dr_ranges = args.secondary_ranges()
        log_config = (
            {
                "aggregation_interval": "INTERVAL_5_SEC",
                "flow_sampling": args.flow_log_sampling,
                "metadata": "INCLUDE_ALL_METADATA",
            }
            if args.flow_log_sampling
            else None
        )
        network = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{args.name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="GLOBAL",
            delete_default_routes_on_create=False,
            opts=self.child_opts(),
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-{args.region}",
            name=f"{args.name}-{args.region}",
            network=network.id,
            region=args.region,
            ip_cidr_range=primary_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[{"range_name": n, "ip_cidr_range": c} for n, c in primary_ranges.items()],
            log_config=log_config,
            opts=self.child_opts(),
        )
        dr_subnet = None
        regions = [args.region]
        if args.dr_region and dr_cidr and dr_ranges:
            regions.append(args.dr_region)
            dr_subnet = gcp.compute.Subnetwork(
                f"{name}-{args.dr_region}",
                name=f"{args.name}-{args.dr_region}",
                network=network.id,
                region=args.dr_region,
                ip_cidr_range=dr_cidr,
                private_ip_google_access=True,
                secondary_ip_ranges=[{"range_name": n, "ip_cidr_range": c} for n, c in dr_ranges.items()],
                log_config=log_config,
                opts=self.child_opts(),
            )
        for region in regions:
            router = gcp.compute.Router(
                f"{name}-router-{region}",
                name=f"{args.name}-router-{region}",
                network=network.id,
                region=region,
                opts=self.child_opts(),
            )
            gcp.compute.RouterNat(
                f"{name}-nat-{region}",
                name=f"{args.name}-nat-{region}",
                router=router.name,
                region=region,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                log_config={"enable": True, "filter": "ERRORS_ONLY"},
                opts=self.child_opts(),
            )
        reserved = gcp.compute.GlobalAddress(
            f"{name}-private-services",
            name=f"{args.name}-private-services",
            network=network.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.private_services_prefix,
            opts=self.child_opts(),
        )
        private_services = gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[reserved.name],
            deletion_policy="ABANDON" if args.keep_private_services else "REMOVE_PEERING",
            opts=self.child_opts(),
        )
        self.publish(network=network, subnet=subnet, dr_subnet=dr_subnet, private_services=private_services)
