"""A team's AWS identity: an IRSA role for ``<team>/<team>-workloads`` with least-privilege lake access.

The role may read, write and delete objects only under ``teams/<team>/`` of each lake bucket,
list only that prefix, read (never write) the zones marked shared except other teams' prefixes
there, and use the lake key only through S3 of the lake's region. No action is a wildcard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components.aws.data_lake import team_prefix
from components.aws.irsa import IrsaRole, IrsaRoleArgs
from components.base import Component

OWN_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
"""Object actions on the team's own prefix (multipart upload parts are covered by ``s3:PutObject``)."""
READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
LIST_ACTIONS = ("s3:ListBucket",)
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def team_policy(
    team: str,
    bucket_arns: Mapping[str, str],
    *,
    shared_zones: Sequence[str] = (),
    other_teams: Sequence[str] = (),
    kms_key_arn: str,
    region: str,
) -> str:
    """The team role's inline policy JSON.

    :param team: the team name (its prefix is ``teams/<team>/``).
    :param bucket_arns: lake zone -> bucket ARN.
    :param shared_zones: zones every team may read (read-only), besides its own prefix.
    :param other_teams: the other teams; their prefixes in shared zones are explicitly denied.
    :param kms_key_arn: the lake key; usable only through S3 in ``region``.
    :param region: the lake's region.
    """
    prefix = team_prefix(team)
    arns = [bucket_arns[z] for z in sorted(bucket_arns)]
    shared = [bucket_arns[z] for z in sorted(shared_zones)]
    statements: list[dict[str, object]] = [
        {
            "Sid": "OwnPrefixObjects",
            "Effect": "Allow",
            "Action": list(OWN_OBJECT_ACTIONS),
            "Resource": [f"{arn}/{prefix}*" for arn in arns],
        },
        {
            "Sid": "ListOwnPrefix",
            "Effect": "Allow",
            "Action": list(LIST_ACTIONS),
            "Resource": arns,
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
        },
        {
            "Sid": "LakeKeyThroughS3",
            "Effect": "Allow",
            "Action": list(KMS_ACTIONS),
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
    ]
    if shared:
        statements += [
            {
                "Sid": "ReadSharedZones",
                "Effect": "Allow",
                "Action": list(READ_OBJECT_ACTIONS),
                "Resource": [f"{a}/*" for a in shared],
            },
            {"Sid": "ListSharedZones", "Effect": "Allow", "Action": list(LIST_ACTIONS), "Resource": shared},
        ]
        others = sorted(set(other_teams) - {team})
        if others:
            statements += [
                {
                    "Sid": "DenyOtherTeamsInSharedZones",
                    "Effect": "Deny",
                    "Action": list(OWN_OBJECT_ACTIONS),
                    "Resource": [f"{a}/{team_prefix(o)}*" for a in shared for o in others],
                },
            ]
        # listing under teams/ in a shared zone: only the own prefix (structural, not per team)
        statements.append(
            {
                "Sid": "DenyListingOtherTeamsInSharedZones",
                "Effect": "Deny",
                "Action": list(LIST_ACTIONS),
                "Resource": shared,
                "Condition": {"StringLike": {"s3:prefix": ["teams*"]}, "StringNotLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class TeamIamArgs:
    """Arguments of :class:`TeamIam`.

    :param team: the team name (DNS label).
    :param bucket_arns: lake zone -> bucket ARN.
    :param kms_key_arn: the lake's KMS key.
    :param region: the lake's region.
    :param shared_zones: zones readable by every team (must be keys of ``bucket_arns``).
    :param other_teams: every other team (denied in shared zones).
    :param oidc_provider_arn: the cluster's IAM OIDC provider.
    :param oidc_issuer: the cluster's issuer host and path.
    :param pod_identity_cluster: the cluster's name: EKS Pod Identity instead of IRSA (same policy).
    :param namespace: the team's namespace (default: the team name).
    :param service_account: default ``<team>-workloads``.
    :param tags: tags on the role (team and cost center).
    """

    team: str
    bucket_arns: Mapping[str, pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    region: str
    shared_zones: Sequence[str] = ()
    other_teams: Sequence[str] = ()
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer: pulumi.Input[str] | None = None
    pod_identity_cluster: pulumi.Input[str] | None = None
    namespace: str | None = None
    service_account: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _DNS_LABEL.match(self.team) or len(self.team) > 63:
            raise ValueError(f"TeamIam: team {self.team!r} is not a DNS label")
        if not self.bucket_arns:
            raise ValueError("TeamIam: bucket_arns is empty")
        unknown = set(self.shared_zones) - set(self.bucket_arns)
        if unknown:
            raise ValueError(f"TeamIam: shared zones {sorted(unknown)} are not lake zones {sorted(self.bucket_arns)}")
        if not self.region:
            raise ValueError("TeamIam: region is required (kms:ViaService)")


class TeamIam(Component):
    """The team's IRSA role (trusting only ``system:serviceaccount:<namespace>:<service_account>``);
    the AWS provider comes through ``opts``."""

    arn: pulumi.Output[str]
    annotations: dict[str, pulumi.Output[str]]

    def __init__(self, resource_name: str, args: TeamIamArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:TeamIam", resource_name, opts)
        team = args.team
        zones = sorted(args.bucket_arns)
        shared = list(args.shared_zones)
        others = list(args.other_teams)
        region = args.region

        def render(values: list[str]) -> str:
            *arns, key = values
            return team_policy(
                team, dict(zip(zones, arns, strict=True)), shared_zones=shared, other_teams=others, kms_key_arn=key, region=region
            )

        policy = pulumi.Output.all(*[args.bucket_arns[z] for z in zones], args.kms_key_arn).apply(render)
        self.role = IrsaRole(
            resource_name,
            IrsaRoleArgs(
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer,
                pod_identity_cluster=args.pod_identity_cluster,
                namespace=args.namespace or team,
                service_account=args.service_account or f"{team}-workloads",
                policy_document=policy,
                tags=dict(args.tags),
            ),
            self.child_opts(),
        )
        self.publish(arn=self.role.arn, annotations=dict(self.role.annotations))
