"""A secret value kept in AWS Secrets Manager, encrypted with a customer-managed KMS key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.base import Component


@dataclass(frozen=True)
class StoredSecretArgs:
    """Arguments of :class:`StoredSecret`.

    :param secret_string: the value; it is wrapped with :func:`pulumi.Output.secret`.
    :param kms_key_arn: KMS key that encrypts the secret.
    :param description: shown in the console.
    :param replica_region: copy the secret to this region (DR), encrypted with ``replica_kms_key_arn``.
    :param recovery_window_days: days a deleted secret can be restored (0 deletes at once).
    :param protect: protect the secret and retain it on delete (prod).
    """

    secret_string: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    description: str = ""
    replica_region: str | None = None
    replica_kms_key_arn: pulumi.Input[str] | None = None
    recovery_window_days: int = 30
    protect: bool = False

    def __post_init__(self) -> None:
        if self.recovery_window_days != 0 and not 7 <= self.recovery_window_days <= 30:
            raise ValueError("recovery_window_days must be 0 or between 7 and 30")
        if self.replica_kms_key_arn is not None and not self.replica_region:
            raise ValueError("replica_kms_key_arn needs replica_region")


class StoredSecret(Component):
    """A Secrets Manager secret and its current version (the AWS provider comes through ``opts``).

    Outputs: ``arn`` and ``name`` of the secret (never the value).
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: StoredSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:StoredSecret", resource_name, opts)
        name = resource_name
        child = self.child_opts()
        keep = self.child_opts(keep=args.protect)
        replicas = None
        if args.replica_region:
            replicas = [aws.secretsmanager.SecretReplicaArgs(region=args.replica_region, kms_key_id=args.replica_kms_key_arn)]
        self.secret = aws.secretsmanager.Secret(
            name,
            description=args.description or None,
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=args.recovery_window_days,
            replicas=replicas,
            opts=keep,
        )
        self.version = aws.secretsmanager.SecretVersion(
            name,
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(args.secret_string),
            opts=child,
        )
        self.publish(arn=self.secret.arn, name=self.secret.name)
