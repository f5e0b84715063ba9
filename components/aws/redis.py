"""An ElastiCache Redis replication group: private, TLS, AUTH, encrypted at rest with our key."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.secret import StoredSecret, StoredSecretArgs
from components.base import Component

PORT = 6379


@dataclass(frozen=True)
class RedisCacheArgs:
    """Arguments of :class:`RedisCache`.

    :param subnet_ids: private subnets for the cache subnet group.
    :param client_security_group_ids: security groups allowed to reach port 6379.
    :param kms_key_arn: key for at-rest encryption and the Secrets Manager copy of the token.
    :param replicas: read replicas besides the primary (0-5).
    :param high_availability: multi-AZ with automatic failover (needs ``replicas >= 1``).
    :param snapshot_retention_days: daily snapshots kept (0: none).
    :param protect: protect (and retain on delete) the cache, its AUTH token and the stored secret (prod):
        replacing any of them would cut every feature server off the online store.
    """

    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    client_security_group_ids: list[pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    node_type: str = "cache.t4g.small"
    replicas: int = 1
    high_availability: bool = False
    engine_version: str = "7.1"
    snapshot_retention_days: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False

    def __post_init__(self) -> None:
        if not self.client_security_group_ids:
            raise ValueError("client_security_group_ids must name at least one security group")
        if not self.node_type.startswith("cache."):
            raise ValueError(f"node_type {self.node_type!r} is not an ElastiCache type such as cache.t4g.small")
        if not 0 <= self.replicas <= 5:
            raise ValueError("replicas must be between 0 and 5")
        if self.high_availability and self.replicas < 1:
            raise ValueError("high_availability (multi-AZ, automatic failover) needs replicas >= 1")
        if not re.match(r"^[0-9]+\.[0-9]+$", self.engine_version):
            raise ValueError(f"engine_version {self.engine_version!r} must look like 7.1")
        if not 0 <= self.snapshot_retention_days <= 35:
            raise ValueError("snapshot_retention_days must be between 0 and 35")


class RedisCache(Component):
    """A Redis replication group with in-transit and at-rest encryption and an AUTH token.

    The token is generated (``pulumi_random``), kept as a Pulumi secret and stored in Secrets
    Manager. The AWS provider comes through ``opts``. Outputs: ``host``, ``port``, ``password``
    (secret), ``secret_arn``, ``arn``.
    """

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    password: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, resource_name: str, args: RedisCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:RedisCache", resource_name, opts)
        name = resource_name
        child = self.child_opts()
        tags = args.tags or None

        keep = self.child_opts(keep=args.protect)
        token = random.RandomPassword(
            f"{name}-auth-token",
            length=48,
            special=False,
            opts=self.child_opts(protect=args.protect),
        )
        password: pulumi.Output[str] = pulumi.Output.secret(token.result)

        self.subnet_group = aws.elasticache.SubnetGroup(
            name, subnet_ids=args.subnet_ids, description=f"{name}: private subnets", tags=tags, opts=child
        )
        self.security_group = aws.ec2.SecurityGroup(
            name, vpc_id=args.vpc_id, description=f"{name}: Redis from the cluster only", tags=tags, opts=child
        )
        for i, sg in enumerate(args.client_security_group_ids):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-redis-{i}",
                security_group_id=self.security_group.id,
                referenced_security_group_id=sg,
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description="Redis from the cluster",
                opts=child,
            )
        self.group = aws.elasticache.ReplicationGroup(
            name,
            description=f"{name}: Feast online store",
            engine="redis",
            engine_version=args.engine_version,
            node_type=args.node_type,
            num_cache_clusters=1 + args.replicas,
            port=PORT,
            subnet_group_name=self.subnet_group.name,
            security_group_ids=[self.security_group.id],
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            auth_token=password,
            automatic_failover_enabled=args.high_availability,
            multi_az_enabled=args.high_availability,
            snapshot_retention_limit=args.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            apply_immediately=not args.high_availability,
            tags=tags,
            opts=keep,
        )
        host = self.group.primary_endpoint_address
        document = pulumi.Output.all(password, host).apply(
            lambda v: json.dumps({"host": v[1], "port": PORT, "password": v[0], "tls": True})
        )
        self.secret = StoredSecret(
            name,
            StoredSecretArgs(
                secret_string=document,
                kms_key_arn=args.kms_key_arn,
                description=f"{name}: Redis AUTH token",
                protect=args.protect,
            ),
            opts=self.child_opts(),
        )
        self.publish(
            host=host,
            port=self.group.port.apply(lambda p: p or PORT),
            password=password,
            secret_arn=self.secret.arn,
            arn=self.group.arn,
        )
