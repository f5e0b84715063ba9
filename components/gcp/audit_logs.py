"""GCP audit logging: Data Access audit logs for the services holding data, routed to a locked log bucket.

- ``gcp.projects.IAMAuditConfig`` turns on ``ADMIN_READ``, ``DATA_READ`` and ``DATA_WRITE`` audit logs
  for Cloud Storage, Cloud KMS, Secret Manager and Cloud SQL on the project (Admin Activity logs are
  always on). Data Access logs are off by default because of their volume; without them nobody can
  tell who read an object of the lake.
- a Cloud Logging bucket (``gcp.logging.ProjectBucketConfig``) in the lake's location with a
  retention; ``locked`` in prod (a locked bucket cannot be deleted, nor its retention shortened,
  and the lock cannot be undone);
- a project sink routing every audit log (``cloudaudit.googleapis.com``: activity, data access,
  system event, policy) and the GKE control-plane logs into that bucket. A sink whose destination
  is a log bucket of the same project needs no grant to its writer identity.

Audit logs also stay in the ``_Required`` (400 days, admin activity) and ``_Default`` (30 days)
buckets; the locked bucket keeps them for ``retention_days``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.base import Component

AUDITED_SERVICES = (
    "storage.googleapis.com",
    "cloudkms.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudsql.googleapis.com",
)
"""The services whose Data Access logs are turned on (their audit-log service names)."""
LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
SINK_FILTER = 'logName:"/logs/cloudaudit.googleapis.com%2F" OR resource.type="k8s_control_plane_component"'
"""Every audit log stream, plus GKE's control-plane component logs."""
_BUCKET_ID = re.compile(r"^[A-Za-z0-9_-]{3,100}$")


@dataclass(frozen=True)
class AuditLogsArgs:
    """:param project: the project audited.
    :param location: the log bucket's location (the lake's: a region, or ``us`` / ``eu``).
    :param bucket_id: the log bucket's id.
    :param retention_days: 1-3650 days.
    :param locked: lock the bucket (prod; irreversible).
    :param services: services whose Data Access logs are turned on.
    :param protect: protect and retain the bucket (prod).
    """

    project: str
    location: str
    bucket_id: str
    retention_days: int = 365
    locked: bool = False
    services: Sequence[str] = AUDITED_SERVICES
    protect: bool = False

    def __post_init__(self) -> None:
        if not _BUCKET_ID.match(self.bucket_id):
            raise ValueError(f"bucket_id {self.bucket_id!r}: 3-100 of letters, digits, '_' and '-'")
        if not 1 <= self.retention_days <= 3650:
            raise ValueError(f"retention_days {self.retention_days}: Cloud Logging keeps logs 1 to 3650 days")
        if not self.location:
            raise ValueError("location is required (the lake's location)")
        if self.locked and not self.protect:
            raise ValueError("locked without protect: a locked log bucket cannot be deleted; protect it too")
        for svc in self.services:
            if not svc.endswith(".googleapis.com"):
                raise ValueError(f"service {svc!r} is not a service name such as storage.googleapis.com")


class AuditLogs(Component):
    """Data Access audit configs, the locked log bucket and the sink into it."""

    configs: list[gcp.projects.IAMAuditConfig]
    bucket: gcp.logging.ProjectBucketConfig
    sink: gcp.logging.ProjectSink

    def __init__(self, resource_name: str, args: AuditLogsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:AuditLogs", resource_name, opts)
        configs = [
            gcp.projects.IAMAuditConfig(
                f"{resource_name}-{svc.split('.')[0]}",
                project=args.project,
                service=svc,
                audit_log_configs=[{"log_type": t} for t in LOG_TYPES],
                opts=self.child_opts(),
            )
            for svc in args.services
        ]
        bucket = gcp.logging.ProjectBucketConfig(
            f"{resource_name}-bucket",
            project=args.project,
            location=args.location,
            bucket_id=args.bucket_id,
            retention_days=args.retention_days,
            locked=args.locked,
            description="ml-platform audit logs (Data Access and Admin Activity, GKE control plane)",
            opts=self.child_opts(keep=args.protect),
        )
        sink = gcp.logging.ProjectSink(
            f"{resource_name}-sink",
            name=f"{args.bucket_id}-sink",
            project=args.project,
            destination=f"logging.googleapis.com/projects/{args.project}/locations/{args.location}/buckets/{args.bucket_id}",
            filter=SINK_FILTER,
            unique_writer_identity=True,
            opts=self.child_opts(depends_on=[bucket]),
        )
        self.publish(configs=configs, bucket=bucket, sink=sink)
