"""MLP-SEC-010: managed databases are not reachable from the internet."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, items, resource_policy, truthy

RDS = ("aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance")
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type == CLOUD_SQL:
        ip = get(args.props, "settings", "ipConfiguration", default={})
        if get(ip, "ipv4Enabled") is not False and str(get(ip, "ipv4Enabled")).lower() != "false":
            report(
                "settings.ipConfiguration.ipv4Enabled is not false: the instance gets a public IP; "
                "use private IP only (ipv4_enabled=False, private_network=<vpc>)"
            )
        nets = [str(get(n, "value")) for n in items(get(ip, "authorizedNetworks"))]
        if any(n in ("0.0.0.0/0", "::/0") for n in nets):
            report("authorizedNetworks contains 0.0.0.0/0")
        return
    if truthy(get(args.props, "publiclyAccessible")):
        report("publiclyAccessible is true; keep the database in private subnets (publicly_accessible=False)")


POLICY = resource_policy(
    name="mlp-sec-010",
    description="Databases are private: no public endpoint (RDS publiclyAccessible, Cloud SQL public IP).",
    severity=Severity.CRITICAL,
    types=(*RDS, CLOUD_SQL),
    check=check,
)
