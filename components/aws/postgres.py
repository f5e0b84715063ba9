"""A private, encrypted RDS PostgreSQL instance whose password lives in Secrets Manager."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.secret import StoredSecret, StoredSecretArgs
from components.base import Component

PORT = 5432
_IDENT = r"^[a-z][a-z0-9_]{0,62}$"


@dataclass(frozen=True)
class PostgresDatabaseArgs:
    """Arguments of :class:`PostgresDatabase`.

    :param vpc_id: VPC of the instance.
    :param subnet_ids: private subnets (at least two AZs) for the subnet group.
    :param client_security_group_ids: security groups allowed to reach port 5432 (the cluster's).
    :param kms_key_arn: key encrypting storage, the Secrets Manager secret and Performance Insights.
    :param database: name of the initial database.
    :param username: master user name.
    :param backup_retention_days: automated backup retention (1-35 days).
    :param multi_az: a synchronous standby in a second AZ.
    :param deletion_protection: refuse deletes and take a final snapshot when destroyed.
    :param backup_replication_kms_key_arn: with ``dr_provider``, replicate automated backups to
        the DR provider's region, encrypted with this key there.
    :param tags: extra tags on the DB instance (and its snapshots).
    :param dr_region: with backup replication, also replicate the credentials secret to this region
        (the DR provider's), so a restore there can be opened with the same password.
    """

    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    client_security_group_ids: list[pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    instance_class: str = "db.t4g.medium"
    storage_gb: int = 50
    max_storage_gb: int | None = None
    engine_version: str = "17"
    database: str = "mlflow"
    username: str = "mlflow"
    backup_retention_days: int = 7
    multi_az: bool = False
    deletion_protection: bool = False
    dr_provider: pulumi.ProviderResource | None = None
    backup_replication_kms_key_arn: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    dr_region: str | None = None

    def __post_init__(self) -> None:
        if not self.client_security_group_ids:
            raise ValueError("client_security_group_ids must name at least one security group")
        for what, value in (("database", self.database), ("username", self.username)):
            if not re.match(_IDENT, value):
                raise ValueError(f"{what} {value!r} must be a lowercase identifier ([a-z][a-z0-9_]*)")
        if not self.instance_class.startswith("db."):
            raise ValueError(f"instance_class {self.instance_class!r} is not an RDS class such as db.t4g.medium")
        if not 20 <= self.storage_gb <= 65536:
            raise ValueError("storage_gb must be between 20 and 65536")
        if not 1 <= self.backup_retention_days <= 35:
            raise ValueError("backup_retention_days must be between 1 and 35")
        if (self.dr_provider is None) != (self.backup_replication_kms_key_arn is None):
            raise ValueError("backup replication needs both dr_provider and backup_replication_kms_key_arn")
        if self.dr_region is not None and self.dr_provider is None:
            raise ValueError("dr_region needs dr_provider and backup_replication_kms_key_arn")
        if not re.match(r"^[0-9]{2}(\.[0-9]+)?$", self.engine_version):
            raise ValueError(f"engine_version {self.engine_version!r} must look like 17 or 16.4")


class PostgresDatabase(Component):
    """RDS PostgreSQL in private subnets, reachable only from the given security groups.

    Storage is encrypted with our key, TLS is enforced (``rds.force_ssl``), the master password
    is generated (``pulumi_random``), kept as a Pulumi secret and stored in Secrets Manager as
    JSON (``username``, ``password``, ``host``, ``port``, ``dbname``).

    The AWS provider comes through ``opts``; the DR region's (backup replication) is ``args.dr_provider``.
    Outputs: ``address``, ``port``, ``username``, ``database``, ``password`` (secret), ``secret_arn``,
    ``security_group_id``, ``arn``.
    """

    address: pulumi.Output[str]
    port: pulumi.Output[int]
    username: str
    database: str
    password: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, resource_name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:PostgresDatabase", resource_name, opts)
        name = resource_name
        child = self.child_opts()
        keep = self.child_opts(keep=args.deletion_protection)
        tags = args.tags or None
        # Letters and digits only: besides RDS (which forbids / @ " and space) the password lands
        # in the MLflow chart's auth init container, which splices it into a postgresql:// URL with
        # `sed "s/.../${DB_PASSWORD}/g"` (& / \ break sed; # ? % : [ ] break the URL) and then in an
        # ini file read by configparser (% starts an interpolation). 40 alphanumerics ~ 238 bits.
        password = random.RandomPassword(
            f"{name}-password",
            length=40,
            special=False,
            opts=self.child_opts(protect=args.deletion_protection),
        )
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password.result)

        self.subnet_group = aws.rds.SubnetGroup(
            name, subnet_ids=args.subnet_ids, description=f"{name}: private subnets", opts=child
        )
        self.security_group = aws.ec2.SecurityGroup(
            name,
            vpc_id=args.vpc_id,
            description=f"{name}: PostgreSQL from the cluster only",
            opts=child,
        )
        for i, sg in enumerate(args.client_security_group_ids):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-pg-{i}",
                security_group_id=self.security_group.id,
                referenced_security_group_id=sg,
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description="PostgreSQL from the cluster",
                opts=child,
            )
        major = args.engine_version.split(".")[0]
        self.parameter_group = aws.rds.ParameterGroup(
            name,
            family=f"postgres{major}",
            description=f"{name}: TLS only",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            opts=child,
        )
        protected = args.deletion_protection
        # Performance Insights is not offered on the micro / small burstable classes
        insights = not args.instance_class.endswith((".micro", ".small"))
        self.instance = aws.rds.Instance(
            name,
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.storage_gb,
            max_allocated_storage=args.max_storage_gb or args.storage_gb * 2,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=args.database,
            username=args.username,
            password=secret_password,
            port=PORT,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            parameter_group_name=self.parameter_group.name,
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=protected,
            skip_final_snapshot=not protected,
            final_snapshot_identifier=f"{name}-final" if protected else None,
            delete_automated_backups=not protected,
            performance_insights_enabled=insights,
            performance_insights_kms_key_id=args.kms_key_arn if insights else None,
            auto_minor_version_upgrade=True,
            apply_immediately=not protected,
            tags=tags,
            opts=keep,
        )
        self.backup_replication: aws.rds.InstanceAutomatedBackupsReplication | None = None
        if args.dr_provider is not None:
            self.backup_replication = aws.rds.InstanceAutomatedBackupsReplication(
                name,
                source_db_instance_arn=self.instance.arn,
                kms_key_id=args.backup_replication_kms_key_arn,
                retention_period=args.backup_retention_days,
                opts=self.child_opts(provider=args.dr_provider, retain_on_delete=protected),
            )

        document = pulumi.Output.all(secret_password, self.instance.address).apply(
            lambda v: json.dumps(
                {
                    "engine": "postgres",
                    "username": args.username,
                    "password": v[0],
                    "host": v[1],
                    "port": PORT,
                    "dbname": args.database,
                }
            )
        )
        self.secret = StoredSecret(
            name,
            StoredSecretArgs(
                secret_string=document,
                kms_key_arn=args.kms_key_arn,
                description=f"{name}: PostgreSQL master credentials",
                replica_region=args.dr_region,
                replica_kms_key_arn=args.backup_replication_kms_key_arn if args.dr_region else None,
                protect=args.deletion_protection,
            ),
            opts=self.child_opts(),
        )
        self.publish(
            address=self.instance.address,
            port=self.instance.port,
            username=args.username,
            database=args.database,
            password=secret_password,
            secret_arn=self.secret.arn,
            security_group_id=self.security_group.id,
            arn=self.instance.arn,
        )
