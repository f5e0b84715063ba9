"""FSx for Lustre next to the data lake: a scratch-fast file system whose directories are lake zones.

:class:`LakeLustre` registers

* a ``PERSISTENT_2`` Lustre file system in one subnet (the zone the training pools run in),
  encrypted with the platform key, LZ4-compressed, protected (and retained) in prod;
* a security group letting the cluster's nodes reach it and the file servers each other (TCP 988 and
  1018-1023 in and out, Lustre's ports), and a rule on the nodes' (cluster) security group admitting the
  file servers (TCP 988 and 1021-1023): FSx user guide, "File system access control with Amazon VPC",
  server and "Lustre client VPC security group rules". The cluster security group EKS creates already
  allows all egress; the file servers' group has no default egress (the provider removes it), hence the
  explicit outbound rules, and HTTPS to the S3 gateway endpoint for the data repository associations;
* one data repository association (DRA) per linked lake zone: ``/<zone>`` on the file system is
  ``s3://<zone bucket>/``, its listing imported when the DRA is created and kept current as objects
  change (automatic import); nothing is exported (the lake stays the source of truth);
* the FSx CSI driver (pinned chart) with an IRSA role, and a static PersistentVolume per team,
  pre-bound to the claim ``lustre`` in the team's namespace (the Kubernetes layer makes the claims:
  :class:`components.k8s.training.TeamVolumeClaims`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from catalog.clouds import fsx_lustre_capacity_valid as valid_capacity
from components.aws.irsa import IrsaRole, IrsaRoleArgs
from components.base import Component
from components.k8s.helm import pinned_release

CHART = "aws-fsx-csi-driver"
CHART_REPO = "https://kubernetes-sigs.github.io/aws-fsx-csi-driver"
CHART_VERSION = "1.17.0"
"""Pinned chart version (a test compares it with the pinned upstream ``Chart.yaml``)."""
CSI_DRIVER = "fsx.csi.aws.com"
CLAIM = "lustre"
"""The PersistentVolumeClaim in each team namespace that the team's Lustre volume is pre-bound to."""
CONTROLLER_SA = "fsx-csi-controller-sa"
NAMESPACE = "kube-system"
LUSTRE_VERSION = "2.15"
THROUGHPUTS = (125, 250, 500, 1000)
"""PERSISTENT_2 throughput tiers, MB/s per TiB of storage."""
LUSTRE_PORTS = ((988, 988), (1018, 1023))
"""TCP ports of the file servers' security group, in from and out to itself and the clients (LNet)."""
CLIENT_PORTS = ((988, 988), (1021, 1023))
"""TCP ports the clients' security group admits from the file servers (Lustre servers open connections to
clients too, e.g. lock callbacks; "Lustre client VPC security group rules")."""


