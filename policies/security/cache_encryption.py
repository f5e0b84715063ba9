"""MLP-SEC-012: caches encrypt data in transit and at rest."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, truthy

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CLUSTER = "aws:elasticache/cluster:Cluster"
MEMORYSTORE = "gcp:redis/instance:Instance"


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type == MEMORYSTORE:
        if get(args.props, "transitEncryptionMode") != "SERVER_AUTHENTICATION":
            report("transitEncryptionMode is not SERVER_AUTHENTICATION: clients talk to Redis in plain text")
        return
    if args.resource_type == CLUSTER and get(args.props, "replicationGroupId"):
        return  # a member of a replication group: the group carries the settings
    if not truthy(get(args.props, "transitEncryptionEnabled")):
        report("transitEncryptionEnabled is not true")
    if args.resource_type == REPLICATION_GROUP and not truthy(get(args.props, "atRestEncryptionEnabled")):
        report("atRestEncryptionEnabled is not true")
    if args.resource_type == CLUSTER and get(args.props, "engine") == "redis":
        report("a standalone ElastiCache Redis cluster cannot encrypt at rest; use a ReplicationGroup")


POLICY = resource_policy(
    name="mlp-sec-012",
    description="Caches (ElastiCache, Memorystore) encrypt traffic in transit and data at rest.",
    severity=Severity.HIGH,
    types=(REPLICATION_GROUP, CLUSTER, MEMORYSTORE),
    check=check,
)
