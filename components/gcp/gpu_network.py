"""The extra VPCs GPUDirect needs for multi-node training on A3 Mega, A3 Ultra and A4 nodes.

A3 Mega, A3 Ultra and A4 machines carry 8 NICs for GPU-to-GPU traffic besides the node's own
(``catalog.gpus.NodeType.gpu_nics``); GKE attaches them to other VPCs through the node pool's
``network_config.additional_node_network_configs`` on a cluster with multi-networking. Two layouts,
as in GoogleCloudPlatform/cluster-toolkit v1.95.0 (``examples/gke-a3-megagpu``, ``examples/gke-a3-ultragpu``,
``examples/gke-a4``; modules ``network/multivpc`` and ``network/gpu-rdma-vpc``):

* ``tcpxo`` (A3 Mega, GPUDirect-TCPXO): 8 VPCs of one subnet each, MTU 8244, each with a firewall rule
  letting the nodes reach each other on it (``multivpc`` ``enable_internal_traffic``). Kubernetes
  network names ``vpc1`` .. ``vpc8`` (the blueprint's ``k8s_network_names: {gvnic_prefix: vpc, gvnic_start_index: 1}``).
* ``rdma`` (A3 Ultra / A4, GPUDirect-RDMA over RoCE): a second gVNIC VPC (``gvnic-1``) and one VPC created
  with the zone's RoCE network profile (``projects/<p>/global/networkProfiles/<zone>-vpc-roce``) holding 8
  subnets (``rdma-0`` .. ``rdma-7``), MTU 8896 (the modules' default). A VPC with a Mellanox (RoCE) profile
  takes no firewall rules (``multivpc`` refuses them for a ``roce`` profile) and its profile is zonal.

The subnets are carved out of one range (``cidr``, 32 equal blocks: TCPXO VPC ``i`` takes block ``i``, the
gVNIC VPC block 8, RDMA subnet ``j`` block ``9 + j``) that must not overlap the cluster's ranges. No Cloud NAT:
nothing on these NICs leaves the VPC (the node's own NIC keeps the default route).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.base import Component

TCPXO_MTU = 8244
"""MTU of the GPUDirect-TCPXO VPCs (cluster-toolkit examples/gke-a3-megagpu: ``mtu: 8244``)."""
RDMA_MTU = 8896
"""MTU of the RDMA and second gVNIC VPCs (cluster-toolkit modules network/vpc and network/gpu-rdma-vpc default)."""
GPU_NICS = 8
BLOCKS = 32
"""``cidr`` is cut into this many equal subnets."""


@dataclass(frozen=True)
class GpuNetworkAttachment:
    """One extra node NIC: the Kubernetes network it becomes and the VPC / subnet it sits in.

    :param k8s_name: Name of the GKE ``Network`` / ``GKENetworkParamSet`` (``vpc1``, ``gvnic-1``, ``rdma-0``).
    :param network: VPC name (an output: users wait for the VPC).
    :param subnetwork: Subnet name (an output: users wait for the subnet).
    :param device_mode: ``NetDevice`` (gVNIC) or ``RDMA`` (the GKENetworkParamSet ``deviceMode``).
    """

    k8s_name: str
    network: pulumi.Output[str]
    subnetwork: pulumi.Output[str]
    device_mode: str


@dataclass(frozen=True)
class GpuNetworksArgs:
    """Arguments of :class:`GpuNetworks`.

    :param name: Prefix of every VPC / subnet name (the cluster's name).
    :param project: Project id (the RoCE network profile's path).
    :param region: Region of the subnets (the cluster's).
    :param cidr: Range the subnets are carved from (/19 or larger).
    :param tcpxo: Build the 8 GPUDirect-TCPXO VPCs (A3 Mega pools).
    :param rdma: Build the gVNIC + RoCE VPCs (A3 Ultra / A4 pools).
    :param zone: The zone of the RDMA pools (the RoCE network profile is zonal); required with ``rdma``.
    """

    name: str
    project: str
    region: str
    cidr: str
    tcpxo: bool = False
    rdma: bool = False
    zone: str | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", self.name):
            raise ValueError(f"GpuNetworks: name {self.name!r} must be a DNS label of at most 40 characters")
        try:
            net = ipaddress.ip_network(self.cidr)
        except ValueError:
            raise ValueError(f"GpuNetworks: cidr {self.cidr!r} is not a CIDR block") from None
        if net.version != 4 or net.prefixlen > 19:
            raise ValueError(f"GpuNetworks: cidr {self.cidr} must be an IPv4 /19 or larger (32 subnets of /24 or more)")
        if not (self.tcpxo or self.rdma):
            raise ValueError("GpuNetworks: nothing to build; set tcpxo and/or rdma")
        if self.rdma and not (self.zone and self.zone.startswith(f"{self.region}-")):
            raise ValueError(
                f"GpuNetworks: rdma needs the pools' zone in {self.region} (the RoCE network profile is zonal), got {self.zone!r}"
            )

    def block(self, index: int) -> str:
        """The ``index``-th of the :data:`BLOCKS` subnets of ``cidr``."""
        net = ipaddress.ip_network(self.cidr)
        return str(list(net.subnets(prefixlen_diff=5))[index])

    @property
    def network_profile(self) -> str:
        """The zone's RoCE network profile (cluster-toolkit examples/gke-a3-ultragpu ``network_profile``)."""
        return f"projects/{self.project}/global/networkProfiles/{self.zone}-vpc-roce"


class GpuNetworks(Component):
    """The GPUDirect VPCs, subnets and firewall rules; :attr:`attachments` lists the NICs per layout."""

    attachments: dict[str, tuple[GpuNetworkAttachment, ...]]
    """``tcpxo`` / ``rdma`` -> the extra NICs of a pool of that layout, in NIC order."""
    networks: list[gcp.compute.Network]

    def __init__(self, resource_name: str, args: GpuNetworksArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:GpuNetworks", resource_name, opts)
        networks: list[gcp.compute.Network] = []
        attachments: dict[str, tuple[GpuNetworkAttachment, ...]] = {}
        if args.tcpxo:
            attachments["tcpxo"] = tuple(
                self._vpc(args, f"gpunet-{i}", args.block(i), TCPXO_MTU, f"vpc{i + 1}", networks) for i in range(GPU_NICS)
            )
        if args.rdma:
            gvnic = self._vpc(args, "gvnic-1", args.block(GPU_NICS), RDMA_MTU, "gvnic-1", networks)
            rdma = gcp.compute.Network(
                f"{resource_name}-rdma",
                name=f"{args.name}-rdma",
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                mtu=RDMA_MTU,
                network_profile=args.network_profile,
                description="GPUDirect-RDMA (RoCE) NICs of A3 Ultra / A4 nodes",
                opts=self.child_opts(),
            )
            networks.append(rdma)
            subnets = [
                gcp.compute.Subnetwork(
                    f"{resource_name}-rdma-{j}",
                    name=f"{args.name}-rdma-{j}",
                    network=rdma.id,
                    region=args.region,
                    ip_cidr_range=args.block(GPU_NICS + 1 + j),
                    opts=self.child_opts(),
                )
                for j in range(GPU_NICS)
            ]
            attachments["rdma"] = (
                gvnic,
                *(GpuNetworkAttachment(f"rdma-{j}", rdma.name, s.name, "RDMA") for j, s in enumerate(subnets)),
            )
        self.attachments = attachments
        self.publish(networks=networks)

    def _vpc(
        self, args: GpuNetworksArgs, suffix: str, cidr: str, mtu: int, k8s_name: str, networks: list[gcp.compute.Network]
    ) -> GpuNetworkAttachment:
        """A gVNIC VPC with one subnet and a rule letting the nodes reach each other on it."""
        name = f"{args.name}-{suffix}"
        network = gcp.compute.Network(
            f"{self._name}-{suffix}",
            name=name,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            mtu=mtu,
            description="GPUDirect NIC network of the GPU nodes",
            opts=self.child_opts(),
        )
        networks.append(network)
        subnet = gcp.compute.Subnetwork(
            f"{self._name}-{suffix}-subnet",
            name=name,
            network=network.id,
            region=args.region,
            ip_cidr_range=cidr,
            opts=self.child_opts(),
        )
        gcp.compute.Firewall(
            f"{self._name}-{suffix}-internal",
            name=f"{name}-internal",
            network=network.id,
            direction="INGRESS",
            source_ranges=[cidr],
            allows=[{"protocol": "tcp", "ports": ["0-65535"]}, {"protocol": "udp", "ports": ["0-65535"]}, {"protocol": "icmp"}],
            description="GPU nodes to each other on this NIC's VPC (NCCL)",
            opts=self.child_opts(),
        )
        return GpuNetworkAttachment(k8s_name, network.name, subnet.name, "NetDevice")