def csi_policy() -> dict[str, object]:
    """The CSI controller's policy for static volumes of an existing file system: it only describes
    file systems (dynamic provisioning, which creates file systems, is not used)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DescribeFileSystems", "Effect": "Allow", "Action": ["fsx:DescribeFileSystems"], "Resource": "*"}],
    }


@dataclass(frozen=True)
class LakeLustreArgs:
    """Inputs of :class:`LakeLustre`.

    :param subnet_id: The one private subnet (availability zone) of the file system.
    :param vpc_id: Its VPC.
    :param client_security_group_id: The nodes' security group (the EKS cluster security group).
    :param zone_buckets: Lake zone -> bucket name, for each zone linked by a DRA.
    :param storage_gb: Storage capacity (1200, or a multiple of 2400).
    :param throughput_mb_per_tib: 125, 250, 500 or 1000.
    :param kms_key_arn: The platform key.
    :param protect: Protect (and retain) the file system and its DRAs (prod).
    :param teams: Team -> namespace: a PersistentVolume per team, pre-bound to ``<namespace>/lustre``.
    :param oidc_provider_arn: The cluster's IAM OIDC provider (IRSA of the CSI controller).
    :param oidc_issuer: Issuer host and path, without ``https://``.
    :param tags: Tags of the AWS resources.
    """

    subnet_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    client_security_group_id: pulumi.Input[str]
    zone_buckets: Mapping[str, pulumi.Input[str]]
    storage_gb: int
    throughput_mb_per_tib: int
    kms_key_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    protect: bool = False
    s3_prefix_list_id: pulumi.Input[str] | None = None
    """The VPC's S3 gateway endpoint prefix list: the file servers may reach S3 over HTTPS (the
    security group has no default allow-all egress; the data repository associations read S3)."""
    teams: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.zone_buckets:
            raise ValueError("LakeLustre: link at least one lake zone (zone_buckets)")
        if not valid_capacity(self.storage_gb):
            raise ValueError(f"LakeLustre: storage_gb {self.storage_gb} must be 1200 or a multiple of 2400")
        if self.throughput_mb_per_tib not in THROUGHPUTS:
            raise ValueError(f"LakeLustre: throughput_mb_per_tib must be one of {THROUGHPUTS}")


class LakeLustre(Component):
    """FSx for Lustre linked to lake zones, with the CSI driver and a volume per team.

    Providers through ``opts``: ``providers={"aws": ..., "kubernetes": ...}``. Outputs:
    ``file_system_id``, ``dns_name``, ``zones``.
    """

    file_system_id: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    zones: list[str]

    def __init__(self, resource_name: str, args: LakeLustreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:LakeLustre", resource_name, opts)
        name = resource_name
        tags = dict(args.tags)
        aws_opts = self.child_opts()
        kept = self.child_opts(keep=args.protect)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="FSx for Lustre: nodes and file servers",
            tags={**tags, "Name": f"{name}-lustre"},
            opts=aws_opts,
        )
        rules: list[pulumi.Resource] = []
        peers = ((args.client_security_group_id, "nodes"), (self.security_group.id, "self"))
        directions = (
            (aws.vpc.SecurityGroupIngressRule, "", "from"),
            (aws.vpc.SecurityGroupEgressRule, "-out", "to"),
        )
        for low, high in LUSTRE_PORTS:
            for rule_type, suffix, way in directions:
                for peer, label in peers:
                    rules.append(
                        rule_type(
                            f"{name}-{label}{suffix}-{low}",
                            security_group_id=self.security_group.id,
                            referenced_security_group_id=peer,
                            ip_protocol="tcp",
                            from_port=low,
                            to_port=high,
                            description=f"Lustre {low}-{high} {way} {label}",
                            opts=aws_opts,
                        )
                    )
        for low, high in CLIENT_PORTS:
            # on the nodes' group: the file servers connect back to their clients
            rules.append(
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-client-in-{low}",
                    security_group_id=args.client_security_group_id,
                    referenced_security_group_id=self.security_group.id,
                    ip_protocol="tcp",
                    from_port=low,
                    to_port=high,
                    description=f"Lustre {low}-{high} from the FSx file servers",
                    opts=aws_opts,
                )
            )
        if args.s3_prefix_list_id is not None:
            rules.append(
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-s3-out",
                    security_group_id=self.security_group.id,
                    prefix_list_id=args.s3_prefix_list_id,
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    description="S3 (data repository associations) through the gateway endpoint",
                    opts=aws_opts,
                )
            )
        self.file_system = aws.fsx.LustreFileSystem(
            f"{name}-fs",
            deployment_type="PERSISTENT_2",
            storage_capacity=args.storage_gb,
            per_unit_storage_throughput=args.throughput_mb_per_tib,
            storage_type="SSD",
            file_system_type_version=LUSTRE_VERSION,
            data_compression_type="LZ4",
            subnet_ids=args.subnet_id,  # one subnet (this provider version types it as a string)
            security_group_ids=[self.security_group.id],
            kms_key_id=args.kms_key_arn,
            copy_tags_to_backups=True,
            automatic_backup_retention_days=7 if args.protect else 0,
            tags={**tags, "Name": name},
            opts=self.child_opts(depends_on=rules, keep=args.protect),
        )
        self.associations = {
            zone: aws.fsx.DataRepositoryAssociation(
                f"{name}-{zone}",
                file_system_id=self.file_system.id,
                data_repository_path=pulumi.Output.from_input(bucket).apply(lambda b: f"s3://{b}/"),
                file_system_path=f"/{zone}",
                batch_import_meta_data_on_create=True,
                s3={"auto_import_policy": {"events": ["NEW", "CHANGED", "DELETED"]}},
                tags=tags,
                opts=kept,
            )
            for zone, bucket in sorted(args.zone_buckets.items())
        }

        # -- the CSI driver (IRSA) and a volume per team --------------------------------------------
        self.csi_role = IrsaRole(
            f"{name}-csi",
            IrsaRoleArgs(
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer,
                namespace=NAMESPACE,
                service_account=CONTROLLER_SA,
                policy_document=json.dumps(csi_policy()),
                tags=tags,
            ),
            self.child_opts(),
        )
        self.release = pinned_release(
            f"{name}-csi",
            release="aws-fsx-csi-driver",
            chart=CHART,
            repo=CHART_REPO,
            version=CHART_VERSION,
            namespace=NAMESPACE,
            values={
                "controller": {
                    "serviceAccount": {"name": CONTROLLER_SA, "annotations": {"eks.amazonaws.com/role-arn": self.csi_role.arn}},
                }
            },
            opts=self.child_opts(),
        )
        self.volumes: dict[str, k8s.core.v1.PersistentVolume] = {}
        after = self.child_opts(depends_on=[self.release, *self.associations.values()])
        size = f"{args.storage_gb}Gi"
        for team, namespace in sorted(args.teams.items()):
            pv_name = f"lustre-{team}"
            self.volumes[team] = k8s.core.v1.PersistentVolume(
                f"{name}-pv-{team}",
                metadata={"name": pv_name, "labels": {cv.TEAM_LABEL: team, cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                spec={
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    # pre-bound: only this team's claim can take the volume
                    "claimRef": {"namespace": namespace, "name": CLAIM},
                    "mountOptions": ["flock"],
                    "csi": {
                        "driver": CSI_DRIVER,
                        "volumeHandle": self.file_system.id.apply(lambda i, t=team: f"{i}::{t}"),
                        "volumeAttributes": {"dnsname": self.file_system.dns_name, "mountname": self.file_system.mount_name},
                    },
                },
                opts=after,
            )
        self.publish(file_system_id=self.file_system.id, dns_name=self.file_system.dns_name, zones=sorted(args.zone_buckets))
