"""Workload Identity: a Google service account bound to one Kubernetes service account.

Used for every team (``<team>/<team>-workloads``) and for the platform services. Bucket
access is granted per grant: read/write limited to an object prefix with an IAM condition
(objects whose name starts with the prefix, and listings whose ``prefix`` parameter does), or
read-only on a whole bucket, optionally except one prefix (a shared zone minus ``teams/``). Buckets are CMEK-encrypted by the GCS service agent, so the
identity needs no KMS permission at all.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.base import Component

READ_WRITE_ROLE = "roles/storage.objectUser"
READ_ONLY_ROLE = "roles/storage.objectViewer"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
ANNOTATION = "iam.gke.io/gcp-service-account"
"""Kubernetes service-account annotation naming the Google service account to impersonate."""
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def account_id(*parts: str) -> str:
    """A valid service-account id (6-30 chars) from ``parts``, hashed when too long."""
    raw = "-".join(parts)
    if len(raw) > 30:
        raw = f"{raw[:21].rstrip('-')}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"
    return raw.ljust(6, "0")


def prefix_condition(bucket: str, prefix: str) -> str:
    """CEL condition: objects under ``prefix`` of ``bucket``, and listings restricted to it."""
    return (
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") || '
        f'(resource.type == "storage.googleapis.com/Bucket" && '
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}"))'
    )


def excluded_prefix_condition(bucket: str, prefix: str) -> str:
    """CEL condition: everything in ``bucket`` except objects under ``prefix`` and listings into it.

    A listing whose ``prefix`` parameter starts with ``prefix`` without its trailing ``/`` is
    refused too (``teams`` as well as ``teams/x/``); a listing of the bucket root still shows
    the names under ``prefix``, never their content.
    """
    stem = prefix.rstrip("/")
    return (
        f'!resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") && '
        f'!api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{stem}")'
    )


@dataclass(frozen=True)
class BucketGrant:
    """Access to one bucket: read/write under ``prefix``, or read-only everywhere (``prefix=None``).

    :param key: Short stable name for the grant (the lake zone).
    :param bucket: Bucket name.
    :param prefix: Object prefix ending in ``/``; ``None`` for the whole bucket.
    :param read_only: Read-only (objectViewer) instead of read/write (objectUser).
    :param exclude_prefix: With ``prefix=None``: the whole bucket except this prefix (ending in ``/``).
    """

    key: str
    bucket: pulumi.Input[str]
    prefix: str | None = None
    read_only: bool = False
    exclude_prefix: str | None = None

    def __post_init__(self) -> None:
        if not _DNS.match(self.key):
            raise ValueError(f"grant key {self.key!r} must be a DNS label")
        if self.prefix is not None and (not self.prefix.endswith("/") or self.prefix.startswith("/") or '"' in self.prefix):
            raise ValueError(f"prefix {self.prefix!r} must be relative and end with '/'")
        if self.prefix is None and not self.read_only:
            raise ValueError(f"grant {self.key!r}: read/write on a whole bucket is not allowed; give a prefix")
        if self.exclude_prefix is not None:
            if self.prefix is not None:
                raise ValueError(f"grant {self.key!r}: exclude_prefix only applies to a whole-bucket grant (prefix=None)")
            bad = self.exclude_prefix
            if not bad.endswith("/") or bad.startswith("/") or '"' in bad or len(bad) < 2:
                raise ValueError(f"exclude_prefix {bad!r} must be relative and end with '/'")


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    """Arguments of :class:`WorkloadIdentity`.

    :param account_id: Google service-account id (6-30 of a-z 0-9 -).
    :param project: Project id of the cluster's workload pool.
    :param namespace: Kubernetes namespace of the service account.
    :param service_account: Kubernetes service-account name.
    :param grants: Bucket access.
    :param display_name: Human-readable description.
    :param identity_pool: What must exist before ``<project>.svc.id.goog[ns/ksa]`` is a valid IAM
        member: the workload pool exists only once a cluster with Workload Identity does (IAM
        rejects the binding before that), and the pods' node pools serve the GKE metadata server
        (``GKE_METADATA``) they get their tokens from. The binding depends on these resources.
    """

    account_id: str
    project: str
    namespace: str
    service_account: str
    grants: Sequence[BucketGrant] = field(default_factory=tuple)
    display_name: str = ""
    identity_pool: Sequence[pulumi.Resource] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", self.account_id):
            raise ValueError(f"account_id {self.account_id!r} must be 6-30 of a-z, 0-9, '-' starting with a letter")
        for what in ("namespace", "service_account"):
            if not _DNS.match(getattr(self, what)):
                raise ValueError(f"{what} {getattr(self, what)!r} must be a DNS label")
        keys = [g.key for g in self.grants]
        if len(set(keys)) != len(keys):
            raise ValueError("grant keys must be unique")

    @property
    def member(self) -> str:
        """The Kubernetes service account as an IAM principal of the workload pool."""
        return f"serviceAccount:{self.project}.svc.id.goog[{self.namespace}/{self.service_account}]"


class WorkloadIdentity(Component):
    """A Google service account that only one Kubernetes service account may act as."""

    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    annotations: dict[str, pulumi.Output[str]]
    """Annotations for the Kubernetes service account."""

    def __init__(self, resource_name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:WorkloadIdentity", resource_name, opts)
        name = resource_name
        account = gcp.serviceaccount.Account(
            f"{name}-gsa",
            account_id=args.account_id,
            display_name=args.display_name or f"{args.namespace}/{args.service_account}",
            opts=self.child_opts(),
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-wi",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=args.member,
            opts=self.child_opts(depends_on=args.identity_pool),
        )
        for grant in args.grants:
            condition: dict[str, pulumi.Input[str]] | None = None
            bucket: pulumi.Output[str] = pulumi.Output.from_input(grant.bucket)
            if grant.prefix is not None:
                prefix = grant.prefix
                condition = {
                    "title": f"prefix-{grant.key}",
                    "description": f"only objects under {prefix}",
                    "expression": bucket.apply(functools.partial(prefix_condition, prefix=prefix)),
                }
            elif grant.exclude_prefix is not None:
                excluded = grant.exclude_prefix
                condition = {
                    "title": f"except-{grant.key}",
                    "description": f"everything but objects under {excluded}",
                    "expression": bucket.apply(functools.partial(excluded_prefix_condition, prefix=excluded)),
                }
            gcp.storage.BucketIAMMember(
                f"{name}-{grant.key}",
                bucket=grant.bucket,
                role=READ_ONLY_ROLE if grant.read_only else READ_WRITE_ROLE,
                member=account.member,
                condition=condition,
                opts=self.child_opts(),
            )
        self.publish(account=account, email=account.email, annotations={ANNOTATION: account.email})
