"""A private, regional GKE Standard cluster with Workload Identity and Dataplane V2.

Nodes have no public IPs and run as a dedicated least-privilege service account with Shielded
VM secure boot; Kubernetes Secrets are encrypted in etcd with our KMS key; Dataplane V2
(``ADVANCED_DATAPATH``) enforces NetworkPolicies. The default node pool is removed and a
system pool for controllers is created; GPU pools are :mod:`components.gcp.gpu_node_pool`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from catalog import conventions as cv
from components.base import Component

NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
    "roles/artifactregistry.reader",
)
"""What GKE nodes need (Google's least-privilege node service account) - nothing else."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE")


def shielded_node_config(service_account: pulumi.Input[str], labels: Mapping[str, str]) -> dict:
    """Node settings every pool shares: our service account, GKE metadata server, Shielded VM."""
    return {
        "service_account": service_account,
        "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},
        "resource_labels": dict(labels),
    }


@dataclass(frozen=True)
class GkeClusterArgs:
    """Arguments of :class:`GkeCluster`.

    :param name: Cluster name (a DNS label).
    :param project: Project id (for the workload pool ``<project>.svc.id.goog``).
    :param region: Region of the (regional) cluster.
    :param network: VPC id; ``subnetwork``: the subnet id.
    :param pods_range: Name of the subnet's secondary range for pods; ``services_range`` likewise.
    :param secrets_key_id: KMS key (in ``region``) encrypting Secrets in etcd.
    :param release_channel: ``RAPID``, ``REGULAR`` or ``STABLE``.
    :param master_cidr: /28 for the control plane's private endpoint.
    :param authorized_cidrs: CIDRs allowed to reach the API server; empty keeps the endpoint private only.
    :param system_machine_type: Machine type of the system pool; ``system_min``/``system_max`` its size.
    :param gpu_metrics: Have GKE collect the GPUs' DCGM metrics into Managed Prometheus (GKE-managed
        drivers; without the GPU operator's DCGM exporter).
    :param control_plane_ports: Pod ports the control plane must reach (admission webhooks,
        aggregated APIs). A private cluster's control plane may only open 443 and 10250 to the nodes
        by default; a firewall rule from ``master_cidr`` to the nodes opens these.
    :param deletion_protection: Refuse to delete the cluster (prod).
    :param labels: GCP labels of the cluster and its nodes.
    """

    name: str
    project: str
    region: str
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    pods_range: str
    services_range: str
    secrets_key_id: pulumi.Input[str]
    release_channel: str = "REGULAR"
    master_cidr: str = "172.16.0.0/28"
    authorized_cidrs: Sequence[str] = ()
    system_machine_type: str = "e2-standard-4"
    system_min: int = 1
    system_max: int = 3
    system_disk_gb: int = 50
    gpu_metrics: bool = False
    control_plane_ports: Sequence[int] = ()
    deletion_protection: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    multi_networking: bool = False
    """Multi-networking (``enable_multi_networking``, on Dataplane V2): node pools may attach extra NICs and pods
    ask for them through GKE ``Network`` objects (GPUDirect on A3 Mega / A3 Ultra / A4). Changed in place."""

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", self.name):
            raise ValueError(f"cluster name {self.name!r} must be a DNS label of at most 40 characters")
        if self.release_channel not in RELEASE_CHANNELS:
            raise ValueError(f"release_channel {self.release_channel!r}; allowed: {', '.join(RELEASE_CHANNELS)}")
        try:
            master = ipaddress.ip_network(self.master_cidr)
        except ValueError:
            raise ValueError(f"master_cidr {self.master_cidr!r} is not a CIDR block") from None
        if master.prefixlen != 28:
            raise ValueError("master_cidr must be a /28")
        for cidr in self.authorized_cidrs:
            if ipaddress.ip_network(cidr).prefixlen == 0:
                raise ValueError(f"authorized cidr {cidr} opens the API server to the internet")
        if "." in self.system_machine_type:
            raise ValueError(f"system_machine_type {self.system_machine_type!r} is not a GCE machine type")
        if not 1 <= self.system_min <= self.system_max:
            raise ValueError("need 1 <= system_min <= system_max")
        for port in self.control_plane_ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"control_plane_ports: {port} is not a TCP port")

    @property
    def workload_pool(self) -> str:
        return f"{self.project}.svc.id.goog"


