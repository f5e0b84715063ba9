"""MLP-SEC-027: GCP projects log data access (DATA_READ, DATA_WRITE, ADMIN_READ) on the services that hold data."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common.base import Report, environments, get, items, of_type, schema, stack_environment, stack_policy

AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    env = stack_environment(cfg, args.resources)
    if env not in cfg["environments"]:
        return
    if not any(r.resource_type.startswith("gcp:") and not r.resource_type.startswith("pulumi:") for r in args.resources):
        return  # not a GCP stack
    logged: dict[str, set[str]] = {}
    for res in of_type(args.resources, AUDIT_CONFIG):
        service = str(get(res.props, "service", default=""))
        for conf in items(get(res.props, "auditLogConfigs")):
            if items(get(conf, "exemptedMembers")):
                report(
                    f"audit config for {service} exempts {items(get(conf, 'exemptedMembers'))}: their access goes unlogged",
                    res.urn,
                )
            logged.setdefault(service, set()).add(str(get(conf, "logType")))
    for service in cfg["services"]:
        have = logged.get(service, set()) | logged.get("allServices", set())
        missing = [t for t in LOG_TYPES if t not in have]
        if missing:
            report(f"{service}: audit log types {', '.join(missing)} are off; add a gcp.projects.IAMAuditConfig")


POLICY = stack_policy(
    name="mlp-sec-027",
    description="GCP Data Access audit logs (ADMIN_READ, DATA_READ, DATA_WRITE) are on for storage, KMS, Secret Manager and Cloud SQL.",
    severity=Severity.HIGH,
    check=check,
    config=schema(
        {
            "environments": environments(["staging", "prod"], "Environments in which the audit configs are required."),
            "services": {
                "type": "array",
                "items": {"type": "string"},
                "default": [
                    "storage.googleapis.com",
                    "cloudkms.googleapis.com",
                    "secretmanager.googleapis.com",
                    "cloudsql.googleapis.com",
                ],
                "description": "Services whose data access must be logged.",
            },
        },
        env=True,
    ),
    remediation="Add gcp.projects.IAMAuditConfig(service=..., audit_log_configs=[ADMIN_READ, DATA_READ, DATA_WRITE]) per service.",
)
