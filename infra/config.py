"""Typed stack configuration: everything a stack sets under the ``ml-platform:`` namespace.

One pydantic model validates the whole namespace before any resource is registered, so a bad
stack file fails fast with a one-line reason per mistake and nothing is half-created. Keys are
camelCase in the stack file (``gpuPools``) and snake_case in Python (``gpu_pools``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

from catalog import gpus as catalog

NAMESPACE = "ml-platform"
DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
RUNNER_ENV = "ML_PLATFORM_RUNNER"
"""Set by the workflows to ``${{ runner.environment }}`` (``github-hosted`` or ``self-hosted``)."""
SECRET_PLACEHOLDER = "[secret]"
DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
LABEL_NAME = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$"

Environment = Literal["dev", "staging", "prod"]
Cloud = Literal["aws", "gcp", "existing"]


class ConfigError(ValueError):
    """The stack configuration is invalid. ``problems`` holds ``(key path, reason)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {reason}" for path, reason in problems))


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class DrConfig(_Model):
    """Disaster recovery: a second region holding replicas of the stateful data."""

    enabled: bool = False
    region: str | None = None


class NetworkConfig(_Model):
    cidr: str = "10.0.0.0/16"
    az_count: int = Field(3, ge=2, le=6)
    nat_gateways: Literal["single", "perAz"] | None = None
    """NAT gateways: ``single`` (cheap, dev default) or ``perAz`` (HA, staging/prod default)."""
    pods_cidr: str = "10.64.0.0/14"
    services_cidr: str = "10.68.0.0/20"
    gpu_cidr: str = "192.168.0.0/16"
    """GKE: the range the GPUDirect VPCs' subnets are carved from (pools with ``gpuDirect: true``); /19 or larger."""

    @field_validator("cidr", "pods_cidr", "services_cidr", "gpu_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a CIDR block such as 10.0.0.0/16") from None
        return value


class SystemNodesConfig(_Model):
    instance_type: str = "m6i.large"
    min_nodes: int = Field(2, ge=1)
    max_nodes: int = Field(4, ge=1)
    disk_gb: int = Field(50, ge=20)


