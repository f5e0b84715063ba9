"""GCP foundation: the project's APIs, providers, network, KMS keys, data lake, audit logs, GKE cluster.

Composition only: every resource lives in a component of ``components/gcp``; this module turns the
typed stack config into their arguments and hands the later GCP steps (``gcp_gpu``, ``gcp_teams``,
``gcp_services``, ``gcp_billing``) a :class:`GcpFoundation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from catalog import pool_nodes
from components.gcp.apis import ProjectApis, ProjectApisArgs
from components.gcp.audit_logs import AuditLogs, AuditLogsArgs
from components.gcp.data_lake import DataLake, DataLakeArgs
from components.gcp.gke import GkeCluster, GkeClusterArgs
from components.gcp.kms import KmsKeys, KmsKeysArgs, ServiceAgents, ServiceAgentsArgs
from components.gcp.network import PODS_RANGE, SERVICES_RANGE, Network, NetworkArgs
from components.k8s import kserve, kueue
from components.k8s import training as kueue_training
from infra import config, tagging
from infra.layers.context import CloudLayer, EncryptedVolumes

MASTER_CIDR = "172.16.0.0/28"
"""The GKE control plane's private /28 (outside every range the config sets)."""
KEY_ROTATION_DAYS = 90
VOLUMES_KEY = "volumes"
"""The regional key notebook home disks are encrypted with (Compute Engine's service agent may use it)."""
GKE_DRIVER_DIR = "/home/kubernetes/bin/nvidia"
"""Where GKE installs the NVIDIA driver on its nodes (writable, survives reboots)."""
GKE_METADATA_SERVER = "169.254.169.252/32"
GKE_METADATA_PORT = 988
"""Where pods on a Dataplane V2 cluster reach the GKE metadata server (Workload Identity tokens)."""


@dataclass
class GcpFoundation:
    """Handles the later GCP steps (GPU pools, teams, services, billing) build on."""

    cfg: config.PlatformConfig
    project: str
    region: str
    labels: dict[str, str]
    apis: ProjectApis
    opts: pulumi.ResourceOptions
    """Options carrying the API-gated provider (every resource after the APIs uses it)."""
    invoke: pulumi.InvokeOutputOptions
    network: Network
    keys: KmsKeys
    lake: DataLake
    cluster: GkeCluster

    @property
    def name(self) -> str:
        return self.cfg.cluster_name

    @property
    def buckets(self) -> dict[str, pulumi.Output[str]]:
        """Lake zone -> bucket name."""
        return dict(self.lake.bucket_names)

    @property
    def gke_driver(self) -> bool:
        """Whether GKE installs the NVIDIA driver (the GPU operator does not install its own)."""
        return self.cfg.gpu_operator.driver is not True

    def cloud_layer(self, pools: Sequence[pulumi.Resource]) -> CloudLayer:
        """The Kubernetes provider on the cluster and what the Kubernetes layer receives; its releases wait for
        the system pool, the GPU ``pools`` and the control plane's path to their webhooks."""
        cluster = self.cluster
        k8s_provider = k8s.Provider(
            "gke",
            kubeconfig=cluster.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(depends_on=[cluster.system_pool]),
        )
        layer = CloudLayer(
            cloud="gcp",
            k8s_provider=k8s_provider,
            cluster_name=cluster.cluster.name,
            api_server=cluster.cluster.endpoint.apply(lambda e: f"https://{e}"),
            driver_preinstalled=self.gke_driver,
            object_store="gs",
            buckets=dict(self.buckets),
            region=self.region,
            # where GKE's driver installer puts the driver (the GPU operator runs on top of it, toolkit next to it)
            host_driver_dir=GKE_DRIVER_DIR if self.gke_driver else None,
            forced_mig_strategy=pool_nodes.forced_mig_strategy("gcp"),
            topology_levels=kueue_training.GKE_TOPOLOGY_LEVELS,
            cloud_prices=True,
            google_managed_prometheus=True,
            # pods get Workload Identity tokens from the GKE metadata server on their node; with
            # Dataplane V2 NetworkPolicies see it as 169.254.169.252:988 (GKE Workload Identity docs)
            identity_egress=[(GKE_METADATA_SERVER, GKE_METADATA_PORT)],
            # GKE's PD CSI driver (GKE docs "Using customer-managed encryption keys": StorageClass parameter
            # disk-encryption-kms-key; the Compute Engine service agent holds encrypter/decrypter on the key)
            encrypted_volumes=EncryptedVolumes(
                provisioner="pd.csi.storage.gke.io",
                parameters={"type": "pd-balanced", "disk-encryption-kms-key": self.keys.key_ids[VOLUMES_KEY]},
            )
            if VOLUMES_KEY in self.keys.key_ids
            else None,
            depends_on=[
                cluster.system_pool,
                *pools,
                *([cluster.control_plane_firewall] if cluster.control_plane_firewall else []),
            ],
        )
        return layer


