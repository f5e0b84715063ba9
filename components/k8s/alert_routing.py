"""Alertmanager routing: team-scoped alerts to the owning team, everything else to the platform team.

An alert is team-scoped when it carries the ``namespace`` label of a team namespace (the GPU alerts
keep the namespace of the pod holding the GPU; the budget alerts are stamped with the team's
namespace). The tree is plain Alertmanager configuration (``route`` / ``receivers``), the same for
the in-cluster Alertmanager and Google Managed Prometheus' managed Alertmanager.

SMTP credentials never appear here: the password is read from a file (``smtp_auth_password_file``)
that Alertmanager mounts from a Kubernetes Secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PLATFORM_RECEIVER = "platform"
NULL_RECEIVER = "null"


@dataclass(frozen=True)
class TeamRoute:
    """A team's namespace and where its alerts go (``None``: the platform receiver)."""

    team: str
    namespace: str
    email: str | None = None


@dataclass(frozen=True)
class Smtp:
    """The relay; ``password_file`` is a path inside the Alertmanager pod (a mounted Secret)."""

    smarthost: str
    sender: str
    username: str | None = None
    password_file: str | None = None
    require_tls: bool = True


@dataclass(frozen=True)
class RoutingArgs:
    teams: Sequence[TeamRoute] = ()
    platform_emails: Sequence[str] = ()
    smtp: Smtp | None = None
    group_by: Sequence[str] = field(default_factory=lambda: ("alertname", "namespace"))


def team_receiver(team: str) -> str:
    return f"team-{team}"


def _email_configs(addresses: Sequence[str]) -> list[dict[str, Any]]:
    return [{"to": a, "send_resolved": True} for a in addresses]


def alertmanager_config(args: RoutingArgs) -> dict[str, Any]:
    """The whole Alertmanager configuration (``global``, ``route``, ``receivers``, ``inhibit_rules``)."""
    namespaces = [t.namespace for t in args.teams]
    if len(set(namespaces)) != len(namespaces):
        raise ValueError(f"alertmanager_config: a namespace belongs to one team, got {namespaces}")
    receivers: list[dict[str, Any]] = [
        {"name": NULL_RECEIVER},
        {"name": PLATFORM_RECEIVER, **({"email_configs": _email_configs(args.platform_emails)} if args.platform_emails else {})},
    ]
    routes: list[dict[str, Any]] = [
        # the chart's always-firing heartbeat: nobody should be mailed for it
        {"receiver": NULL_RECEIVER, "matchers": ['alertname="Watchdog"']},
        {"receiver": NULL_RECEIVER, "matchers": ['alertname="InfoInhibitor"']},
    ]
    for team in args.teams:
        name = team_receiver(team.team) if team.email else PLATFORM_RECEIVER
        if team.email:
            receivers.append({"name": name, "email_configs": _email_configs([team.email])})
        # first match wins (continue: false): a team alert reaches its team only
        routes.append({"receiver": name, "matchers": [f'namespace="{team.namespace}"']})
    cfg: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": PLATFORM_RECEIVER,
            "group_by": list(args.group_by),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": [
            {
                "source_matchers": ["severity=critical"],
                "target_matchers": ["severity=~warning|info"],
                "equal": ["namespace", "alertname"],
            },
        ],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }
    if args.smtp is not None:
        s = args.smtp
        glob = cfg["global"]
        glob["smtp_smarthost"] = s.smarthost
        glob["smtp_from"] = s.sender
        glob["smtp_require_tls"] = s.require_tls
        if s.username:
            glob["smtp_auth_username"] = s.username
        if s.password_file:
            glob["smtp_auth_password_file"] = s.password_file
    return cfg


# ---- a small evaluator of Alertmanager's route matching (for tests and `infra` tooling) ----------


def _matcher(text: str) -> tuple[str, str, str]:
    for op in ("=~", "!~", "!=", "="):
        if op in text:
            name, value = text.split(op, 1)
            return name.strip(), op, value.strip().strip('"')
    raise ValueError(f"not an Alertmanager matcher: {text!r}")


def _matches(route: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    import re

    for text in route.get("matchers", []):
        name, op, value = _matcher(text)
        have = labels.get(name, "")
        if op == "=" and have != value:
            return False
        if op == "!=" and have == value:
            return False
        if op == "=~" and not re.fullmatch(value, have):
            return False
        if op == "!~" and re.fullmatch(value, have):
            return False
    return True


def receivers_for(route: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Receivers an alert with ``labels`` is sent to: Alertmanager's depth-first routing tree walk.

    A route matches when all its matchers do; its children are tried in order, the first matching
    child takes the alert unless it sets ``continue: true``; a node none of whose children match
    delivers to its own receiver (inherited from its parent when unset).
    """

    def walk(node: Mapping[str, Any], inherited: str) -> list[str]:
        receiver = node.get("receiver", inherited)
        out: list[str] = []
        for child in node.get("routes", []):
            if _matches(child, labels):
                out += walk(child, receiver)
                if not child.get("continue", False):
                    break
        return out or [receiver]

    return walk(route, route["receiver"])


def addresses_for(config: Mapping[str, Any], labels: Mapping[str, str]) -> set[str]:
    """E-mail addresses an alert with ``labels`` reaches."""
    by_name = {r["name"]: r for r in config["receivers"]}
    out: set[str] = set()
    for name in receivers_for(config["route"], labels):
        out |= {e["to"] for e in by_name[name].get("email_configs", [])}
    return out