def _cidr_block(cidr: str, *, everything: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``cidr`` as a network; a ValueError naming it when it is no CIDR block or is ``/0`` (``everything`` says why)."""
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        raise ValueError(f"{cidr!r} is not a CIDR block") from None
    if net.prefixlen == 0:
        raise ValueError(f"{cidr!r} {everything}")
    return net


class ClusterConfig(_Model):
    name: str | None = Field(None, pattern=DNS_LABEL, max_length=40)
    version: str = Field("1.33", pattern=r"^1\.[0-9]{2}$")
    public_access_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach a public API endpoint; empty keeps the endpoint private only."""
    private_access_cidrs: list[str] = Field(default_factory=list)
    """EKS: networks besides the VPC allowed to the private API endpoint (VPN, peered VPCs,
    Transit Gateway ranges where a runner or operators sit)."""
    deploy_from: Literal["vpc", "githubHosted", "publicCidrs"] = "vpc"
    """Where ``pulumi up`` runs, which must reach the API endpoint: ``vpc`` (a machine with a network
    path into the VPC: a self-hosted CI runner there, a VPN, a bastion), ``githubHosted`` (GitHub's
    runners; needs ``publicAccessCidrs`` listing their static egress IPs) or ``publicCidrs``
    (anywhere else through the public endpoint; needs ``publicAccessCidrs``)."""
    system_nodes: SystemNodesConfig = Field(default_factory=SystemNodesConfig)
    admin_role_arns: list[str] = Field(default_factory=list)
    """EKS: IAM roles/users granted cluster-admin through access entries (besides the creator)."""
    workload_identity: Literal["irsa", "podIdentity"] = "irsa"
    """EKS: how pods get AWS credentials: IRSA (OIDC, service-account annotation) or EKS Pod Identity (agent add-on, associations)."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    kubeconfig: SecretStr | None = None
    """``cloud: existing`` only: the kubeconfig of the cluster you bring (set it as a secret)."""
    context: str | None = None
    """``cloud: existing`` only: the kubeconfig context to use."""

    @field_validator("private_access_cidrs")
    @classmethod
    def _private_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            _cidr_block(cidr, everything="is everything; list the VPN / peered ranges that need the API")
        return value

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            net = _cidr_block(cidr, everything="opens the API endpoint to the whole internet; list your own ranges")
            if any(net.subnet_of(doc) for doc in DOCUMENTATION_NETS if doc.version == net.version):
                raise ValueError(
                    f"{cidr!r} is a documentation range (RFC 5737 / RFC 3849): no deployer has such an address; "
                    "list your runners' or office egress CIDRs, or leave it empty (private endpoint only)"
                )
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _admin_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(r"^arn:aws[-a-z]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+$", arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_serializer("kubeconfig")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class ReservationConfig(_Model):
    """Reserved capacity a pool uses first (``capacity: reserved*``).

    AWS: On-Demand Capacity Reservations (ODCRs) and Capacity Blocks for ML, chosen by id or tags
    (Karpenter ``capacityReservationSelectorTerms``). GCP: Compute Engine reservations by name
    (node pool ``reservation_affinity``).
    """

    ids: list[str] = Field(default_factory=list)
    """AWS: capacity reservation ids (``cr-0123...``); GCP: reservation names."""
    tags: dict[str, str] = Field(default_factory=dict)
    """AWS only: select every reservation carrying all these tags."""
    zone: str | None = None
    """Availability zone the reservation is in; the pool trains in it (one subnet)."""
    kind: Literal["odcr", "capacity-block"] = "odcr"
    """AWS: an On-Demand Capacity Reservation or a Capacity Block for ML."""
    nodes: int = Field(ge=1)
    """Instances the reservation holds (its fixed cost and GPUs)."""
    hourly_usd: float | None = Field(None, gt=0)
    """Price paid per reserved node-hour (a Capacity Block's price); default: the on-demand list price."""


class GpuPoolConfig(_Model):
    """One GPU node pool."""

    name: str = Field(pattern=DNS_LABEL, max_length=30)
    purpose: Literal["training", "serving", "notebooks"]
    gpu: str | None = None
    """GPU model from the catalog (``A100-40GB``); the pool may use every node type that carries it."""
    instance_types: list[str] = Field(default_factory=list)
    """EC2 instance types (AWS) or GCE machine types (GCP); all must carry the same GPU model."""
    capacity: Literal[
        "spot", "on-demand", "spot-with-fallback", "reserved", "reserved-then-spot", "reserved-then-on-demand", "flex-start"
    ] = "on-demand"
    """Reserved capacity (``reserved*``) needs ``reservation``; ``reserved-then-*`` falls back when it is used up.
    ``flex-start`` (GKE): Dynamic Workload Scheduler flex-start with queued provisioning, through Kueue."""
    reservation: ReservationConfig | None = None
    efa: bool = False
    """AWS: attach every Elastic Fabric Adapter the instance type has (multi-node training); all types must have EFA."""
    placement: Literal["cluster"] | None = None
    """Place the nodes close together (needs ``zone``): AWS a cluster placement group, GKE a compact placement policy."""
    placement_policy: str | None = Field(None, pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    """GKE, with ``placement: cluster``: the name of a compact resource policy of your own in the region (e.g. the
    one a reservation was created with); default: GKE creates one for the pool."""
    gpu_direct: bool | None = None
    """GKE, A3 Mega / A3 Ultra / A4: attach the machine's GPU NICs (GPUDirect-TCPXO / -RDMA VPCs, multi-networking,
    the NCCL plugin) for multi-node training. Required (true or false) on a training pool of those machine types."""
    zone: str | None = None
    """Train in this one availability zone / subnet (default: the reservation's zone, else every zone)."""
    image_snapshot: str | None = Field(None, pattern=r"^snap-[0-9a-f]+$")
    """AWS, Bottlerocket pools: each node's data volume (its container images) is restored from this EBS
    snapshot of pre-pulled images, so multi-GB images need no pull."""
    image_streaming: bool = False
    """GKE: image streaming (containers from Artifact Registry start while the image is still being read)."""
    secondary_boot_disk: str | None = Field(
        None, pattern=r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/)?global/images/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
    )
    """GKE, with ``imageStreaming``: a disk image of pre-pulled container images (``global/images/NAME``, built with
    gke-disk-image-builder) attached to every node as an image cache; multi-GB images then start without a pull."""
    topology_aware: bool = False
    """Kueue Topology Aware Scheduling on this pool's flavor (jobs can ask for one network block). Kueue
    places pods only on nodes that exist, so the pool keeps ``minNodes`` nodes (on EKS a static NodePool)."""
    mode: Literal["karpenter", "managed"] = "karpenter"
    """AWS only: Karpenter NodePool (default) or an EKS managed node group."""
    min_nodes: int = Field(0, ge=0)
    max_nodes: int | None = Field(None, ge=1, le=1000)
    """Most nodes the pool may grow to (required on aws and gcp)."""
    gpu_limit: int | None = Field(None, ge=1)
    """Ceiling on ``nvidia.com/gpu`` in the pool; default: max nodes x GPUs per node."""
    mig_profile: str | None = None
    """Cut every GPU into this MIG profile (``1g.10gb``); the GPU must support MIG."""
    time_slicing_replicas: int | None = Field(None, ge=1, le=64)
    """Share each GPU between this many pods (time-slicing)."""
    disk_gb: int = Field(200, ge=50, le=16384)
    ami_family: Literal["al2023", "bottlerocket"] = "al2023"
    ami_version: str = Field("latest", pattern=r"^(latest|v[0-9]+(\.[0-9]+)*)$")
    """Karpenter pools: the EKS-optimized AMI release (``v20250715``; Bottlerocket ``v1.40.0``), or ``latest`` (nodes roll to every new release)."""
    expire_after: str = Field("720h", pattern=r"^([0-9]+(s|m|h))+$|^Never$")
    nodes_count_for_existing: int | None = Field(None, ge=0, alias="existingNodes")
    """``cloud: existing`` only: how many such nodes the cluster has (for quotas and cost)."""

    @property
    def reserved(self) -> bool:
        """The pool uses reserved capacity first (``reserved``, ``reserved-then-spot``, ``reserved-then-on-demand``)."""
        return self.capacity.startswith("reserved")

    @property
    def fallback(self) -> str | None:
        """What a ``reserved-then-*`` pool falls back to (``spot`` / ``on-demand``); ``None`` otherwise."""
        return self.capacity.removeprefix("reserved-then-") if self.capacity.startswith("reserved-then-") else None

    @property
    def training_zone(self) -> str | None:
        """The one zone the pool's nodes run in: ``zone``, else its reservation's zone, else ``None`` (every zone)."""
        return self.zone or (self.reservation.zone if self.reservation else None)


class TeamQuotas(_Model):
    cpu: int = Field(ge=1)
    memory: str = Field(pattern=QUANTITY)
    gpu: int = Field(0, ge=0)
    mig: dict[str, int] = Field(default_factory=dict)
    """MIG slices per profile the team may request (mixed strategy)."""
    neuron: int = Field(0, ge=0)
    """Trainium / Inferentia devices (``aws.amazon.com/neuron``) the team may request; its
    ``aws.amazon.com/neuroncore`` quota is these devices' NeuronCores."""
    pods: int = Field(200, ge=1)
    storage: str = Field("1Ti", pattern=QUANTITY)


class TeamConfig(_Model):
    name: str = Field(pattern=DNS_LABEL, max_length=40)
    owners: str = Field(min_length=1)
    """Identity-provider group bound to ``edit`` in the team's namespace."""
    viewers: str | None = None
    cost_center: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    quotas: TeamQuotas
    budget_usd: float | None = Field(None, gt=0)
    gpu_borrowing_limit: int | None = Field(None, ge=0)
    pod_security: Literal["baseline", "restricted"] = "baseline"
    internet_egress: bool = False
    owner_role_arns: list[str] = Field(default_factory=list)
    """EKS: IAM roles (e.g. SSO permission-set roles) whose users join the ``owners`` group (access entries)."""
    viewer_role_arns: list[str] = Field(default_factory=list)
    """EKS: IAM roles whose users join the ``viewers`` group (requires ``viewers``)."""

    @field_validator("owner_role_arns", "viewer_role_arns")
    @classmethod
    def _role_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(r"^arn:aws[-a-z]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+$", arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
        return value


class LifecycleConfig(_Model):
    raw_infrequent_access_days: int = Field(30, ge=30)
    raw_glacier_ir_days: int = Field(90, ge=1)
    noncurrent_expiry_days: int = Field(90, ge=1)
    abort_multipart_days: int = Field(7, ge=1)


class LustreConfig(_Model):
    """FSx for Lustre (AWS) linked to lake zones: ``/<zone>`` on the file system is the zone's bucket."""

    zones: list[str] = Field(default_factory=list)
    """Lake zones to link (a data repository association each), e.g. ``[curated]``."""
    availability_zone: str | None = None
    """The file system's availability zone (one subnet): where the training pools run."""
    storage_gb: int = 1200
    """1200, or a multiple of 2400 (PERSISTENT_2)."""
    throughput_mb_per_tib: Literal[125, 250, 500, 1000] = 250


class GcsFuseConfig(_Model):
    """The lake as a file system on GKE (Cloud Storage FUSE CSI driver): each team's prefix of one zone as the
    claim ``lake`` in its namespace, with a file cache on the node."""

    zone: str
    """The lake zone mounted (e.g. ``curated``): each team sees ``teams/<team>/`` of its bucket."""
    file_cache_gi: int = Field(100, ge=0, le=65536)
    """File cache per mount in GiB (0: none); the pod's ``gke-gcsfuse/ephemeral-storage-limit`` must be larger."""


class DataLakeConfig(_Model):
    lustre: LustreConfig | None = None
    """FSx for Lustre next to the lake (AWS)."""
    gcs_fuse: GcsFuseConfig | None = None
    """Cloud Storage FUSE volumes of the teams' prefixes (GKE)."""
    zones: list[str] = Field(default_factory=lambda: ["raw", "curated", "features", "models"], min_length=1)
    shared_zones: list[str] = Field(default_factory=list)
    """Zones every team may read (read-only) besides its own prefix."""
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    size_gb: dict[str, int] = Field(default_factory=dict)
    """Expected stored GB per zone, for the cost estimate."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` empty the buckets (every object version) before deleting them; ``true``
    is refused in prod. When not set, on outside prod (AWS and GCP; see
    :attr:`PlatformConfig.lake_force_destroy`)."""

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        for zone in value:
            if not re.match(DNS_LABEL, zone) or len(zone) > 20:
                raise ValueError(f"zone {zone!r} must be a lowercase DNS label of at most 20 characters")
        if len(set(value)) != len(value):
            raise ValueError("zones must be unique")
        return value


class DatabaseConfig(_Model):
    instance_class: str = "db.t4g.medium"
    storage_gb: int = Field(50, ge=20)
    backup_retention_days: int | None = Field(None, ge=1, le=35)
    multi_az: bool | None = None


class MlflowConfig(_Model):
    enabled: bool = True
    replicas: int | None = Field(None, ge=1)
    auth: bool = True
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    existing_database_secret: str | None = None
    """``cloud: existing``: name of a Kubernetes Secret (namespace ``mlflow``) with the DB connection."""


class OnlineStoreConfig(_Model):
    node_type: str = "cache.t4g.small"
    replicas: int = Field(1, ge=0, le=5)
    existing_endpoint: str | None = None
    """``cloud: existing``: ``host:port`` of a Redis you run."""


class FeastConfig(_Model):
    enabled: bool = True
    registry: Literal["lake", "sql"] = "lake"
    replicas: int | None = Field(None, ge=1)
    online_store: OnlineStoreConfig = Field(default_factory=OnlineStoreConfig)


class GpuOperatorConfig(_Model):
    enabled: bool | None = None
    """Default: on for AWS and existing clusters, off on GKE (GKE installs drivers itself)."""
    driver: bool | None = None
    """Install the driver; default off where the node image ships it (EKS NVIDIA AMIs, GKE)."""
    mig_strategy: Literal["single", "mixed"] = "mixed"
    monitoring_labels: dict[str, str] = Field(default_factory=dict)
    """Labels on the DCGM exporter's ServiceMonitor and the GPU alert rules, for a Prometheus
    ``serviceMonitorSelector`` / ``ruleSelector`` (kube-prometheus-stack: ``release: <its release>``)."""


class KueueConfig(_Model):
    enabled: bool = True


class OidcConfig(_Model):
    """The identity provider JupyterHub logs users in with (OAuth2 / OIDC endpoints)."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    """Set it as a secret: ``pulumi config set --secret --path ml-platform:notebooks.oidc.clientSecret``."""
    authorize_url: str = Field(pattern=r"^https://")
    token_url: str = Field(pattern=r"^https://")
    userdata_url: str = Field(pattern=r"^https://")
    callback_url: str = Field(pattern=r"^https://.+/hub/oauth_callback$")
    scope: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    username_claim: str = "email"
    groups_claim: str = "groups"
    """Claim listing the user's groups; a team's ``owners`` group makes the user a team member."""

    @field_serializer("client_secret")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class ServingConfig(_Model):
    """KServe (Standard / raw-Deployment mode) with cert-manager, for the serving templates."""

    enabled: bool = False


class NotebookCpuConfig(_Model):
    cpu: float = Field(2, gt=0, le=64)
    memory: str = Field("8Gi", pattern=QUANTITY)


class NotebooksConfig(_Model):
    """JupyterHub: notebooks on the GPU pools, charged to the user's team."""

    enabled: bool = False
    oidc: OidcConfig | None = None
    users: dict[str, str] = Field(default_factory=dict)
    """User name (as ``oidc.usernameClaim`` gives it) -> team, for users outside every team's owners group."""
    admin_users: list[str] = Field(default_factory=list)
    idle_timeout_minutes: int = Field(60, ge=5, le=10080)
    """The idle culler stops a server after this long without activity."""
    home_size_gb: int = Field(20, ge=1, le=1024)
    cpu_profile: NotebookCpuConfig = Field(default_factory=NotebookCpuConfig)
    """Size of the CPU-only profile (GPU profiles take a pool's share of a node)."""


class BudgetConfig(_Model):
    monthly_usd: float | None = Field(None, gt=0)
    """Platform monthly budget; the cost policy fails when the estimate exceeds it."""
    alert_emails: list[str] = Field(default_factory=list)


CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
"""The retention values CloudWatch Logs accepts (``PutRetentionPolicy``)."""


class AuditConfig(_Model):
    """Audit logging: who touched the lake, the keys, the secrets and the databases (issue 16)."""

    enabled: bool | None = None
    """Default: on in staging and prod, off in dev."""
    data_events_millions_per_month: float = Field(10.0, ge=0)
    """Cost estimate only: S3 data events (object reads and writes of the lake) a month, in millions."""
    retention_days: int = Field(365, ge=1, le=3650)
    """How long audit log files are kept: the CloudTrail bucket's expiry, the GCP log bucket's retention."""
    object_lock_days: int | None = Field(None, ge=1, le=3650)
    """Prod (AWS): Object Lock governance retention of the trail bucket; default ``retentionDays``."""
    control_plane_log_retention_days: int | None = None
    """EKS control-plane log group retention (a CloudWatch value); default 365 in prod, 90 elsewhere."""
    organization_trail: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$")
    """AWS: name of an existing organization trail that already records management events; the
    platform then creates no second trail of its own, only a data-events trail for the lake."""

    @field_validator("control_plane_log_retention_days")
    @classmethod
    def _cw_days(cls, value: int | None) -> int | None:
        if value is not None and value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention; allowed: {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}")
        return value


class GuardDutyConfig(_Model):
    """Optional AWS GuardDuty features (off by default; they cost money, see the plan's cost)."""

    eks_runtime_monitoring: bool = False
    s3_protection: bool = False
    existing_detector_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    """The account's GuardDuty detector if one exists already (e.g. organization-managed)."""
    monitored_vcpus: int | None = Field(None, ge=1)
    """Cost estimate only: vCPUs runtime monitoring covers; default: the system nodes at their maximum."""


class SecurityConfig(_Model):
    guard_duty: GuardDutyConfig = Field(default_factory=GuardDutyConfig)


class SmtpConfig(_Model):
    """The mail relay Alertmanager sends alert e-mails through."""

    host: str = Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
    """``host:port`` of the relay (``smtp.example.com:587``)."""
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    """``From:`` address of the alert e-mails."""
    username: str | None = None
    password: SecretStr | None = None
    """Set it as a secret (``pulumi config set --secret --path ml-platform:monitoring.smtp.password``);
    it reaches Alertmanager only as a mounted Kubernetes Secret file, never in the Helm values."""
    require_tls: bool = True

    @field_serializer("password")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class MonitoringConfig(_Model):
    """Metrics, dashboards, alert routing and per-team cost (issue 15)."""

    backend: Literal["inCluster", "managed", "none"] = "inCluster"
    """``inCluster``: kube-prometheus-stack (Prometheus, Alertmanager, Grafana); ``managed``: Amazon Managed
    Service for Prometheus (aws) / Google Managed Prometheus (gcp); ``none``: bring your own."""
    grafana: bool = True
    """Install the chart's Grafana with the platform dashboards (``inCluster`` only)."""
    opencost: bool = True
    """OpenCost in-cluster: per-namespace (team) cost from the cloud's prices; feeds chargeback and team budget alerts."""
    retention: str = Field("15d", pattern=r"^[0-9]+(h|d|w|y)$")
    """How long the in-cluster Prometheus keeps samples."""
    smtp: SmtpConfig | None = None
    """Mail relay for the alert e-mails; without it alerts are routed but not sent."""
    cost_allocation_tags: bool = False
    """AWS: activate ``team`` / ``cost-center`` / ``environment`` / ``project`` as cost allocation tags
    (``aws.costexplorer.CostAllocationTag``). Turn on once the tags appear in the billing data (about a day
    after the first tagged resources bill); the API rejects tags it has not seen yet (docs/cost.md)."""
    billing_dataset: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,1024}$")
    """GCP: create this BigQuery dataset for the Cloud Billing export (the export itself is switched on in the
    billing console; there is no API for it). The chargeback report reads it."""


class GcpConfig(_Model):
    project: str | None = Field(None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    billing_account: str | None = None


class AwsConfig(_Model):
    """``cloud: aws`` account-level facts."""

    autoscaling_service_linked_role: Literal["create", "existing"] = "create"
    """``create``: the stack creates ``AWSServiceRoleForAutoScaling`` (a new account has none and the
    KMS key policy names it; kept on destroy). ``existing``: the account has it already (any Auto
    Scaling group or EKS node group ever made it; another stack created it; this stack was
    destroyed and is being re-created) - ``python -m infra ops preflight`` tells which."""


class FleetWorkerConfig(_Model):
    """A worker cluster of a fleet manager: another stack of this project, or a cluster we do not manage."""

    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """The ``MultiKueueCluster`` name (and of its kubeconfig Secret)."""
    stack: str | None = Field(None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
    """A stack of this project with ``fleet.role: worker``; its outputs are read by ``pulumi.StackReference``."""
    kubeconfig: SecretStr | None = None
    """A cluster we do not manage: the kubeconfig MultiKueue uses (a secret; least privilege, see docs/hybrid.md)."""
    quotas: dict[str, TeamQuotas] = Field(default_factory=dict)
    """Team -> what the worker admits for it; required for a ``kubeconfig`` worker, read from the stack otherwise."""

    @field_serializer("kubeconfig")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class FleetConfig(_Model):
    """A hybrid fleet through Kueue's MultiKueue: a manager stack holds the queues, worker stacks run the jobs."""

    role: Literal["none", "manager", "worker"] = "none"
    workers: list[FleetWorkerConfig] = Field(default_factory=list)
    """Manager: the workers in dispatch order (most preferred first, e.g. on-prem, cloud spot, cloud on-demand)."""
    dispatcher: Literal["incremental", "allAtOnce"] = "incremental"
    """Manager: Kueue's MultiKueue dispatcher; ``incremental`` nominates workers in list order."""
    step_size: int = Field(1, ge=1, le=20)
    """Manager, ``incremental``: how many workers are nominated per round (Kueue's default is 3)."""
    organization: str | None = Field(None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
    """Manager: the Pulumi organization of the worker stacks (default: the manager's own)."""
    manager: str | None = Field(None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
    """Worker: the manager stack whose teams this worker mirrors."""
    api_server: str | None = Field(None, pattern=r"^https://[^\s/]+(:[0-9]+)?/?$")
    """Worker: the API server URL the manager reaches this cluster at (default: the EKS / GKE endpoint;
    required on ``cloud: existing``)."""


class PlatformConfig(_Model):
    """Everything one stack sets under ``ml-platform:``."""

    cloud: Cloud
    environment: Environment
    region: str | None = None
    dr: DrConfig = Field(default_factory=DrConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list)
    gpu_overcommit: float = Field(1.0, ge=1.0, le=10.0)
    """How far team GPU quotas may add up beyond the pools' GPU ceiling (1.0: not at all)."""
    teams: list[TeamConfig] = Field(default_factory=list)
    data_lake: DataLakeConfig = Field(default_factory=DataLakeConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    feast: FeastConfig = Field(default_factory=FeastConfig)
    gpu_operator: GpuOperatorConfig = Field(default_factory=GpuOperatorConfig)
    kueue: KueueConfig = Field(default_factory=KueueConfig)
    notebooks: NotebooksConfig = Field(default_factory=NotebooksConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    tags: dict[str, str] = Field(default_factory=dict)
    gcp: GcpConfig = Field(default_factory=GcpConfig)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)

    # ---- derived facts shared by the components' args builders -------------------------------

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def lake_force_destroy(self) -> bool:
        """``dataLake.forceDestroy`` as set, else on outside prod; never in prod.

        dev / staging must tear down cleanly: the buckets are versioned (a deleted object leaves
        versions behind) and S3 keeps delivering server access logs for a while after the last
        request, so neither a lake nor an access-log bucket is ever empty on its own.
        """
        if self.is_prod:
            return False
        if "force_destroy" in self.data_lake.model_fields_set:
            return self.data_lake.force_destroy
        return True

    @property
    def dr_region(self) -> str | None:
        return self.dr.region if self.dr.enabled else None

    @property
    def cluster_name(self) -> str:
        return self.cluster.name or f"mlp-{self.environment}"

    @property
    def gpu_operator_enabled(self) -> bool:
        """``gpuOperator.enabled``; default on for aws / existing, off on gcp (GKE installs drivers and plugin)."""
        return self.gpu_operator.enabled if self.gpu_operator.enabled is not None else self.cloud != "gcp"

    @property
    def feast_sql_registry(self) -> bool:
        """Feast keeps its registry in a database on the platform's PostgreSQL server."""
        return self.feast.enabled and self.feast.registry == "sql"

    @property
    def needs_database(self) -> bool:
        """The platform's PostgreSQL server serves MLflow and/or the Feast SQL registry (also alone)."""
        return self.mlflow.enabled or self.feast_sql_registry

    @property
    def audit_enabled(self) -> bool:
        """``audit.enabled``; default on in staging and prod, off in dev."""
        return self.audit.enabled if self.audit.enabled is not None else self.environment != "dev"

    @property
    def control_plane_log_retention_days(self) -> int:
        """Retention of the EKS control-plane log group (and GKE's log bucket)."""
        days = self.audit.control_plane_log_retention_days
        return days if days is not None else (365 if self.is_prod else 90)

    def pool_gpu(self, pool: GpuPoolConfig) -> catalog.GpuModel:
        """The GPU model a pool carries (validated to be unique)."""
        return catalog.gpu_model(pool_gpu_key(self, pool))

    def pool_node_types(self, pool: GpuPoolConfig) -> list[catalog.NodeType]:
        """The catalog node types a pool may launch."""
        cloud = "gcp" if self.cloud == "gcp" else "aws"
        if pool.instance_types:
            return [catalog.node_type(cloud, name) for name in pool.instance_types]
        if self.cloud == "existing":
            return catalog.node_types("aws", gpu=pool.gpu)[:1]
        return catalog.node_types(cloud, gpu=pool.gpu)

    def pool_gpu_ceiling(self, pool: GpuPoolConfig) -> int:
        """Most ``nvidia.com/gpu`` the pool can ever hold."""
        if pool.gpu_limit is not None:
            return pool.gpu_limit
        per_node = max((n.gpus for n in self.pool_node_types(pool)), default=0)  # 0: reported by the pool checks
        if self.cloud == "existing":
            nodes = pool.nodes_count_for_existing or 0
        else:
            nodes = pool.max_nodes or 0
        return nodes * per_node

    @property
    def gpu_ceiling(self) -> int:
        return sum(self.pool_gpu_ceiling(p) for p in self.gpu_pools)


# ---- cross-field checks ----------------------------------------------------------------------


def pool_gpu_key(cfg: PlatformConfig, pool: GpuPoolConfig) -> str:
    if pool.gpu:
        return pool.gpu
    cloud = "gcp" if cfg.cloud == "gcp" else "aws"
    return catalog.node_type(cloud, pool.instance_types[0]).gpu


def _deployer_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    """Can ``pulumi up`` reach the API endpoint from where ``cluster.deployFrom`` says it runs?"""
    ns = NAMESPACE + ":cluster."
    cluster = cfg.cluster
    if cfg.cloud == "existing":
        if "deploy_from" in cluster.model_fields_set:
            yield ns + "deployFrom", "only for cloud 'aws' or 'gcp' (the cluster you bring is reached through its kubeconfig)"
        return
    if cluster.deploy_from != "vpc" and not cluster.public_access_cidrs:
        yield (
            ns + "deployFrom",
            f"{cluster.deploy_from!r} runs outside the VPC, but cluster.publicAccessCidrs is empty, so the API endpoint "
            "is private only and unreachable from there; allowed: 'vpc' (a self-hosted runner in the VPC, see "
            "docs/ci.md), or list the deployer's egress CIDRs in cluster.publicAccessCidrs",
        )
    if cluster.private_access_cidrs and cfg.cloud != "aws":
        yield ns + "privateAccessCidrs", "EKS only; on GKE list the ranges in cluster.publicAccessCidrs (master authorized networks)"
    if cfg.cloud == "aws":
        for i, cidr in enumerate(cluster.public_access_cidrs):
            if not ipaddress.ip_network(cidr).is_global:
                yield (
                    f"{ns}publicAccessCidrs[{i}]",
                    f"{cidr!r} is not a public range; the EKS public endpoint only sees public source addresses "
                    "(reach it privately from inside the VPC instead: cluster.deployFrom: vpc)",
                )


def runner_problems(cfg: PlatformConfig, runner: str | None) -> list[tuple[str, str]]:
    """Problems of deploying ``cfg`` from a CI runner of kind ``runner`` (``github-hosted`` /
    ``self-hosted``, GitHub's ``runner.environment``; ``None``: not in CI, nothing to check)."""
    if runner != "github-hosted" or cfg.cloud == "existing" or cfg.cluster.deploy_from != "vpc":
        return []
    return [
        (
            f"{NAMESPACE}:cluster.deployFrom",
            "'vpc' (the default): the API endpoint is reached from inside the VPC, but this job runs on a GitHub-hosted "
            "runner; route the stack to a self-hosted runner in the VPC (repository variable DEPLOY_RUNNERS, "
            "docs/ci.md), or set cluster.deployFrom: githubHosted with cluster.publicAccessCidrs listing the "
            "runners' static egress IPs",
        )
    ]


def _cross_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    yield from _fleet_checks(cfg)
    ns = NAMESPACE + ":"
    if cfg.cloud in ("aws", "gcp") and not cfg.region:
        yield ns + "region", f"required for cloud {cfg.cloud!r} (for example us-east-1 or us-central1)"
    if cfg.dr.enabled and not cfg.dr.region:
        yield ns + "dr.region", "required when dr.enabled is true"
    if cfg.dr.enabled and cfg.dr.region and cfg.dr.region == cfg.region:
        yield ns + "dr.region", f"{cfg.dr.region!r} is the primary region; the DR region must differ from region"
    if cfg.dr.enabled and cfg.cloud == "existing":
        yield ns + "dr.enabled", "DR replication needs a cloud; set cloud to aws or gcp, or turn dr off"
    if cfg.cloud == "gcp" and not cfg.gcp.project:
        yield ns + "gcp.project", "required for cloud 'gcp'"
    yield from _deployer_checks(cfg)
    if cfg.cloud != "aws" and "aws" in cfg.model_fields_set:
        yield ns + "aws", f"only for cloud 'aws'; this stack is cloud {cfg.cloud!r}"
    if cfg.cloud != "existing" and (cfg.cluster.kubeconfig is not None or cfg.cluster.context):
        yield ns + "cluster.kubeconfig", f"only for cloud 'existing'; cloud {cfg.cloud!r} builds its own cluster"
    if cfg.cluster.workload_identity == "podIdentity" and cfg.cloud != "aws":
        yield ns + "cluster.workloadIdentity", f"'podIdentity' is EKS Pod Identity; cloud {cfg.cloud!r} allows: irsa (ignored there)"
    if cfg.cluster.system_nodes.min_nodes > cfg.cluster.system_nodes.max_nodes:
        yield ns + "cluster.systemNodes.minNodes", "must not exceed maxNodes"
    if cfg.cloud == "gcp" and cfg.gpu_operator.driver:
        # GKE's node image is Container-Optimized OS; NVIDIA's GKE guide supports operator-installed
        # drivers (its driver manager) only on Ubuntu node images, which this platform does not
        # build. GKE installs the driver itself (gpu_driver_installation_config) and the operator
        # runs on top of it.
        yield (
            ns + "gpuOperator.driver",
            "true is not supported on cloud 'gcp': GKE installs the NVIDIA driver on its Container-Optimized OS "
            "nodes, where the GPU operator cannot; allowed: false or unset",
        )
    elif cfg.gpu_operator.driver and not cfg.gpu_operator_enabled:
        # on gcp it would also turn GKE's driver installation off: GPU nodes without a driver
        yield (
            ns + "gpuOperator.driver",
            f"true has the GPU operator install the driver, but the operator is off on cloud {cfg.cloud!r} "
            "(gpuOperator.enabled); set gpuOperator.enabled: true, or drop gpuOperator.driver",
        )
    lc = cfg.data_lake.lifecycle
    if lc.raw_glacier_ir_days <= lc.raw_infrequent_access_days:
        yield (
            ns + "dataLake.lifecycle.rawGlacierIrDays",
            f"{lc.raw_glacier_ir_days} must be later than rawInfrequentAccessDays ({lc.raw_infrequent_access_days})",
        )
    for zone in cfg.data_lake.shared_zones:
        if zone not in cfg.data_lake.zones:
            yield ns + "dataLake.sharedZones", f"{zone!r} is not a zone; zones: {', '.join(cfg.data_lake.zones)}"
    yield from _lustre_checks(cfg)
    yield from _gcs_fuse_checks(cfg)
    for zone in cfg.data_lake.size_gb:
        if zone not in cfg.data_lake.zones:
            yield ns + f"dataLake.sizeGb.{zone}", f"{zone!r} is not a zone; zones: {', '.join(cfg.data_lake.zones)}"
    if "access-logs" in cfg.data_lake.zones:
        yield ns + "dataLake.zones", "'access-logs' is reserved for the lake's access-log buckets"
    if cfg.is_prod and cfg.data_lake.force_destroy:
        yield ns + "dataLake.forceDestroy", "never allowed in prod: prod buckets are protected and retained"
    for needed, user in (("models", cfg.mlflow.enabled), ("features", cfg.feast.enabled)):
        if user and needed not in cfg.data_lake.zones:
            yield ns + "dataLake.zones", f"needs a {needed!r} zone while {'mlflow' if needed == 'models' else 'feast'} is enabled"

    for key, value in cfg.gpu_operator.monitoring_labels.items():
        name = key.rsplit("/", 1)[-1]
        if not re.match(LABEL_NAME, name) or len(name) > 63 or ("/" in key and not re.match(DNS_SUBDOMAIN, key.rsplit("/", 1)[0])):
            yield ns + f"gpuOperator.monitoringLabels.{key}", f"{key!r} is not a Kubernetes label key ([prefix/]name, name up to 63 of [A-Za-z0-9_.-])"
        if len(value) > 63 or not re.match(LABEL_VALUE, value):
            yield ns + f"gpuOperator.monitoringLabels.{key}", f"{value!r} is not a Kubernetes label value (up to 63 of [A-Za-z0-9_.-], alphanumeric at both ends)"

    yield from _audit_checks(cfg)
    yield from _monitoring_checks(cfg)
    yield from _ml_services_checks(cfg)
    yield from _notebook_checks(cfg)
    pool_problems = list(_pool_checks(cfg))
    yield from pool_problems
    # quota totals need every pool's shape: with a bad pool they would only echo its problem
    yield from _team_checks(cfg, totals=not pool_problems)


def _audit_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    ns = NAMESPACE + ":audit."
    audit = cfg.audit
    if cfg.environment in ("staging", "prod") and audit.enabled is False:
        yield ns + "enabled", f"false is not allowed in {cfg.environment}: audit logging is on in staging and prod (optional in dev only)"
    if audit.object_lock_days is not None and audit.object_lock_days > audit.retention_days:
        yield ns + "objectLockDays", f"{audit.object_lock_days} exceeds retentionDays ({audit.retention_days}); locked logs cannot expire earlier"
    gd = cfg.security.guard_duty
    if cfg.cloud != "aws" and (gd.eks_runtime_monitoring or gd.s3_protection):
        yield NAMESPACE + ":security.guardDuty", f"GuardDuty is AWS only; cloud {cfg.cloud!r}"
    if audit.organization_trail and cfg.cloud != "aws":
        yield ns + "organizationTrail", f"an AWS CloudTrail name; cloud {cfg.cloud!r} has no CloudTrail"


def _notebook_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    ns = NAMESPACE + ":notebooks."
    nb = cfg.notebooks
    teams = [t.name for t in cfg.teams]
    if nb.enabled and nb.oidc is None:
        yield ns + "oidc", "required when notebooks.enabled is true (clientId, authorizeUrl, tokenUrl, userdataUrl, callbackUrl)"
    if nb.enabled and nb.oidc is not None and nb.oidc.client_secret is None:
        yield ns + "oidc.clientSecret", "required: pulumi config set --secret --path ml-platform:notebooks.oidc.clientSecret ..."
    if nb.enabled and cfg.cloud != "aws":
        # home volumes must be encrypted with the platform key: on GKE that needs a CMEK StorageClass and the
        # Compute Engine service agent on the key; on a cluster you bring, a StorageClass we cannot vouch for
        yield ns + "enabled", f"notebooks are built on cloud 'aws' so far (encrypted home volumes); cloud {cfg.cloud!r} is not supported yet"
    if cfg.serving.enabled and cfg.cloud != "aws":
        # the <team>-serving identity that reads the registry's artifacts exists on aws so far
        yield NAMESPACE + ":serving.enabled", f"serving is built on cloud 'aws' so far (the serving identity); cloud {cfg.cloud!r} is not supported yet"
    if nb.enabled and not teams:
        yield ns + "enabled", "notebooks are charged to teams; the stack has no teams"
    for user, team in nb.users.items():
        if team not in teams:
            yield ns + f"users.{user}", f"{team!r} is not a team; allowed: {', '.join(teams) or 'none'}"


def _ml_services_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    ns = NAMESPACE + ":"
    existing = cfg.cloud == "existing"
    mlflow, feast = cfg.mlflow, cfg.feast
    if mlflow.enabled and existing and not mlflow.existing_database_secret:
        yield ns + "mlflow.existingDatabaseSecret", "required for cloud 'existing' (a Secret in namespace mlflow with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD)"
    if mlflow.existing_database_secret and not existing:
        yield ns + "mlflow.existingDatabaseSecret", f"only for cloud 'existing'; cloud {cfg.cloud!r} builds its own database"
    endpoint = feast.online_store.existing_endpoint
    if feast.enabled and existing and not endpoint:
        yield ns + "feast.onlineStore.existingEndpoint", "required for cloud 'existing' (host:port of your Redis)"
    if endpoint and not existing:
        yield ns + "feast.onlineStore.existingEndpoint", f"only for cloud 'existing'; cloud {cfg.cloud!r} builds its own Redis"
    if endpoint and not re.match(r"^(rediss?://)?[A-Za-z0-9.-]+:[0-9]{1,5}$", endpoint):
        yield (
            ns + "feast.onlineStore.existingEndpoint",
            f"{endpoint!r} must be host:port such as redis.data.svc.cluster.local:6379, or rediss://host:port for TLS",
        )
    if cfg.feast_sql_registry and existing:
        yield ns + "feast.registry", "'sql' lives on the platform's MLflow database server, which cloud 'existing' does not build; allowed: lake"
    if cfg.is_prod:
        retention = mlflow.database.backup_retention_days
        if mlflow.enabled and retention is not None and retention < 14:
            yield ns + "mlflow.database.backupRetentionDays", f"{retention} is below the prod minimum of 14 days"
        if mlflow.enabled and mlflow.database.multi_az is False and not existing:
            yield ns + "mlflow.database.multiAz", "must be true in prod (a standby in a second zone)"
        for key, svc in (("mlflow", mlflow), ("feast", feast)):
            if svc.enabled and svc.replicas is not None and svc.replicas < 2:
                yield ns + f"{key}.replicas", f"{svc.replicas} is below the prod minimum of 2"
        if feast.enabled and cfg.cloud == "aws" and feast.online_store.replicas < 1:
            yield ns + "feast.onlineStore.replicas", "must be at least 1 in prod (automatic failover needs a replica)"
    yield from _gcp_and_existing_checks(cfg)


def _pool_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    ns = NAMESPACE + ":"
    seen: set[str] = set()
    cloud = "gcp" if cfg.cloud == "gcp" else "aws"
    for i, pool in enumerate(cfg.gpu_pools):
        key = f"{ns}gpuPools[{i}]"
        if pool.name in seen:
            yield f"{key}.name", f"duplicate pool name {pool.name!r}; pool names must be unique"
        seen.add(pool.name)
        offered = sorted({n.gpu for n in catalog.node_types(cloud)} - set(catalog.UNSUPPORTED_GPUS))
        if not pool.gpu and not pool.instance_types:
            yield f"{key}.gpu", f"set gpu ({', '.join(offered)}) or instanceTypes"
            continue
        if pool.gpu and pool.gpu not in catalog.GPU_MODELS:
            yield f"{key}.gpu", f"unknown GPU {pool.gpu!r}; allowed on {cloud}: {', '.join(offered)}"
            continue
        if pool.gpu in catalog.UNSUPPORTED_GPUS:
            refused = catalog.UNSUPPORTED_GPUS[pool.gpu]
            yield f"{key}.gpu", f"{pool.gpu!r} is refused: {refused.reason}; use instead: {refused.instead}"
            continue
        models: set[str] = set()
        bad_type = False
        for j, name in enumerate(pool.instance_types):
            problem = _instance_type_problem(cloud, name, pool.gpu)
            if problem:
                yield f"{key}.instanceTypes[{j}]", problem
                bad_type = True
            else:
                models.add(catalog.node_type(cloud, name).gpu)
        if bad_type:
            continue
        if pool.gpu:
            models.add(pool.gpu)
        if len(models) > 1:
            yield f"{key}.instanceTypes", f"mixes GPU models {sorted(models)}; one pool carries one GPU model"
            continue
        gpu = catalog.gpu_model(models.pop())
        if cfg.cloud != "existing" and not cfg.pool_node_types(pool):
            yield f"{key}.gpu", f"{gpu.key} is not offered on {cloud}; allowed: {', '.join(offered)}"
            continue
        if gpu.is_neuron:
            yield from _neuron_pool_checks(cfg, pool, key, gpu)
        spot_only = [n.name for n in cfg.pool_node_types(pool) if (n.cloud, n.name) in catalog.SPOT_ONLY]
        if cfg.cloud != "existing" and spot_only and pool.capacity != "spot":
            yield (
                f"{key}.capacity",
                f"{pool.capacity!r}: {', '.join(spot_only)} is not sold on demand on {cloud} (spot, flex-start or a "
                "reservation only; reservations are not built here); allowed: spot",
            )
        if pool.mig_profile is not None and pool.mig_profile not in gpu.mig_profiles:
            allowed = ", ".join(gpu.mig_profiles) if gpu.mig_profiles else f"none ({gpu.key} has no MIG)"
            yield f"{key}.migProfile", f"{pool.mig_profile!r} is not a MIG profile of {gpu.key}; allowed: {allowed}"
        if pool.mig_profile and pool.time_slicing_replicas:
            yield f"{key}.timeSlicingReplicas", "use either migProfile or timeSlicingReplicas on a pool, not both"
        if cfg.cloud != "existing" and pool.max_nodes is None:
            yield f"{key}.maxNodes", f"required for cloud {cfg.cloud!r}"
        elif pool.max_nodes is not None and pool.min_nodes > pool.max_nodes:
            yield f"{key}.minNodes", f"{pool.min_nodes} exceeds maxNodes ({pool.max_nodes})"
        if cfg.is_prod and pool.purpose == "serving" and pool.capacity not in PROD_SERVING_CAPACITY:
            yield f"{key}.capacity", f"{pool.capacity!r} is not allowed for a serving pool in prod; allowed: {', '.join(PROD_SERVING_CAPACITY)}"
        if pool.mode == "managed" and cfg.cloud != "aws":
            yield f"{key}.mode", f"'managed' is an EKS node group; cloud {cfg.cloud!r} allows: karpenter"
        elif pool.mode == "managed" and (pool.capacity == "spot-with-fallback" or pool.fallback):
            yield (
                f"{key}.capacity",
                f"{pool.capacity!r}: an EKS managed node group has one capacity type; allowed with mode 'managed': spot, on-demand, reserved",
            )
        yield from _training_pool_checks(cfg, pool, key)
        if cfg.cloud == "aws" and pool.ami_family == "bottlerocket" and (pool.mig_profile or pool.time_slicing_replicas):
            yield (
                f"{key}.amiFamily",
                "Bottlerocket runs its own NVIDIA device plugin, which the GPU operator's MIG / time-slicing configs do not reach; "
                "use amiFamily al2023 for a pool with migProfile or timeSlicingReplicas",
            )
        if cfg.cloud == "existing" and pool.nodes_count_for_existing is None:
            yield f"{key}.existingNodes", "required for cloud 'existing': how many such nodes the cluster has"


def _gcs_fuse_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    """Cloud Storage FUSE team volumes: GKE only, on a lake zone."""
    fuse = cfg.data_lake.gcs_fuse
    if fuse is None:
        return
    key = NAMESPACE + ":dataLake.gcsFuse"
    if cfg.cloud != "gcp":
        yield key, f"GKE's Cloud Storage FUSE CSI driver; cloud {cfg.cloud!r} has none here (aws: dataLake.lustre); remove it"
        return
    if fuse.zone not in cfg.data_lake.zones:
        yield f"{key}.zone", f"{fuse.zone!r} is not a lake zone; allowed: {', '.join(cfg.data_lake.zones)}"


def _lustre_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    """FSx for Lustre: AWS only, linked to at least one lake zone, a valid size, a zone of the region."""
    lustre = cfg.data_lake.lustre
    if lustre is None:
        return
    key = NAMESPACE + ":dataLake.lustre"
    zones = ", ".join(cfg.data_lake.zones)
    if cfg.cloud != "aws":
        yield key, f"FSx for Lustre is AWS; cloud {cfg.cloud!r} has no Lustre here (on gcp read the lake through GCS FUSE); remove it"
        return
    if not lustre.zones:
        yield f"{key}.zones", f"Lustre without a lake zone links nothing; list the zones to link; allowed: {zones}"
    for j, zone in enumerate(lustre.zones):
        if zone not in cfg.data_lake.zones:
            yield f"{key}.zones[{j}]", f"{zone!r} is not a lake zone; allowed: {zones}"
    from components.aws.fsx import valid_capacity

    if not valid_capacity(lustre.storage_gb):
        yield f"{key}.storageGb", f"{lustre.storage_gb} is not a PERSISTENT_2 size; allowed: 1200, or a multiple of 2400"
    region = cfg.region or ""
    if lustre.availability_zone is None:
        yield f"{key}.availabilityZone", f"required: the one zone the file system (and the training pools) sit in, e.g. {region}a"
    elif region and not re.match(rf"^{re.escape(region)}[a-z]$", lustre.availability_zone):
        yield f"{key}.availabilityZone", f"{lustre.availability_zone!r} is not a zone of region {region!r}; allowed: a zone such as {region}a"


PROD_SERVING_CAPACITY = ("on-demand", "reserved", "reserved-then-on-demand")
"""Capacity a prod serving pool may use: nothing that can be taken back (spot)."""
AWS_RESERVATION_ID = r"^cr-[0-9a-z]+$"
"""The EC2NodeClass CRD's pattern for ``capacityReservationSelectorTerms[].id``."""


def _training_pool_checks(cfg: PlatformConfig, pool: GpuPoolConfig, key: str) -> Iterator[tuple[str, str]]:
    """Reserved capacity, EFA, placement and the one-zone rule of a pool whose shape is already valid."""
    res = pool.reservation
    if pool.reserved and res is None:
        yield f"{key}.reservation", f"required with capacity {pool.capacity!r}: the reservation ids (or tags) and how many nodes it holds"
    if res is not None and not pool.reserved:
        yield f"{key}.reservation", f"set, but capacity is {pool.capacity!r}; allowed with a reservation: reserved, reserved-then-spot, reserved-then-on-demand"
    if pool.image_snapshot and cfg.cloud != "aws":
        yield f"{key}.imageSnapshot", f"an EBS snapshot (AWS); on cloud {cfg.cloud!r} leave it unset (gcp: imageStreaming)"
    elif pool.image_snapshot and pool.ami_family != "bottlerocket":
        yield (
            f"{key}.imageSnapshot",
            f"needs amiFamily bottlerocket (its data volume holds the images); {pool.ami_family!r} keeps them on the AMI's root volume; allowed: bottlerocket",
        )
    elif pool.image_snapshot and pool.mode == "managed":
        yield f"{key}.imageSnapshot", "set on the Karpenter EC2NodeClass; allowed with imageSnapshot: mode karpenter"
    if pool.image_streaming and cfg.cloud != "gcp":
        yield f"{key}.imageStreaming", f"GKE image streaming; on cloud {cfg.cloud!r} leave it unset (aws: imageSnapshot)"
    if pool.secondary_boot_disk and cfg.cloud != "gcp":
        yield f"{key}.secondaryBootDisk", f"a GKE secondary boot disk; on cloud {cfg.cloud!r} leave it unset (aws: imageSnapshot)"
    elif pool.secondary_boot_disk and not pool.image_streaming:
        yield f"{key}.imageStreaming", "must be true with secondaryBootDisk: GKE reads the image cache through image streaming (gcfs_config); allowed: true"
    if pool.topology_aware and pool.min_nodes < 1:
        yield (
            f"{key}.minNodes",
            "must be at least 1 with topologyAware: Kueue's topology-aware scheduling places pods only on nodes that "
            "already exist (a pool scaled to zero would never admit a job); allowed: 1 or more",
        )
    if pool.capacity == "flex-start":
        if cfg.cloud != "gcp":
            yield f"{key}.capacity", "'flex-start' is GKE's Dynamic Workload Scheduler; allowed on aws: spot, on-demand, spot-with-fallback, reserved*"
        elif not cfg.kueue.enabled:
            yield f"{key}.capacity", "'flex-start' is requested through Kueue's ProvisioningRequest admission check; needs kueue.enabled: true"
        elif pool.min_nodes:
            yield f"{key}.minNodes", f"{pool.min_nodes}: a flex-start pool gets nodes per queued job only; allowed: 0"
    if pool.topology_aware and not cfg.kueue.enabled:
        yield f"{key}.topologyAware", "needs Kueue (kueue.enabled: true)"
    if cfg.cloud == "existing" and (pool.reserved or pool.efa or pool.placement or pool.zone or pool.topology_aware):
        field = (
            "capacity" if pool.reserved else "efa" if pool.efa else "placement" if pool.placement
            else "zone" if pool.zone else "topologyAware"
        )
        yield f"{key}.{field}", "cloud 'existing' does not launch nodes; set it up on your cluster and leave it unset here"
        return
    region = cfg.region or ""
    zone_pattern = rf"^{re.escape(region)}[a-z]$" if cfg.cloud == "aws" else rf"^{re.escape(region)}-[a-z]$"
    example = f"{region}a" if cfg.cloud == "aws" else f"{region}-a"
    for path, zone in ((f"{key}.zone", pool.zone), (f"{key}.reservation.zone", res.zone if res else None)):
        if zone is not None and region and not re.match(zone_pattern, zone):
            yield path, f"{zone!r} is not a zone of region {region!r}; allowed: a zone such as {example}"
    if res is not None:
        if not res.ids and not res.tags:
            yield f"{key}.reservation.ids", "set ids (or, on aws, tags) to choose the reservation"
        if cfg.cloud == "aws":
            for j, rid in enumerate(res.ids):
                if not re.match(AWS_RESERVATION_ID, rid):
                    yield f"{key}.reservation.ids[{j}]", f"{rid!r} is not a capacity reservation id; allowed: cr- followed by lowercase letters and digits"
            if pool.mode == "managed" and (len(res.ids) != 1 or res.tags):
                yield f"{key}.reservation.ids", "a managed node group's launch template targets exactly one reservation id (no tags); list one id"
        else:
            if res.tags:
                yield f"{key}.reservation.tags", "GKE selects reservations by name; allowed on gcp: ids (reservation names)"
            if res.kind != "odcr":
                yield f"{key}.reservation.kind", f"{res.kind!r} is an EC2 Capacity Block; allowed on gcp: odcr (a Compute Engine reservation)"
            for j, rid in enumerate(res.ids):
                if not re.match(DNS_LABEL, rid):
                    yield f"{key}.reservation.ids[{j}]", f"{rid!r} is not a Compute Engine reservation name (a lowercase DNS label)"
        if pool.zone and res.zone and pool.zone != res.zone:
            yield (
                f"{key}.reservation.zone",
                f"{res.zone!r} is not the pool's zone {pool.zone!r}: instances launch into the reservation's zone only; allowed: {pool.zone}",
            )
        if pool.max_nodes is not None and res.nodes > pool.max_nodes:
            yield f"{key}.reservation.nodes", f"{res.nodes} exceeds maxNodes ({pool.max_nodes}); the pool could never use the whole reservation"
    if cfg.cloud == "gcp":
        yield from _gke_training_pool_checks(cfg, pool, key, example)
        return
    for field, value in (("gpuDirect", pool.gpu_direct), ("placementPolicy", pool.placement_policy)):
        if value is not None:
            yield f"{key}.{field}", f"a GKE option; on cloud {cfg.cloud!r} leave it unset (aws: efa, placement)"
    if pool.efa:
        types = cfg.pool_node_types(pool)
        without = [n.name for n in types if not n.efa_interfaces]
        if without:
            model = cfg.pool_gpu(pool).key
            allowed = ", ".join(n.name for n in catalog.node_types("aws", gpu=model) if n.efa_interfaces) or f"none ({model} has no EFA type)"
            path = f"{key}.instanceTypes" if pool.instance_types else f"{key}.gpu"
            yield (
                path,
                f"efa: true, but {', '.join(without)} {'has' if len(without) == 1 else 'have'} no EFA: a pool mixing EFA and non-EFA "
                f"nodes makes NCCL fall back to TCP; allowed: {allowed}",
            )
        if pool.mode == "managed":
            yield f"{key}.efa", "EFA interfaces are configured on the Karpenter EC2NodeClass; allowed for efa: mode karpenter"
    if (pool.efa or pool.placement) and pool.training_zone is None:
        field = "efa" if pool.efa else "placement"
        yield f"{key}.zone", f"required with {field}: multi-node training stays in one availability zone (one subnet); e.g. {example}"
    if pool.placement and pool.mode == "managed":
        yield f"{key}.placement", "placement groups are set on the Karpenter EC2NodeClass; allowed for placement: mode karpenter"


def _gke_training_pool_checks(cfg: PlatformConfig, pool: GpuPoolConfig, key: str, example: str) -> Iterator[tuple[str, str]]:
    """GPUDirect and compact placement on GKE (cluster-toolkit v1.95.0 gke-node-pool preconditions, GKE docs)."""
    if pool.efa:
        yield f"{key}.efa", "an AWS option (Elastic Fabric Adapter); on gcp use gpuDirect (A3 Mega / A3 Ultra / A4)"
    node = cfg.pool_node_types(pool)[0]
    direct = [n.name for n in catalog.node_types("gcp") if n.gpu_direct]
    if pool.gpu_direct and not node.gpu_direct:
        yield f"{key}.gpuDirect", f"{node.name} has no GPU NICs to attach; allowed for gpuDirect: {', '.join(direct)}"
    elif node.gpu_direct and pool.gpu_direct is None and pool.purpose == "training":
        how = "GPUDirect-TCPXO" if node.gpu_direct == "tcpxo" else "GPUDirect-RDMA"
        yield (
            f"{key}.gpuDirect",
            f"required on {node.name} training pools: true attaches its {node.gpu_nics} GPU NICs ({how}: the extra VPCs, "
            "multi-networking, the NCCL plugin); without them NCCL between nodes falls back to TCP over the node's one NIC. "
            "allowed: true, or false for single-node jobs only",
        )
    if pool.gpu_direct and node.gpu_direct and pool.training_zone is None:
        yield f"{key}.zone", f"required with gpuDirect: multi-node training stays in one zone (the RoCE network profile is zonal); e.g. {example}"
    if pool.placement == "cluster":
        if pool.training_zone is None:
            yield f"{key}.zone", f"required with placement: GKE compact placement is only available for a node pool in one zone; e.g. {example}"
        if pool.capacity == "flex-start":
            yield f"{key}.placement", "compact placement cannot be combined with flex-start's queued provisioning; allowed with flex-start: unset"
    elif pool.placement_policy is not None:
        yield f"{key}.placementPolicy", "names a compact placement policy; needs placement: cluster"


def _gke_gpu_direct_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    """The GPUDirect VPCs are built once per cluster: one zone for every pool, and a range apart from the cluster's."""
    ns = "ml-platform:"
    zones: dict[str, int] = {}
    for i, pool in enumerate(cfg.gpu_pools):
        try:
            if not (pool.gpu_direct and cfg.pool_node_types(pool)[0].gpu_direct and pool.training_zone):
                continue
        except (catalog.CatalogError, IndexError):
            continue
        zones.setdefault(str(pool.training_zone), i)
        if len(zones) > 1:
            first = next(iter(zones))
            yield (
                f"{ns}gpuPools[{i}].zone",
                f"{pool.training_zone!r}: every gpuDirect pool trains in one zone (the GPUDirect RDMA VPC's network profile is "
                f"zonal); gpuPools[{zones[first]}] uses {first!r}; allowed: {first}",
            )
            return
    if not zones:
        return
    gpu = ipaddress.ip_network(cfg.network.gpu_cidr)
    if gpu.version != 4 or gpu.prefixlen > 19:
        yield f"{ns}network.gpuCidr", f"{cfg.network.gpu_cidr}: the GPUDirect subnets need an IPv4 /19 or larger (32 subnets)"
    for field, cidr in (("cidr", cfg.network.cidr), ("podsCidr", cfg.network.pods_cidr), ("servicesCidr", cfg.network.services_cidr),
                        ("(the control plane's)", "172.16.0.0/28")):
        if gpu.overlaps(ipaddress.ip_network(cidr)):
            yield f"{ns}network.gpuCidr", f"{cfg.network.gpu_cidr} overlaps network.{field} {cidr}; allowed: a range apart from the cluster's"


def _instance_type_problem(cloud: str, name: str, gpu: str | None) -> str | None:
    """Why ``name`` cannot be a pool's instance type on ``cloud`` (``None``: it can)."""
    if (cloud, name) in catalog.NODE_TYPES:
        return None
    refused = catalog.UNSUPPORTED.get((cloud, name))
    if refused:
        return f"{name!r} is refused: {refused.reason}; use instead: {refused.instead}"
    allowed = ", ".join(n.name for n in catalog.node_types(cloud, gpu=gpu if gpu in catalog.GPU_MODELS else None))
    other = catalog.cloud_of(name)
    if other and other != cloud:
        kind = "an EC2 instance type" if other == "aws" else "a GCE machine type"
        return f"{name!r} is {kind} ({other}), but this stack's cloud is {cloud}; allowed: {allowed}"
    return f"{name!r} is not a {cloud} GPU node type in the catalog; allowed: {allowed}"


def _neuron_pool_checks(cfg: PlatformConfig, pool: GpuPoolConfig, key: str, gpu: catalog.GpuModel) -> Iterator[tuple[str, str]]:
    """What a Trainium / Inferentia pool cannot do: NVIDIA-only features and the NVIDIA node group AMI."""
    if pool.time_slicing_replicas:
        yield (
            f"{key}.timeSlicingReplicas",
            f"time-slicing is an NVIDIA device-plugin feature; {gpu.key} is shared by requesting "
            f"{catalog.NEURONCORE_RESOURCE} ({gpu.neuron_cores} per device) instead; allowed: unset",
        )
    if pool.mode == "managed":
        yield (
            f"{key}.mode",
            f"an EKS managed node group here launches the NVIDIA AMI, which has no Neuron driver; allowed for {gpu.key}: karpenter "
            "(Karpenter picks the Neuron variant of the AMI family per instance type)",
        )


def _team_checks(cfg: PlatformConfig, *, totals: bool = True) -> Iterator[tuple[str, str]]:
    ns = NAMESPACE + ":"
    seen: set[str] = set()
    profiles = {p.mig_profile for p in cfg.gpu_pools if p.mig_profile}
    for i, team in enumerate(cfg.teams):
        key = f"{ns}teams[{i}]"
        if team.name in seen:
            yield f"{key}.name", f"duplicate team name {team.name!r}; team names must be unique"
        if team.name in RESERVED_NAMESPACES:
            yield f"{key}.name", f"{team.name!r} is a platform namespace; reserved: {', '.join(sorted(RESERVED_NAMESPACES))}"
        seen.add(team.name)
        if (team.owner_role_arns or team.viewer_role_arns) and cfg.cloud != "aws":
            yield f"{key}.ownerRoleArns", f"EKS access entries; on cloud {cfg.cloud!r} map the groups in your identity provider"
        if team.viewer_role_arns and not team.viewers:
            yield f"{key}.viewerRoleArns", "needs viewers (the group these roles join)"
        for arn in {*team.owner_role_arns, *team.viewer_role_arns} & set(cfg.cluster.admin_role_arns):
            yield f"{key}.ownerRoleArns", f"{arn!r} is already a cluster admin (cluster.adminRoleArns); one access entry per principal"
        for profile in team.quotas.mig:
            if totals and profile not in profiles:  # with a bad pool its profile may be what is missing
                allowed = ", ".join(sorted(profiles)) or "none (no pool sets migProfile)"
                yield f"{key}.quotas.mig.{profile}", f"no GPU pool offers MIG profile {profile!r}; allowed: {allowed}"
    if not totals:
        return
    try:
        capacity = gpu_capacity(cfg)
    except (catalog.CatalogError, IndexError, ValueError):
        return  # already reported by the pool checks
    neuron = capacity.pop(catalog.NEURON_RESOURCE, 0)
    wanted = sum(t.quotas.neuron for t in cfg.teams)
    if wanted > int(neuron * cfg.gpu_overcommit):
        yield (
            f"{ns}teams[*].quotas.neuron",
            f"team Neuron quotas add up to {wanted} devices, above the {neuron} Neuron devices of the Trainium / Inferentia "
            f"pools x gpuOvercommit {cfg.gpu_overcommit:g} = {int(neuron * cfg.gpu_overcommit)}; lower the quotas or raise the pools",
        )
    wanted = sum(t.quotas.gpu for t in cfg.teams)
    allowed = int(capacity.get(None, 0) * cfg.gpu_overcommit)
    if wanted > allowed:
        yield (
            f"{ns}teams[*].quotas.gpu",
            f"team GPU quotas add up to {wanted}, above the GPU ceiling {capacity.get(None, 0)} of the pools without "
            f"migProfile x gpuOvercommit {cfg.gpu_overcommit:g} = {allowed}; lower the quotas, raise the pools or gpuOvercommit",
        )
    for profile in sorted(p for p in capacity if p is not None):
        wanted = sum(t.quotas.mig.get(profile, 0) for t in cfg.teams)
        allowed = int(capacity[profile] * cfg.gpu_overcommit)
        if wanted > allowed:
            yield (
                f"{ns}teams[*].quotas.mig.{profile}",
                f"team MIG quotas add up to {wanted} slices, above the {capacity[profile]} {profile} slices the pools can "
                f"hold x gpuOvercommit {cfg.gpu_overcommit:g} = {allowed}; lower the quotas, raise the pools or gpuOvercommit",
            )


def _monitoring_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    ns = NAMESPACE + ":monitoring."
    mon = cfg.monitoring
    if mon.backend == "managed" and cfg.cloud == "existing":
        yield ns + "backend", "'managed' needs a cloud (Amazon / Google Managed Prometheus); allowed on cloud 'existing': inCluster, none"
    if mon.backend != "inCluster" and mon.grafana and "grafana" in mon.model_fields_set:
        yield ns + "grafana", f"the platform's Grafana comes with backend 'inCluster' (got backend {mon.backend!r}); set grafana: false"
    if mon.backend != "inCluster" and mon.opencost:
        yield ns + "opencost", f"OpenCost reads the in-cluster Prometheus; with backend {mon.backend!r} set opencost: false (or backend inCluster)"
    if mon.backend != "inCluster" and any(t.budget_usd is not None for t in cfg.teams):
        yield (
            ns + "backend",
            f"{mon.backend!r} leaves team budgets (teams[*].budgetUsd) nothing to fire from: cloud budgets cannot see a team's "
            "pod-level spend, the platform alerts from OpenCost's data in the in-cluster Prometheus instead; allowed: inCluster",
        )
    if mon.cost_allocation_tags and cfg.cloud != "aws":
        yield ns + "costAllocationTags", f"AWS cost allocation tags; on cloud {cfg.cloud!r} leave it false"
    if mon.billing_dataset is not None and cfg.cloud != "gcp":
        yield ns + "billingDataset", f"a BigQuery dataset for the GCP billing export; not on cloud {cfg.cloud!r}"
    if mon.smtp is not None and mon.smtp.username and mon.smtp.password is None:
        yield ns + "smtp.password", "required with smtp.username (set it as a secret)"


def gpu_capacity(cfg: PlatformConfig) -> dict[str | None, int]:
    """What team quotas draw on: ``None`` -> whole GPUs of the pools without ``migProfile``,
    MIG profile -> slices of the pools partitioned with it (GPU ceiling x slices per GPU),
    ``aws.amazon.com/neuron`` -> Neuron devices of the Trainium / Inferentia pools.

    A MIG-partitioned pool offers no whole GPUs, so its GPUs never back ``quotas.gpu``.

    :raises catalog.CatalogError: a pool's GPU does not offer its ``migProfile``.
    """
    out: dict[str | None, int] = {None: 0}
    for pool in cfg.gpu_pools:
        if cfg.pool_gpu(pool).is_neuron:  # Neuron devices back quotas.neuron, never quotas.gpu
            out[catalog.NEURON_RESOURCE] = out.get(catalog.NEURON_RESOURCE, 0) + cfg.pool_gpu_ceiling(pool)
            continue
        per_gpu = cfg.pool_gpu(pool).mig_profiles.get(pool.mig_profile) if pool.mig_profile else 1
        if not per_gpu:
            raise catalog.CatalogError(f"pool {pool.name!r}: its GPU has no MIG profile {pool.mig_profile!r}")
        out[pool.mig_profile] = out.get(pool.mig_profile, 0) + cfg.pool_gpu_ceiling(pool) * per_gpu
    return out


def _gcp_and_existing_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    """What ``cloud: gcp`` (GKE, Cloud SQL, Memorystore, GCS) and ``cloud: existing`` need."""
    ns = NAMESPACE + ":"
    if cfg.cloud == "existing":
        if cfg.mlflow.enabled and not cfg.mlflow.existing_database_secret:
            yield ns + "mlflow.existingDatabaseSecret", "required for cloud 'existing' while mlflow is enabled (a Secret in namespace mlflow)"
        if cfg.feast.enabled and not cfg.feast.online_store.existing_endpoint:
            yield ns + "feast.onlineStore.existingEndpoint", "required for cloud 'existing' while feast is enabled (host:port of your Redis)"
        return
    if cfg.cloud != "gcp":
        return
    from components.gcp import cloudsql, data_lake, gpu_node_pool, memorystore

    if cfg.dr.enabled and cfg.dr.region and cfg.region:
        if data_lake.multi_region_of(cfg.region) is None or data_lake.multi_region_of(cfg.region) != data_lake.multi_region_of(cfg.dr.region):
            yield ns + "dr.region", f"{cfg.dr.region!r} and {cfg.region!r} must be on one continent (the lake is a dual-region bucket)"
    if data_lake.LOG_SUFFIX in cfg.data_lake.zones:
        yield ns + "dataLake.zones", f"{data_lake.LOG_SUFFIX!r} is reserved for the lake's access-log bucket on gcp"
    yield from _gke_gpu_direct_checks(cfg)
    account = cfg.gcp.billing_account
    if account is not None and not re.match(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", account):
        yield ns + "gcp.billingAccount", f"{account!r} is not a billing account id such as 012345-6789AB-CDEF01"
    system = cfg.cluster.system_nodes
    if "instance_type" in system.model_fields_set and "." in system.instance_type:
        yield ns + "cluster.systemNodes.instanceType", f"{system.instance_type!r} is an EC2 type; on gcp use a GCE machine type such as e2-standard-4"
    db = cfg.mlflow.database
    if "instance_class" in db.model_fields_set and not cloudsql.is_tier(db.instance_class):
        yield ns + "mlflow.database.instanceClass", f"{db.instance_class!r} is not a Cloud SQL tier; use db-custom-<vCPUs>-<MiB> such as db-custom-2-7680"
    store = cfg.feast.online_store
    if "node_type" in store.model_fields_set and store.node_type not in memorystore.TIERS:
        yield ns + "feast.onlineStore.nodeType", f"{store.node_type!r} is not a Memorystore tier; allowed: {', '.join(memorystore.TIERS)}"
    for i, pool in enumerate(cfg.gpu_pools):
        key = f"{ns}gpuPools[{i}]"
        if len(pool.instance_types) > 1:
            yield f"{key}.instanceTypes", "a GKE node pool has one machine type; list one (or make one pool per type)"
        try:
            accelerator = cfg.pool_gpu(pool).gcp_accelerator
        except (catalog.CatalogError, IndexError):
            continue  # reported by the pool checks
        sizes = gpu_node_pool.GKE_PARTITION_SIZES.get(accelerator or "", ())
        if pool.mig_profile and accelerator and pool.mig_profile not in sizes:
            yield f"{key}.migProfile", f"GKE does not offer MIG partition {pool.mig_profile!r} on {accelerator}; allowed: {', '.join(sizes) or 'none'}"
        if pool.time_slicing_replicas is not None and pool.time_slicing_replicas > 48:
            yield f"{key}.timeSlicingReplicas", "GKE time-sharing allows at most 48 clients per GPU"
        nodes = cfg.pool_node_types(pool)
        if pool.gpu_limit is not None and nodes:
            # a GKE node pool is bounded by its node count: gpuLimit caps maxNodes at gpuLimit // GPUs per node
            least = max(1, pool.min_nodes) * nodes[0].gpus
            if pool.gpu_limit < least:
                yield (
                    f"{key}.gpuLimit",
                    f"{pool.gpu_limit} is below {least}: a GKE pool scales in whole {nodes[0].name} nodes of "
                    f"{nodes[0].gpus} GPU(s) (minNodes {pool.min_nodes}); allowed: {least} or more",
                )


RESERVED_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "karpenter", "gpu-operator", "kueue-system", "mlflow", "feast", "monitoring",
     "jobset-system", "lws-system", "gpudirect-system"}
    | {"jupyterhub", "kserve", "cert-manager"}  # notebooks / serving (components.k8s.jupyterhub, .kserve)
)


# ---- parsing ---------------------------------------------------------------------------------



def _fleet_checks(cfg: PlatformConfig) -> Iterator[tuple[str, str]]:
    """``fleet``: what one stack file can tell (the other stacks are checked by :func:`check_fleet_stacks`)."""
    fleet = cfg.fleet
    key = f"{NAMESPACE}:fleet"
    if fleet.role == "none":
        if fleet.workers or fleet.manager or fleet.api_server:
            yield (f"{key}.role", "is 'none' but workers / manager / apiServer are set; allowed roles: manager, worker")
        return
    if not cfg.kueue.enabled:
        yield (f"{NAMESPACE}:kueue.enabled", f"is false, but fleet.role is {fleet.role!r}: MultiKueue is part of Kueue")
    if not cfg.teams:
        yield (f"{NAMESPACE}:teams", f"is empty, but fleet.role is {fleet.role!r}: a fleet dispatches the teams' jobs")
    teams = [t.name for t in cfg.teams]
    if fleet.role == "manager":
        if fleet.manager or fleet.api_server:
            yield (f"{key}.manager", "manager and apiServer are worker settings; a manager lists its workers")
        if not fleet.workers:
            yield (f"{key}.workers", "is empty; a manager needs at least one worker (stack or kubeconfig)")
        if len(fleet.workers) > 20:
            yield (f"{key}.workers", f"has {len(fleet.workers)} workers; a MultiKueueConfig holds at most 20")
        names = [w.name for w in fleet.workers]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            yield (f"{key}.workers", f"worker name {dup!r} is used twice; names must be unique")
        for i, w in enumerate(fleet.workers):
            where = f"{key}.workers[{i}]"
            if (w.stack is None) == (w.kubeconfig is None):
                yield (where, f"worker {w.name!r} needs exactly one of 'stack' (a stack of this project) or 'kubeconfig' (a cluster we do not manage)")
            elif w.kubeconfig is not None:
                missing = [t for t in teams if t not in w.quotas]
                unknown = [t for t in w.quotas if t not in teams]
                if missing:
                    yield (f"{where}.quotas", f"lacks teams {missing}; a kubeconfig worker states what it admits for every team: {teams}")
                if unknown:
                    yield (f"{where}.quotas", f"names teams {unknown} the manager does not have; allowed: {teams}")
            elif w.quotas:
                yield (f"{where}.quotas", f"is read from stack {w.stack!r}; set quotas only on a kubeconfig worker")
    else:  # worker
        if fleet.workers:
            yield (f"{key}.workers", "a worker lists no workers; set fleet.role: manager on the manager stack")
        if not fleet.manager:
            yield (f"{key}.manager", "is missing; a worker names the manager stack whose teams it mirrors")
        if cfg.cloud == "existing" and not fleet.api_server:
            yield (f"{key}.apiServer", "is missing; on cloud: existing give the https:// URL the manager reaches this cluster's API at")


def _fleet_teams(cfg: PlatformConfig) -> dict[str, str]:
    """What must be the same for a team on every cluster of a fleet: its name and cost center."""
    return {t.name: t.cost_center for t in cfg.teams}


def check_fleet_stacks(cfg: PlatformConfig, stack: str, stacks_dir: Path | None = None) -> None:
    """Check a fleet stack against the stacks it names: a manager's worker stacks exist, are workers of this
    manager and have exactly its teams (same names and cost centers); a worker's manager lists it.

    :raises ConfigError: naming the key path, the other stack and what differs.
    """
    fleet = cfg.fleet
    key = f"{NAMESPACE}:fleet"
    problems: list[tuple[str, str]] = []

    def other(name: str, where: str) -> PlatformConfig | None:
        try:
            return load_stack(name, stacks_dir)
        except ConfigError as err:
            reason = err.problems[0][1] if len(err.problems) == 1 else f"{len(err.problems)} config problems"
            problems.append((where, f"stack {name!r} cannot be read: {reason}"))
            return None

    def same_teams(peer: PlatformConfig, name: str, where: str) -> None:
        mine, theirs = _fleet_teams(cfg), _fleet_teams(peer)
        if mine == theirs:
            return
        diff = sorted(set(mine) ^ set(theirs))
        changed = sorted(t for t in set(mine) & set(theirs) if mine[t] != theirs[t])
        what = []
        if diff:
            what.append(f"teams only on one side: {diff}")
        if changed:
            what.append(f"different costCenter for {changed}")
        problems.append((where, f"stack {name!r} must have the same teams as {stack!r} ({'; '.join(what)}); a job runs under the same team everywhere"))

    if fleet.role == "manager":
        for i, w in enumerate(fleet.workers):
            if w.stack is None:
                continue
            where = f"{key}.workers[{i}].stack"
            if w.stack == stack:
                problems.append((where, "is this stack; Kueue does not support a manager that is its own worker"))
                continue
            peer = other(w.stack, where)
            if peer is None:
                continue
            if peer.fleet.role != "worker" or peer.fleet.manager != stack:
                problems.append((where, f"stack {w.stack!r} must set fleet.role: worker and fleet.manager: {stack}"))
            same_teams(peer, w.stack, where)
    elif fleet.role == "worker" and fleet.manager:
        where = f"{key}.manager"
        peer = other(fleet.manager, where)
        if peer is not None:
            if peer.fleet.role != "manager" or stack not in [w.stack for w in peer.fleet.workers]:
                problems.append((where, f"stack {fleet.manager!r} is not a fleet manager listing {stack!r} in fleet.workers"))
            same_teams(peer, fleet.manager, where)
    if problems:
        raise ConfigError(problems)

def _loc(loc: tuple[Any, ...]) -> str:
    out = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if i else "") + str(part)
    return out


def _pydantic_problems(err: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = tuple(loc[:-1])
            msg = f"unknown key {loc[-1]!r}; allowed: {', '.join(_allowed_keys(parent))}"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        problems.append((_loc(loc), msg))
    return problems


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = PlatformConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            for c in args:
                nested = next((a for a in getattr(c, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)), None)
                if nested:
                    break
        if nested is None:
            return []
        model = nested
    return sorted(f.alias or n for n, f in model.model_fields.items())


SECRET_ONLY_KEYS = ("cluster.kubeconfig", "monitoring.smtp.password", "notebooks.oidc.clientSecret")
"""Config paths whose value must be a Pulumi secret (``pulumi config set --secret --path ...``)."""


def _plain_text_secrets(raw: Mapping[str, Any], secret_keys: Collection[str]) -> Iterator[tuple[str, str]]:
    fleet = raw.get("fleet")
    workers = fleet.get("workers") if isinstance(fleet, Mapping) else None
    for i, worker in enumerate(workers if isinstance(workers, list) else []):
        kubeconfig = worker.get("kubeconfig") if isinstance(worker, Mapping) else None
        if kubeconfig is not None and kubeconfig != SECRET_PLACEHOLDER and "fleet" not in secret_keys:
            yield (
                f"{NAMESPACE}:fleet.workers[{i}].kubeconfig",
                f"is plain text in the stack config (value not shown); it must be a secret: "
                f"pulumi config set --secret --path '{NAMESPACE}:fleet.workers[{i}].kubeconfig' ...",
            )
    for path in SECRET_ONLY_KEYS:
        top, *rest = path.split(".")
        value: Any = raw.get(top)
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and value != SECRET_PLACEHOLDER and top not in secret_keys:
            yield (
                f"{NAMESPACE}:{path}",
                f"is plain text in the stack config (value not shown); it must be a secret: "
                f"pulumi config set --secret --path {NAMESPACE}:{path} ...",
            )


def parse(raw: Mapping[str, Any], *, secret_keys: Collection[str] | None = None) -> PlatformConfig:
    """Validate the ``ml-platform:`` keys (prefix stripped) and return the typed config.

    :param secret_keys: The top-level keys (prefix stripped) that hold secure values; when given,
        a plain-text value of a :data:`SECRET_ONLY_KEYS` path is an error.
    :raises ConfigError: naming every bad key path, its value and what is allowed.
    """
    try:
        cfg = PlatformConfig.model_validate(dict(raw))
    except ValidationError as err:
        raise ConfigError(_pydantic_problems(err)) from None
    problems = list(_plain_text_secrets(raw, secret_keys)) if secret_keys is not None else []
    problems += _cross_checks(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_from_pulumi() -> dict[str, Any]:
    """The ``ml-platform:`` keys of the running Pulumi program's config, prefix stripped."""
    from pulumi.runtime import config as rc

    merged = {**rc.get_config_env(), **rc.CONFIG.get()}
    prefix = NAMESPACE + ":"
    return {k[len(prefix) :]: _decode(v) for k, v in merged.items() if k.startswith(prefix)}


def from_pulumi() -> PlatformConfig:
    """Load and validate the config of the running Pulumi program."""
    import os

    from pulumi.runtime import config as rc

    raw = raw_from_pulumi()
    secure = set(rc.get_config_secret_keys_env())
    secret_keys = [k for k in raw if f"{NAMESPACE}:{k}" in secure or rc.is_config_secret(f"{NAMESPACE}:{k}")]
    cfg = parse(raw, secret_keys=secret_keys)
    problems = runner_problems(cfg, os.environ.get(RUNNER_ENV) or None)
    if problems:  # before anything is registered: a runner that cannot reach the cluster creates nothing
        raise ConfigError(problems)
    return cfg


STACKS_DIR = Path(__file__).resolve().parent.parent / "stacks"
"""Where stack files are read from when no directory is given (the offline plan points it at the
directory of the stack it plans, so a fleet's stacks are read from beside it)."""


def stack_file(stack: str, stacks_dir: Path | None = None) -> Path:
    return (stacks_dir or STACKS_DIR) / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Read a ``Pulumi.<stack>.yaml``; return its ``ml-platform:`` keys and which of them are secret.

    Encrypted values (``secure: v1:...``) cannot be decrypted without the Pulumi CLI, so they are
    replaced by :data:`SECRET_PLACEHOLDER` and reported as secret keys.
    """
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError([(str(path), "no such stack file")]) from None
    except yaml.YAMLError as err:
        raise ConfigError([(str(path), f"not valid YAML: {err}".replace("\n", " "))]) from None
    if not isinstance(doc, dict):
        raise ConfigError([(str(path), "a stack file is a mapping with a 'config:' key")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([(f"{path}:config", "must be a mapping of 'namespace:key' to values")])
    raw: dict[str, Any] = {}
    secret: list[str] = []
    prefix = NAMESPACE + ":"
    for key, value in config.items():
        if not str(key).startswith(prefix):
            continue
        name = str(key)[len(prefix) :]
        raw[name], hidden = _strip_secure(value)
        if hidden:
            secret.append(name)
    return raw, secret


def _strip_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        out, any_secret = {}, False
        for k, v in value.items():
            out[k], s = _strip_secure(v)
            any_secret |= s
        return out, any_secret
    if isinstance(value, list):
        items = [_strip_secure(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def load_stack(stack: str, stacks_dir: Path | None = None) -> PlatformConfig:
    """Read and validate ``stacks/Pulumi.<stack>.yaml``."""
    raw, secret_keys = read_stack_file(stack_file(stack, stacks_dir))
    return parse(raw, secret_keys=secret_keys)


def load_fleet_stack(stack: str, stacks_dir: Path | None = None) -> PlatformConfig:
    """:func:`load_stack` plus the checks against the other stacks of its fleet."""
    cfg = load_stack(stack, stacks_dir)
    check_fleet_stacks(cfg, stack, stacks_dir)
    return cfg
