"""AWS foundation: providers, network, KMS keys, data lake, EKS cluster (issue: AWS foundation).

Composition only: every resource lives in a component of ``components/aws``; this module turns
the typed stack config into their arguments and hands the later AWS steps an
:class:`AwsFoundation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.aws.audit_trail import AuditTrail, AuditTrailArgs
from components.aws.data_lake import DataLake, DataLakeArgs, LakeLifecycle, LakeReplica, bucket_name
from components.aws.eks import EksCluster, EksClusterArgs, SystemNodes
from components.aws.guardduty import GuardDuty, GuardDutyArgs
from components.aws.kms import DEFAULT_VIA_SERVICES, KmsKey, KmsKeyArgs
from components.aws.network import Vpc, VpcArgs
from components.aws.service_linked_roles import ServiceLinkedRoles, ServiceLinkedRolesArgs
from components.k8s import training
from infra import config, tagging
from infra.layers.context import CloudLayer, EncryptedVolumes

PARTITION = "aws"
TIER_ZONES = ("raw",)
"""Zones whose objects age into Infrequent Access and Glacier Instant Retrieval."""


class WorkloadIdentityArgs(TypedDict, total=False):
    """The keyword arguments by which :class:`~components.aws.irsa.IrsaRole` (and ``TeamIam``) trust pods."""

    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    pod_identity_cluster: pulumi.Input[str]


@dataclass
class AwsFoundation:
    """Handles the later AWS steps (GPU, teams, services) build on."""

    cfg: config.PlatformConfig
    provider: aws.Provider
    dr_provider: aws.Provider | None
    account_id: pulumi.Output[str]
    partition: str
    region: str
    dr_region: str | None
    vpc: Vpc
    key: KmsKey
    dr_key: KmsKey | None
    lake: DataLake
    cluster: EksCluster
    k8s_provider: k8s.Provider
    audit: AuditTrail | None = None

    def workload_identity_args(self) -> WorkloadIdentityArgs:
        """How :class:`~components.aws.irsa.IrsaRole` trusts pods: the OIDC provider (IRSA) or the cluster (Pod Identity)."""
        if self.cfg.cluster.workload_identity == "podIdentity":
            return {"pod_identity_cluster": self.cluster.name}
        return {"oidc_provider_arn": self.cluster.oidc_provider_arn, "oidc_issuer": self.cluster.oidc_issuer}

    def cloud_layer(self) -> CloudLayer:
        return CloudLayer(
            cloud="aws",
            k8s_provider=self.k8s_provider,
            cluster_name=self.cluster.name,
            driver_preinstalled=True,
            object_store="s3",
            buckets=dict(self.lake.bucket_names),
            region=self.region,
            api_server=self.cluster.cluster.endpoint,
            depends_on=list(self.cluster.depends_on),
            # the EKS GPU AMIs ship the NVIDIA driver and container toolkit
            toolkit_preinstalled=True,
            topology_levels=training.AWS_TOPOLOGY_LEVELS,
            cluster_version=self.cfg.cluster.version,
            cloud_prices=True,
            # EBS CSI driver parameters (kubernetes-sigs/aws-ebs-csi-driver docs/parameters.md); the driver's role
            # may use this key (components.aws.eks.ebs_kms_policy)
            encrypted_volumes=EncryptedVolumes(
                provisioner="ebs.csi.aws.com", parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": self.key.arn}
            ),
        )


def nat_mode(cfg: config.PlatformConfig) -> Literal["single", "perAz"]:
    """``network.natGateways`` in effect (default: one NAT in dev, one per AZ elsewhere; :mod:`infra.config.defaults`)."""
    return config.effective(cfg.network.nat_gateways, "network.natGateways")


def lake_bucket_prefix(cfg: config.PlatformConfig) -> str:
    """Lake bucket names start with this (see :func:`components.aws.data_lake.bucket_name`)."""
    return f"mlp-{cfg.environment}"


def lake_lifecycle(cfg: config.PlatformConfig) -> LakeLifecycle:
    lc = cfg.data_lake.lifecycle
    return LakeLifecycle(
        tier_zones=TIER_ZONES,
        infrequent_access_days=lc.raw_infrequent_access_days,
        glacier_ir_days=lc.raw_glacier_ir_days,
        noncurrent_expiry_days=lc.noncurrent_expiry_days,
        abort_multipart_days=lc.abort_multipart_days,
        log_expiry_days=config.effective(cfg.data_lake.access_log_retention_days, "dataLake.accessLogRetentionDays"),
    )


def lustre_bucket_arns(cfg: config.PlatformConfig, account_id: pulumi.Output[str]) -> pulumi.Output[list[str]] | tuple[()]:
    """ARNs of the lake buckets the Lustre file system links (named as the lake names them, before it exists)."""
    lustre = cfg.data_lake.lustre
    if lustre is None or not lustre.zones:
        return ()
    region = cfg.region or ""
    return account_id.apply(
        lambda acct: [f"arn:{PARTITION}:s3:::{bucket_name(lake_bucket_prefix(cfg), z, acct, region)}" for z in lustre.zones]
    )


def trail_name(cfg: config.PlatformConfig) -> str:
    """Our trail: the full audit trail, or the lake's data-events trail beside an organization trail."""
    return f"mlp-{cfg.environment}-" + ("lake-data-events" if cfg.audit.organization_trail else "audit")