def gpu_direct_layouts(cfg: config.PlatformConfig) -> dict[str, list[config.GpuPoolConfig]]:
    """GPUDirect layout (``tcpxo`` / ``rdma``) -> the pools that attach its NICs (``gpuDirect: true`` on a machine
    type with GPU NICs); empty when no pool does (no extra VPCs, no multi-networking)."""
    out: dict[str, list[config.GpuPoolConfig]] = {}
    for pool in cfg.gpu_pools:
        layout = cfg.pool_node_types(pool)[0].gpu_direct
        if pool.gpu_direct and layout:
            out.setdefault(layout, []).append(pool)
    return out


def required_apis(cfg: config.PlatformConfig) -> tuple[str, ...]:
    """The Google APIs the stack's resources need enabled in its project (also checked by
    ``python -m infra ops preflight``)."""
    apis = [
        "serviceusage.googleapis.com",  # enabling the others
        "cloudresourcemanager.googleapis.com",  # project lookups, IAM on the project
        "compute.googleapis.com",
        "container.googleapis.com",
        "cloudkms.googleapis.com",
        "storage.googleapis.com",
        "iam.googleapis.com",
        "iamcredentials.googleapis.com",  # Workload Identity tokens for the pods
        "servicenetworking.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
    ]
    if cfg.needs_database:
        apis += ["sqladmin.googleapis.com", "secretmanager.googleapis.com"]
    if cfg.feast.enabled:
        apis.append("redis.googleapis.com")
    if cfg.gcp.billing_account:
        apis.append("billingbudgets.googleapis.com")
    if cfg.monitoring.billing_dataset:
        apis.append("bigquery.googleapis.com")  # the billing export dataset (infra/layers/gcp_billing.py)
    return tuple(apis)


def lake_bucket_prefix(cfg: config.PlatformConfig) -> str:
    """Lake bucket names start with this (see :func:`components.gcp.data_lake.bucket_name`)."""
    return f"{cfg.gcp.project}-{cfg.environment}"


def lake_args(cfg: config.PlatformConfig, labels: dict[str, str], *, kms_key_id: pulumi.Input[str]) -> DataLakeArgs:
    lc = cfg.data_lake.lifecycle
    return DataLakeArgs(
        bucket_prefix=lake_bucket_prefix(cfg),
        zones=tuple(cfg.data_lake.zones),
        region=str(cfg.region),
        kms_key_id=kms_key_id,
        dr_region=cfg.dr_region,
        turbo_replication=bool(cfg.dr.fast_lake_replication),
        tiered_zones=tuple(z for z in ("raw",) if z in cfg.data_lake.zones),
        nearline_days=lc.raw_infrequent_access_days,
        coldline_days=lc.raw_glacier_ir_days,
        noncurrent_expiry_days=lc.noncurrent_expiry_days,
        abort_multipart_days=lc.abort_multipart_days,
        log_retention_days=config.effective(cfg.data_lake.access_log_retention_days, "dataLake.accessLogRetentionDays"),
        force_destroy=cfg.lake_force_destroy,
        protect=cfg.is_prod,
        labels=labels,
    )


