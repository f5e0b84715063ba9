"""Cloud SQL for PostgreSQL on a private IP, encrypted with our key, with its passwords kept secret.

Every database gets its own user whose password comes from ``pulumi_random``, is a Pulumi secret
and is stored in Secret Manager (replicated to the regions given). The instance has no public
IP, accepts only TLS, keeps automated backups with point-in-time recovery (optionally stored
in another region) and, with ``high_availability``, a standby in a second zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from catalog.clouds import is_cloud_sql_tier as is_tier
from components.base import Component

_DB = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Credentials:
    """How one database is reached."""

    database: str
    username: str
    password: pulumi.Output[str]
    """A Pulumi secret."""
    secret_id: pulumi.Output[str]
    """Secret Manager secret holding the password."""


@dataclass(frozen=True)
class CloudSqlPostgresArgs:
    """Arguments of :class:`CloudSqlPostgres`.

    :param instance_name: Instance name (unique per project for a week after deletion).
    :param unique_suffix: Append a random suffix to the instance's name: Cloud SQL does not let a
        deleted instance's name be reused for up to a week, so a dev stack destroyed and created
        again under a fixed name fails. Outside prod; prod keeps its stable name.
    :param region: Region of the instance.
    :param network: VPC id with private services access to ``servicenetworking``; pass the
        connection in the component's ``depends_on`` (the instance waits for it).
    :param databases: Database names; each gets a user of the same name.
    :param tier: Machine tier, e.g. ``db-custom-2-7680``.
    :param disk_gb: Initial SSD size (grows automatically).
    :param high_availability: Regional instance with a standby in another zone.
    :param backup_retention_days: Automated backups kept.
    :param backup_location: Region or multi-region to store backups in (DR); default the instance's.
    :param kms_key_id: CMEK key in ``region``.
    :param secret_regions: Regions Secret Manager replicates the passwords to.
    :param deletion_protection: Refuse deletion (prod); also protects and retains the instance.
    :param version: ``POSTGRES_16`` etc.
    :param labels: Labels.
    """

    instance_name: str
    region: str
    network: pulumi.Input[str]
    databases: Sequence[str]
    kms_key_id: pulumi.Input[str]
    tier: str = "db-custom-2-7680"
    disk_gb: int = 50
    high_availability: bool = False
    backup_retention_days: int = 7
    backup_location: str | None = None
    secret_regions: Sequence[str] = ()
    deletion_protection: bool = False
    version: str = "POSTGRES_16"
    unique_suffix: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z]([-a-z0-9]{0,80}[a-z0-9])?$", self.instance_name):
            raise ValueError(f"instance_name {self.instance_name!r} must be lowercase letters, digits and '-'")
        if not is_tier(self.tier):
            raise ValueError(f"tier {self.tier!r} is not a Cloud SQL tier such as db-custom-2-7680")
        if not self.databases or len(set(self.databases)) != len(self.databases):
            raise ValueError("databases must name at least one database, each once")
        for db in self.databases:
            if not _DB.match(db):
                raise ValueError(f"database {db!r} must be lowercase letters, digits and '_'")
        if self.disk_gb < 10:
            raise ValueError("disk_gb must be at least 10")
        if not 1 <= self.backup_retention_days <= 365:
            raise ValueError("backup_retention_days must be between 1 and 365")
        if not self.version.startswith("POSTGRES_"):
            raise ValueError(f"version {self.version!r} is not PostgreSQL")
        if self.unique_suffix and self.deletion_protection:
            raise ValueError("a protected instance keeps its stable name (unique_suffix is for instances torn down)")


class CloudSqlPostgres(Component):
    """A private PostgreSQL instance, its databases and users, passwords in Secret Manager.

    Every child waits for what the component waits for: the private services connection the
    instance's private IP comes from (created before it, deleted after it).
    """

    instance: gcp.sql.DatabaseInstance
    host: pulumi.Output[str]
    connection_name: pulumi.Output[str]
    credentials: dict[str, Credentials]
    """Database -> how to reach it (a plain attribute: :class:`Credentials` is not an output value)."""

    def __init__(self, resource_name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:CloudSqlPostgres", resource_name, opts)
        name = resource_name
        keep = args.deletion_protection
        backup: dict = {
            "enabled": True,
            "point_in_time_recovery_enabled": True,
            "start_time": "03:00",
            "transaction_log_retention_days": min(7, args.backup_retention_days),
            "backup_retention_settings": {"retained_backups": args.backup_retention_days, "retention_unit": "COUNT"},
        }
        if args.backup_location:
            backup["location"] = args.backup_location
        instance_name: pulumi.Input[str] = args.instance_name
        if args.unique_suffix:
            suffix = random.RandomString(f"{name}-name-suffix", length=6, special=False, upper=False, opts=self.child_opts())
            instance_name = pulumi.Output.concat(args.instance_name, "-", suffix.result)
        instance = gcp.sql.DatabaseInstance(
            name,
            name=instance_name,
            region=args.region,
            database_version=args.version,
            encryption_key_name=args.kms_key_id,
            deletion_protection=args.deletion_protection,
            settings={
                "tier": args.tier,
                "edition": "ENTERPRISE",
                "availability_type": "REGIONAL" if args.high_availability else "ZONAL",
                "disk_type": "PD_SSD",
                "disk_size": args.disk_gb,
                "disk_autoresize": True,
                "deletion_protection_enabled": args.deletion_protection,
                "ip_configuration": {
                    "ipv4_enabled": False,
                    "private_network": args.network,
                    "ssl_mode": "ENCRYPTED_ONLY",
                    "enable_private_path_for_google_cloud_services": True,
                },
                "backup_configuration": backup,
                "maintenance_window": {"day": 7, "hour": 4, "update_track": "stable"},
                "insights_config": {"query_insights_enabled": True},
                "database_flags": [
                    {"name": "log_connections", "value": "on"},
                    {"name": "log_disconnections", "value": "on"},
                ],
                "user_labels": dict(args.labels),
            },
            # an instance created before the suffix existed keeps its name (a new one would replace it)
            opts=self.child_opts(keep=keep, ignore_changes=["name"] if args.unique_suffix else None),
        )
        replication = (
            {"user_managed": {"replicas": [{"location": r} for r in args.secret_regions]}}
            if args.secret_regions
            else {"auto": {}}
        )
        credentials: dict[str, Credentials] = {}
        for db in args.databases:
            # PostgreSQL refuses to drop a database with open connections or a role owning objects
            # (the services' tables): on destroy both are left to the instance's deletion
            # (dev) or kept with the retained instance (prod) instead of failing the destroy
            database = gcp.sql.Database(
                f"{name}-{db}", name=db, instance=instance.name, deletion_policy="ABANDON", opts=self.child_opts()
            )
            password = random.RandomPassword(
                f"{name}-{db}-password",
                length=40,
                special=False,
                opts=self.child_opts(protect=args.deletion_protection),
            )
            secret_value: pulumi.Output[str] = pulumi.Output.secret(password.result)
            gcp.sql.User(
                f"{name}-{db}-user",
                name=db,
                instance=instance.name,
                password=secret_value,
                deletion_policy="ABANDON",
                opts=self.child_opts(depends_on=[database]),
            )
            secret = gcp.secretmanager.Secret(
                f"{name}-{db}-secret",
                secret_id=f"{args.instance_name}-{db.replace('_', '-')}-password",
                replication=replication,
                labels=dict(args.labels),
                opts=self.child_opts(keep=keep),
            )
            gcp.secretmanager.SecretVersion(
                f"{name}-{db}-secret-version", secret=secret.id, secret_data=secret_value, opts=self.child_opts()
            )
            credentials[db] = Credentials(database=db, username=db, password=secret_value, secret_id=secret.secret_id)
        self.credentials = credentials
        self.publish(instance=instance, host=instance.private_ip_address, connection_name=instance.connection_name)
