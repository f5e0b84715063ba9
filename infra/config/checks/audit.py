"""Audit logging and GuardDuty."""

from __future__ import annotations

from collections.abc import Iterator

from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def audit_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":audit."
    audit = cfg.audit
    if cfg.environment in ("staging", "prod") and audit.enabled is False:
        yield (
            ns + "enabled",
            f"false is not allowed in {cfg.environment}: audit logging is on in staging and prod (optional in dev only)",
        )
    if audit.object_lock_days is not None and audit.object_lock_days > audit.retention_days:
        yield (
            ns + "objectLockDays",
            f"{audit.object_lock_days} exceeds retentionDays ({audit.retention_days}); locked logs cannot expire earlier",
        )
    gd = cfg.security.guard_duty
    if cfg.cloud != "aws" and (gd.eks_runtime_monitoring or gd.s3_protection):
        yield NAMESPACE + ":security.guardDuty", f"GuardDuty is AWS only; cloud {cfg.cloud!r}"
    if audit.organization_trail and cfg.cloud != "aws":
        yield ns + "organizationTrail", f"an AWS CloudTrail name; cloud {cfg.cloud!r} has no CloudTrail"