def build(cfg: config.PlatformConfig) -> GcpFoundation:
    project = str(cfg.gcp.project)
    region = str(cfg.region)
    prod = cfg.is_prod
    labels = tagging.gcp_labels(tagging.platform_tags(cfg))
    _register_label_transform(cfg)
    settings = {
        "project": project,
        "region": region,
        "default_labels": labels,
        "billing_project": project,
        "user_project_override": True,
    }
    # the APIs come first: every other resource and invoke uses a provider that waits for them
    apis = ProjectApis(
        "apis",
        ProjectApisArgs(project=project, apis=required_apis(cfg)),
        pulumi.ResourceOptions(provider=gcp.Provider("gcp-apis", **settings)),
    )
    provider = gcp.Provider("gcp", **settings, opts=pulumi.ResourceOptions(depends_on=apis.services))
    opts = pulumi.ResourceOptions(provider=provider)
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    name = cfg.cluster_name

    network = Network(
        "network",
        NetworkArgs(
            name=name,
            region=region,
            cidr=cfg.network.cidr,
            pods_cidr=cfg.network.pods_cidr,
            services_cidr=cfg.network.services_cidr,
            dr_region=cfg.dr_region,
            # outside prod the peering is removed on destroy even while Google still holds the
            # service producer network of deleted instances (the VPC can then be deleted); in prod
            # it stays with the retained database and Redis
            keep_private_services=prod,
        ),
        opts,
    )

    # ---- keys: one ring in the region, one where the (dual-region) lake lives ----
    services = ["container.googleapis.com"]
    if cfg.notebooks.enabled:
        services.append("compute.googleapis.com")  # its agent encrypts the notebook home disks (below)
    if cfg.needs_database:
        services.append("sqladmin.googleapis.com")
    if cfg.feast.enabled:
        services.append("redis.googleapis.com")
    agents = ServiceAgents("service-agents", ServiceAgentsArgs(services=tuple(services)), opts)
    gcs_agent = gcp.storage.get_project_service_account_output(project=project, opts=invoke).member
    kms_location = lake_args(cfg, labels, kms_key_id="").kms_location
    regional_keys: dict[str, dict[str, pulumi.Input[str]]] = {"gke-secrets": {"gke": agents.members["container.googleapis.com"]}}
    if cfg.needs_database:
        regional_keys["cloudsql"] = {"cloudsql": agents.members["sqladmin.googleapis.com"]}
    if cfg.feast.enabled:
        regional_keys["redis"] = {"redis": agents.members["redis.googleapis.com"]}
    if cfg.notebooks.enabled:
        # notebook home disks: the PD CSI driver has Compute Engine create them encrypted with this key, as the
        # Compute Engine Service Agent (GKE docs, "Use customer-managed encryption keys (CMEK)": grant it
        # roles/cloudkms.cryptoKeyEncrypterDecrypter); it exists once the Compute API is on (GKE needs it)
        # (infra/plan/lifecycle_facts.yaml service_agents: a ServiceIdentity for compute.googleapis.com creates it)
        regional_keys[VOLUMES_KEY] = {"compute": agents.members["compute.googleapis.com"]}
    lake_in_region = kms_location == region
    if lake_in_region:
        regional_keys["lake"] = {"gcs": gcs_agent}
    keys = KmsKeys("kms", _keys_args(cfg, name, region, regional_keys, labels), opts)
    lake_key = (
        keys.key_ids["lake"]
        if lake_in_region
        else KmsKeys(
            "kms-lake", _keys_args(cfg, f"{name}-lake", kms_location, {"lake": {"gcs": gcs_agent}}, labels), opts
        ).key_ids["lake"]
    )

    lake = DataLake("lake", lake_args(cfg, labels, kms_key_id=lake_key), opts)
    if cfg.audit_enabled:
        # Data Access logs of storage / KMS / Secret Manager / Cloud SQL, kept in a (prod: locked) bucket where the lake lives
        AuditLogs(
            "audit",
            AuditLogsArgs(
                project=project,
                location=kms_location,
                bucket_id=f"{name}-audit",
                retention_days=cfg.audit.retention_days,
                locked=prod,
                protect=prod,
            ),
            opts,
        )

    system = cfg.cluster.system_nodes
    cluster = GkeCluster(
        "gke",
        GkeClusterArgs(
            name=name,
            project=project,
            region=region,
            network=network.network.id,
            subnetwork=network.subnet.id,
            pods_range=PODS_RANGE,
            services_range=SERVICES_RANGE,
            secrets_key_id=keys.key_ids["gke-secrets"],
            release_channel=cfg.cluster.release_channel,
            master_cidr=MASTER_CIDR,
            authorized_cidrs=tuple(cfg.cluster.public_access_cidrs),
            system_machine_type=config.effective(system.instance_type, "cluster.systemNodes.instanceType"),
            system_min=system.min_nodes,
            system_max=system.max_nodes,
            system_disk_gb=system.disk_gb,
            # without the operator's DCGM exporter, GKE itself exports the GPU metrics
            gpu_metrics=bool(cfg.gpu_pools) and not cfg.gpu_operator_enabled,
            # Kueue's webhook and visibility API; MLflow's and Feast's charts serve no webhook, the
            # pinned GPU operator chart neither (newer ones add an optional one on 9443, covered)
            # with serving: KServe's and KEDA's webhooks and KEDA's external-metrics API as well
            control_plane_ports=(*kueue.CONTROL_PLANE_PORTS, *(kserve.CONTROL_PLANE_PORTS if cfg.serving.enabled else ())),
            deletion_protection=prod,
            labels=labels,
            # the GPUDirect NICs of A3 Mega / A3 Ultra / A4 pools are extra node networks (infra/layers/gcp_gpu.py)
            multi_networking=bool(gpu_direct_layouts(cfg)),
        ),
        opts,
    )
    return GcpFoundation(
        cfg=cfg,
        project=project,
        region=region,
        labels=labels,
        apis=apis,
        opts=opts,
        invoke=invoke,
        network=network,
        keys=keys,
        lake=lake,
        cluster=cluster,
    )


def _keys_args(
    cfg: config.PlatformConfig, ring: str, location: str, keys: dict[str, dict[str, pulumi.Input[str]]], labels: dict[str, str]
) -> KmsKeysArgs:
    """A key ring: protected with its stable name in prod, a fresh suffix elsewhere (KMS never deletes rings)."""
    return KmsKeysArgs(
        key_ring=ring,
        location=location,
        keys=keys,
        rotation_days=KEY_ROTATION_DAYS,
        protect=cfg.is_prod,
        unique_suffix=not cfg.is_prod,
        labels=labels,
    )


def _register_label_transform(cfg: config.PlatformConfig) -> None:
    """Label every GCP resource registered after this call (components also set labels explicitly).

    Registered the same way in every run: the offline plan's mock monitor records the transform
    (it does not run it), and the tests call the recorded transform on every resource the plan emits.
    """
    pulumi.runtime.register_resource_transform(tagging.gcp_label_transform(cfg))
