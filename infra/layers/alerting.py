"""Who is alerted: the Alertmanager routing tree from the config, the same for every monitoring backend.

Shared by the Kubernetes layer (the in-cluster Alertmanager, Google Managed Prometheus' Alertmanager) and
the AWS layer (Amazon Managed Service for Prometheus' alert manager), so neither imports the other.
"""

from __future__ import annotations

from components.k8s import alert_routing
from infra import config

__all__ = ["routing_args", "team_routes"]


def team_routes(cfg: config.PlatformConfig) -> list[alert_routing.TeamRoute]:
    """Team namespace (the namespace is named after the team and labelled with it) -> team e-mail."""
    return [alert_routing.TeamRoute(team=t.name, namespace=t.name, email=t.email) for t in cfg.teams]


def routing_args(cfg: config.PlatformConfig) -> alert_routing.RoutingArgs:
    smtp = cfg.monitoring.smtp
    relay = (
        alert_routing.Smtp(smarthost=smtp.host, sender=smtp.sender, username=smtp.username, require_tls=smtp.require_tls)
        if smtp is not None
        else None
    )
    return alert_routing.RoutingArgs(teams=tuple(team_routes(cfg)), platform_emails=tuple(cfg.budget.alert_emails), smtp=relay)