class GkeCluster(Component):
    """The cluster, its node service account and the system node pool."""

    cluster: gcp.container.Cluster
    system_pool: gcp.container.NodePool
    node_service_account: gcp.serviceaccount.Account
    node_roles: list[gcp.projects.IAMMember]
    """The node service account's project roles (:data:`NODE_ROLES`)."""
    control_plane_firewall: gcp.compute.Firewall | None
    """Lets the control plane reach ``control_plane_ports`` on the nodes (``None`` without ports)."""
    kubeconfig: pulumi.Output[str]
    """A kubeconfig (secret) using ``gke-gcloud-auth-plugin``."""

    def __init__(self, resource_name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:GkeCluster", resource_name, opts)
        name = resource_name
        node_service_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=f"{args.name[:24]}-nodes",
            display_name=f"GKE nodes of {args.name}",
            opts=self.child_opts(),
        )
        # nodes boot writing logs and metrics and pulling images as this account: the cluster (and
        # through it every pool) waits for its roles, and on destroy they go after the nodes
        node_roles = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[-1].replace('.', '-').lower()}",
                project=args.project,
                role=role,
                member=node_service_account.member,
                opts=self.child_opts(),
            )
            for role in NODE_ROLES
        ]
        control_plane_firewall = None
        if args.control_plane_ports:
            # GKE's own rule for a private cluster opens only 443 and 10250 from the control plane's
            # /28 to the nodes; an admission webhook on another port times out ("failed calling
            # webhook ... context deadline exceeded") and every object it intercepts is refused.
            control_plane_firewall = gcp.compute.Firewall(
                f"{name}-control-plane",
                name=f"{args.name}-control-plane-to-webhooks",
                network=args.network,
                direction="INGRESS",
                priority=1000,
                source_ranges=[args.master_cidr],
                target_service_accounts=[node_service_account.email],
                allows=[{"protocol": "tcp", "ports": [str(p) for p in sorted(set(args.control_plane_ports))]}],
                description="GKE control plane to admission webhooks and aggregated APIs served by pods",
                opts=self.child_opts(),
            )
        private_endpoint = not args.authorized_cidrs
        cluster = gcp.container.Cluster(
            name,
            name=args.name,
            location=args.region,
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={
                "cluster_secondary_range_name": args.pods_range,
                "services_secondary_range_name": args.services_range,
            },
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": private_endpoint,
                "master_ipv4_cidr_block": args.master_cidr,
                "master_global_access_config": {"enabled": True},
            },
            master_authorized_networks_config={
                "cidr_blocks": [{"cidr_block": c, "display_name": f"allowed-{i}"} for i, c in enumerate(args.authorized_cidrs)],
            },
            workload_identity_config={"workload_pool": args.workload_pool},
            release_channel={"channel": args.release_channel},
            datapath_provider="ADVANCED_DATAPATH",
            **({"enable_multi_networking": True} if args.multi_networking else {}),
            enable_shielded_nodes=True,
            database_encryption={"state": "ENCRYPTED", "key_name": args.secrets_key_id},
            security_posture_config={"mode": "BASIC", "vulnerability_mode": "VULNERABILITY_BASIC"},
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            enable_legacy_abac=False,
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"]},
            monitoring_config={
                "enable_components": ["SYSTEM_COMPONENTS", *(["DCGM"] if args.gpu_metrics else [])],
                "managed_prometheus": {"enabled": True},
            },
            addons_config={
                "gce_persistent_disk_csi_driver_config": {"enabled": True},
                "gcs_fuse_csi_driver_config": {"enabled": True},
            },
            cost_management_config={"enabled": True},
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=shielded_node_config(node_service_account.email, args.labels),
            resource_labels=dict(args.labels),
            deletion_protection=args.deletion_protection,
            opts=self.child_opts(protect=args.deletion_protection, depends_on=node_roles),
        )
        system_pool = gcp.container.NodePool(
            f"{name}-system",
            name="system",
            cluster=cluster.id,
            location=args.region,
            initial_node_count=-(-args.system_min // 3),  # per zone (3 zones in most regions)
            autoscaling={
                "total_min_node_count": args.system_min,
                "total_max_node_count": args.system_max,
                "location_policy": "BALANCED",
            },
            management={"auto_repair": True, "auto_upgrade": True},
            node_config={
                **shielded_node_config(node_service_account.email, args.labels),
                "machine_type": args.system_machine_type,
                "disk_size_gb": args.system_disk_gb,
                "disk_type": "pd-balanced",
                "labels": {cv.PURPOSE_LABEL: "system"},
            },
            opts=self.child_opts(),
        )
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
                lambda a: _kubeconfig(args.name, a[0], a[1])
            )
        )
        self.publish(
            cluster=cluster,
            system_pool=system_pool,
            node_service_account=node_service_account,
            node_roles=node_roles,
            control_plane_firewall=control_plane_firewall,
            kubeconfig=kubeconfig,
        )


def _kubeconfig(name: str, endpoint: str, ca: str) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://{endpoint}
    certificate-authority-data: {ca}
contexts:
- name: {name}
  context: {{cluster: {name}, user: {name}}}
current-context: {name}
users:
- name: {name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      provideClusterInfo: true
      interactiveMode: Never
"""
