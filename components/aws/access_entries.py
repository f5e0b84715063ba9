"""EKS access entries that map IAM principals to Kubernetes groups (no cluster-wide access policy).

What a group may do is decided by RBAC bindings elsewhere (a team's owner group is bound to
``edit`` in its namespace only), so an entry here grants nothing by itself: it only tells the
cluster which groups a principal belongs to. One entry per principal (EKS allows no more).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from catalog.clouds import IAM_PRINCIPAL_ARN
from components.base import Component

_ARN = re.compile(IAM_PRINCIPAL_ARN)
_GROUP = re.compile(r"^[\w.@:+=-]{1,255}$")


@dataclass(frozen=True)
class GroupAccessEntriesArgs:
    """Arguments of :class:`GroupAccessEntries`.

    :param cluster_name: the EKS cluster.
    :param groups_by_principal: IAM role/user ARN -> Kubernetes groups.
    """

    cluster_name: pulumi.Input[str]
    groups_by_principal: Mapping[str, Sequence[str]]

    def __post_init__(self) -> None:
        for arn, groups in self.groups_by_principal.items():
            if not _ARN.match(arn):
                raise ValueError(f"GroupAccessEntries: {arn!r} is not an IAM role or user ARN")
            if not groups:
                raise ValueError(f"GroupAccessEntries: {arn!r} has no groups")
            for group in groups:
                if group.startswith("system:") or not _GROUP.match(group):
                    raise ValueError(f"GroupAccessEntries: group {group!r} is not allowed (no 'system:' groups)")


class GroupAccessEntries(Component):
    """One ``STANDARD`` access entry per principal with its Kubernetes groups (the AWS provider of
    the cluster's region comes through ``opts``)."""

    entries: dict[str, aws.eks.AccessEntry]
    principals: list[str]

    def __init__(self, resource_name: str, args: GroupAccessEntriesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:GroupAccessEntries", resource_name, opts)
        groups_by_principal = args.groups_by_principal
        self.entries = entries = {}
        for arn in sorted(groups_by_principal):
            suffix = hashlib.sha256(arn.encode()).hexdigest()[:8]
            entries[arn] = aws.eks.AccessEntry(
                f"{resource_name}-{arn.rsplit('/', 1)[-1][:40]}-{suffix}",
                cluster_name=args.cluster_name,
                principal_arn=arn,
                type="STANDARD",
                kubernetes_groups=sorted(set(groups_by_principal[arn])),
                opts=self.child_opts(),
            )
        self.publish(principals=sorted(groups_by_principal))
