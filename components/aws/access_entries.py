"""EKS access entries that map IAM principals to Kubernetes groups (no cluster-wide access policy).

What a group may do is decided by RBAC bindings elsewhere (a team's owner group is bound to
``edit`` in its namespace only), so an entry here grants nothing by itself: it only tells the
cluster which groups a principal belongs to. One entry per principal (EKS allows no more).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from catalog.clouds import IAM_PRINCIPAL_ARN

_ARN = re.compile(IAM_PRINCIPAL_ARN)
_GROUP = re.compile(r"^[\w.@:+=-]{1,255}$")


class GroupAccessEntries(pulumi.ComponentResource):
    """One ``STANDARD`` access entry per principal with its Kubernetes groups.

    :param cluster_name: the EKS cluster.
    :param groups_by_principal: IAM role/user ARN -> Kubernetes groups.
    :param provider: the AWS provider of the cluster's region.
    """

    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        groups_by_principal: Mapping[str, Sequence[str]],
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        for arn, groups in groups_by_principal.items():
            if not _ARN.match(arn):
                raise ValueError(f"GroupAccessEntries: {arn!r} is not an IAM role or user ARN")
            if not groups:
                raise ValueError(f"GroupAccessEntries: {arn!r} has no groups")
            for group in groups:
                if group.startswith("system:") or not _GROUP.match(group):
                    raise ValueError(f"GroupAccessEntries: group {group!r} is not allowed (no 'system:' groups)")
        if provider is None:
            raise ValueError("GroupAccessEntries: provider is required")
        super().__init__("ml-platform:aws:GroupAccessEntries", name, None, opts)
        self.entries: dict[str, aws.eks.AccessEntry] = {}
        for arn in sorted(groups_by_principal):
            suffix = hashlib.sha256(arn.encode()).hexdigest()[:8]
            self.entries[arn] = aws.eks.AccessEntry(
                f"{name}-{arn.rsplit('/', 1)[-1][:40]}-{suffix}",
                cluster_name=cluster_name,
                principal_arn=arn,
                type="STANDARD",
                kubernetes_groups=sorted(set(groups_by_principal[arn])),
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
        self.register_outputs({"principals": sorted(groups_by_principal)})