def object_lock_days(cfg: config.PlatformConfig) -> int | None:
    """Object Lock governance retention of the trail bucket: always in prod (default: the retention; :mod:`infra.config.defaults`)."""
    return cfg.audit.object_lock_days


def build(cfg: config.PlatformConfig) -> AwsFoundation:
    assert cfg.region, "validated by config"
    tags = tagging.platform_tags(cfg)
    prod = cfg.is_prod
    provider = aws.Provider("aws", region=cfg.region, default_tags={"tags": tags})
    dr_region = cfg.dr_region
    dr_provider = aws.Provider("aws-dr", region=dr_region, default_tags={"tags": tags}) if dr_region else None
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id

    on_primary = pulumi.ResourceOptions(provider=provider)
    vpc = Vpc(
        "network",
        VpcArgs(
            cidr=cfg.network.cidr,
            region=cfg.region,
            az_count=cfg.network.az_count,
            nat_gateways=nat_mode(cfg),
            cluster_name=cfg.cluster_name,
        ),
        on_primary,
    )
    # the key policies name the Auto Scaling service-linked role: it must exist before CreateKey
    slr = ServiceLinkedRoles(
        "service-linked-roles",
        ServiceLinkedRolesArgs(services=["autoscaling.amazonaws.com"], mode=cfg.aws.autoscaling_service_linked_role),
        on_primary,
    )
    key = KmsKey(
        "platform-key",
        KmsKeyArgs(
            alias=f"{cv.PROJECT}-{cfg.environment}",
            description=f"{cv.PROJECT} {cfg.environment}: data lake, EKS secrets, logs, volumes, databases",
            account_id=account_id,
            region=cfg.region,
            partition=PARTITION,
            cloudtrail_trails=[trail_name(cfg)] if cfg.audit_enabled else (),
            protect=prod,
            # FSx for Lustre encrypts with it too when the lake has a Lustre file system
            via_services=(*DEFAULT_VIA_SERVICES, "fsx") if cfg.data_lake.lustre else DEFAULT_VIA_SERVICES,
            # and its S3 role reads the linked (SSE-KMS) zone buckets with it
            fsx_linked_bucket_arns=lustre_bucket_arns(cfg, account_id),
        ),
        pulumi.ResourceOptions(provider=provider, depends_on=slr.resources or None),
    )
    dr_key = None
    replica = None
    if dr_region and dr_provider:
        dr_key = KmsKey(
            "platform-key-dr",
            KmsKeyArgs(
                alias=f"{cv.PROJECT}-{cfg.environment}-dr",
                description=f"{cv.PROJECT} {cfg.environment}: DR replicas",
                account_id=account_id,
                region=dr_region,
                partition=PARTITION,
                protect=prod,
            ),
            pulumi.ResourceOptions(provider=dr_provider, depends_on=slr.resources or None),
        )
        replica = LakeReplica(
            region=dr_region,
            kms_key_arn=dr_key.arn,
            provider=dr_provider,
            replication_time_control=bool(cfg.dr.fast_lake_replication),
        )

    lake = DataLake(
        "lake",
        DataLakeArgs(
            zones=cfg.data_lake.zones,
            bucket_prefix=lake_bucket_prefix(cfg),
            account_id=account_id,
            region=cfg.region,
            kms_key_arn=key.arn,
            lifecycle=lake_lifecycle(cfg),
            replica=replica,
            protect=prod,
            # lake AND access-log buckets: S3 delivers logs for a while after the last request
            force_destroy=cfg.lake_force_destroy,
            tags={k: tags[k] for k in (cv.TAG_ENVIRONMENT, cv.TAG_PROJECT)},
        ),
        on_primary,
    )

    nodes = cfg.cluster.system_nodes
    cluster = EksCluster(
        "eks",
        EksClusterArgs(
            cluster_name=cfg.cluster_name,
            version=cfg.cluster.version,
            region=cfg.region,
            subnet_ids=vpc.private_subnet_ids,
            kms_key_arn=key.arn,
            public_access_cidrs=cfg.cluster.public_access_cidrs,
            # the VPC (a self-hosted runner, a bastion) and any VPN / peered ranges reach the private endpoint
            private_access_cidrs=[cfg.network.cidr, *cfg.cluster.private_access_cidrs],
            admin_principal_arns=cfg.cluster.admin_role_arns,
            system_nodes=SystemNodes(
                instance_type=config.effective(nodes.instance_type, "cluster.systemNodes.instanceType"),
                min_nodes=nodes.min_nodes,
                max_nodes=nodes.max_nodes,
                disk_gb=nodes.disk_gb,
            ),
            log_retention_days=cfg.control_plane_log_retention_days,
            pod_identity_agent=cfg.cluster.workload_identity == "podIdentity",
            protect=prod,
        ),
        on_primary,
    )

    audit = None
    if cfg.audit_enabled:
        lock_days = object_lock_days(cfg)
        audit = AuditTrail(
            "audit",
            AuditTrailArgs(
                trail_name=trail_name(cfg),
                bucket_name=account_id.apply(lambda acct: f"mlp-{cfg.environment}-audit-{acct}-{cfg.region}"),
                account_id=account_id,
                region=cfg.region,
                kms_key=key.key,
                kms_key_arn=key.arn,
                lake_bucket_arns=[*lake.bucket_arns.values(), *(b.arn for b in lake.replica_buckets.values())],
                retention_days=cfg.audit.retention_days,
                object_lock_days=lock_days,
                organization_trail=cfg.audit.organization_trail,
                partition=PARTITION,
                protect=prod,
                # dev and staging tear down cleanly (CloudTrail keeps delivering for a while, and the bucket is versioned);
                # a locked bucket cannot be emptied, so Object Lock (always in prod) turns it off
                force_destroy=cfg.lake_force_destroy and lock_days is None,
                tags={k: tags[k] for k in (cv.TAG_ENVIRONMENT, cv.TAG_PROJECT)},
            ),
            on_primary,
        )
        pulumi.export("auditTrailArn", audit.arn)
        pulumi.export("auditLogBucket", audit.bucket_name)

    gd = cfg.security.guard_duty
    if gd.eks_runtime_monitoring or gd.s3_protection:
        GuardDuty(
            "guardduty",
            GuardDutyArgs(
                runtime_monitoring=gd.eks_runtime_monitoring,
                s3_protection=gd.s3_protection,
                existing_detector_id=gd.existing_detector_id,
            ),
            pulumi.ResourceOptions(provider=provider, depends_on=[cluster.cluster]),
        )

    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("lakeBuckets", lake.bucket_names)
    if lake.replica_buckets:
        pulumi.export("lakeReplicaBuckets", lake.replica_bucket_names)
    pulumi.export("kmsKeyArn", key.arn)
    if dr_key is not None:
        pulumi.export("drKmsKeyArn", dr_key.arn)
        pulumi.export("drRegion", dr_region)

    return AwsFoundation(
        cfg=cfg,
        provider=provider,
        dr_provider=dr_provider,
        account_id=account_id,
        partition=PARTITION,
        region=cfg.region,
        dr_region=dr_region,
        vpc=vpc,
        key=key,
        dr_key=dr_key,
        lake=lake,
        cluster=cluster,
        k8s_provider=cluster.k8s_provider,
        audit=audit,
    )
