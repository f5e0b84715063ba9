"""A customer-managed KMS key with rotation, an alias and a key policy naming who may use it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.base import Component

_ALIAS = re.compile(r"^[a-zA-Z0-9/_-]+$")

DEFAULT_VIA_SERVICES = ("s3", "ec2", "eks", "rds", "elasticache", "secretsmanager")
"""Services through which principals of the account may use the key for cryptography."""

ADMIN_ACTIONS = [
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]
"""Key management, no cryptography and no ``CreateGrant`` (grants go through the services only)."""

USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def key_policy(
    *,
    account_id: str,
    region: str,
    partition: str = "aws",
    via_services: Sequence[str] = DEFAULT_VIA_SERVICES,
    cloudwatch_logs: bool = True,
    autoscaling: bool = True,
    cloudtrail_trails: Sequence[str] = (),
    fsx_linked_bucket_arns: Sequence[str] = (),
) -> str:
    """The key policy JSON.

    - the account root administers the key (IAM policies can grant on it), but may use it for
      cryptography only through ``via_services`` in ``region`` (no direct ``kms:Decrypt`` from a laptop);
    - CloudWatch Logs may encrypt this account's log groups in ``region``;
    - the EC2 Auto Scaling service-linked role may use it for encrypted node volumes;
    - CloudTrail may encrypt the log and digest files of ``cloudtrail_trails`` (trail names in
      ``region``), and the account may decrypt CloudTrail files (through IAM policies);
    - FSx for Lustre may read and write the objects of ``fsx_linked_bucket_arns`` (lake buckets a
      data repository association links) through S3 (:func:`fsx_data_repository_statement`).
    """
    root = f"arn:{partition}:iam::{account_id}:root"
    statements: list[dict[str, Any]] = [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root}, "Action": ADMIN_ACTIONS, "Resource": "*"},
    ]
    if via_services:
        statements.append(
            {
                "Sid": "AccountUsesViaServices",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": [*USE_ACTIONS, "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": [f"{svc}.{region}.amazonaws.com" for svc in via_services],
                    }
                },
            }
        )
    if cloudwatch_logs:
        statements.append(
            {
                "Sid": "CloudWatchLogs",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": USE_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}
                },
            }
        )
    if autoscaling:
        slr = f"arn:{partition}:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        statements += [
            {"Sid": "AutoScalingVolumes", "Effect": "Allow", "Principal": {"AWS": slr}, "Action": USE_ACTIONS, "Resource": "*"},
            {
                "Sid": "AutoScalingGrants",
                "Effect": "Allow",
                "Principal": {"AWS": slr},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    if cloudtrail_trails:
        statements += cloudtrail_statements(account_id=account_id, region=region, partition=partition, trails=cloudtrail_trails)
    if fsx_linked_bucket_arns:
        statements.append(fsx_data_repository_statement(account_id=account_id, region=region, bucket_arns=fsx_linked_bucket_arns))
    return json.dumps({"Version": "2012-10-17", "Id": "ml-platform-key", "Statement": statements})


FSX_S3_ACCESS_USERID = "*:FSx"
"""``aws:userid`` of the sessions FSx for Lustre's per-file-system S3 role (``AWSServiceRoleForFSxS3Access_<fs-id>``)
reads and writes a data repository with."""


def fsx_data_repository_statement(*, account_id: str, region: str, bucket_arns: Sequence[str]) -> dict[str, Any]:
    """Let FSx for Lustre import from (and export to) SSE-KMS lake buckets linked by a data repository association.

    The file system reaches S3 as its own service-linked role, ``AWSServiceRoleForFSxS3Access_<fs-id>``, which
    carries S3 permissions but no KMS ones: without a key-policy statement the association fails on the first
    encrypted object. The role is created with the file system (whose id the name carries), after this key,
    which encrypts that file system; ``CreateKey`` / ``PutKeyPolicy`` reject a principal that does not exist
    yet, so the statement cannot name it. It follows the FSx for Lustre user guide, "Working with server-side
    encrypted Amazon S3 buckets", statement for every FSx file system of the account
    (docs.aws.amazon.com/fsx/latest/LustreGuide/s3-server-side-encryption-support.html): any principal, but only
    sessions whose ``aws:userid`` ends in ``:FSx``, of this account, through S3 in ``region``, on these buckets
    (the S3 encryption context is the bucket ARN with bucket keys, which the lake uses, or the object ARN).
    """
    if not bucket_arns:
        raise ValueError("fsx_data_repository_statement: give the linked bucket ARNs")
    return {
        "Sid": "FsxLustreDataRepositories",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": USE_ACTIONS,
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": f"s3.{region}.amazonaws.com"},
            "StringLike": {
                "aws:userid": FSX_S3_ACCESS_USERID,
                "kms:EncryptionContext:aws:s3:arn": [arn for b in sorted(bucket_arns) for arn in (b, f"{b}/*")],
            },
        },
    }


def cloudtrail_statements(*, account_id: str, region: str, partition: str, trails: Sequence[str]) -> list[dict[str, Any]]:
    """Key-policy statements CloudTrail needs to encrypt a trail's files with this key.

    After the CloudTrail user guide, "Configure AWS KMS key policies for CloudTrail": encrypt
    (``GenerateDataKey*``) scoped by ``aws:SourceArn`` to our trails and by the CloudTrail encryption
    context to this account's trails; ``DescribeKey``; ``Decrypt`` for the trail's bucket-key check;
    decryption of log files by the account's principals (granted further through IAM).
    """
    trail_arns = [f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{t}" for t in trails]
    context = {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"}
    service = {"Service": "cloudtrail.amazonaws.com"}
    return [
        {
            "Sid": "CloudTrailEncrypt",
            "Effect": "Allow",
            "Principal": service,
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arns}, "StringLike": context},
        },
        {
            "Sid": "CloudTrailDescribeKey",
            "Effect": "Allow",
            "Principal": service,
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arns}},
        },
        {
            "Sid": "CloudTrailDecryptForBucketKey",
            "Effect": "Allow",
            "Principal": service,
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arns}},
        },
        {
            "Sid": "AccountDecryptsTrailLogs",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": account_id}, "StringLike": context},
        },
    ]


@dataclass(frozen=True)
class KmsKeyArgs:
    """Arguments of :class:`KmsKey`.

    :param alias: alias name without ``alias/`` (``ml-platform-prod``).
    :param account_id: the owning account (from ``get_caller_identity``).
    :param region: the key's region (the provider's region).
    :param description: shown in the console.
    :param partition: the AWS partition.
    :param via_services: services principals of the account may use the key through.
    :param cloudwatch_logs: let CloudWatch Logs encrypt log groups with the key.
    :param autoscaling: let the Auto Scaling service-linked role use it (encrypted node volumes).
    :param cloudtrail_trails: names of the trails (in ``region``) that encrypt their files with the key.
    :param protect: ``protect`` and ``retain_on_delete`` the key (prod).
    :param deletion_window_days: 7-30 days before a scheduled deletion happens.
    :param tags: tags on the key.
    :param fsx_linked_bucket_arns: lake buckets an FSx for Lustre data repository association links (the
        FSx S3 role may use the key through S3 on their objects: :func:`fsx_data_repository_statement`).
    """

    alias: str
    account_id: pulumi.Input[str]
    region: str
    description: str = "ml-platform data key"
    partition: str = "aws"
    via_services: Sequence[str] = DEFAULT_VIA_SERVICES
    cloudwatch_logs: bool = True
    autoscaling: bool = True
    cloudtrail_trails: Sequence[str] = ()
    protect: bool = False
    deletion_window_days: int = 30
    tags: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    fsx_linked_bucket_arns: pulumi.Input[Sequence[str]] = ()

    def __post_init__(self) -> None:
        if not _ALIAS.match(self.alias) or self.alias.startswith("aws/") or self.alias.startswith("alias/"):
            raise ValueError(f"alias {self.alias!r}: give the name without 'alias/', letters, digits, '/', '_' and '-' only")
        if not 7 <= self.deletion_window_days <= 30:
            raise ValueError(f"deletion_window_days {self.deletion_window_days} must be between 7 and 30")
        if not self.region:
            raise ValueError("region is required")


class KmsKey(Component):
    """A symmetric customer-managed key with yearly rotation and an alias (the AWS provider of
    ``args.region`` comes through ``opts``).

    ``opts.depends_on`` reaches the key (and the alias): give it whatever creates the principals the
    policy names (the Auto Scaling service-linked role, :class:`components.aws.service_linked_roles.ServiceLinkedRoles`),
    since ``CreateKey`` rejects a policy naming a principal that does not exist yet.
    """

    arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    alias_name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: KmsKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:KmsKey", resource_name, opts)
        policy = pulumi.Output.all(args.account_id, args.fsx_linked_bucket_arns).apply(
            lambda a: key_policy(
                account_id=a[0],
                region=args.region,
                partition=args.partition,
                via_services=args.via_services,
                cloudwatch_logs=args.cloudwatch_logs,
                autoscaling=args.autoscaling,
                cloudtrail_trails=args.cloudtrail_trails,
                fsx_linked_bucket_arns=a[1],
            )
        )
        self.key = aws.kms.Key(
            resource_name,
            description=args.description,
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=args.deletion_window_days,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            policy=policy,
            tags=dict(args.tags),
            opts=self.child_opts(keep=args.protect),
        )
        self.alias = aws.kms.Alias(
            resource_name, name=f"alias/{args.alias}", target_key_id=self.key.key_id, opts=self.child_opts()
        )
        self.publish(arn=self.key.arn, key_id=self.key.key_id, alias_name=self.alias.name)
