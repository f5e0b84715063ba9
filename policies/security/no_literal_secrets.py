"""MLP-SEC-016: no secret-looking keys with literal values in Helm values or ConfigMaps."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, schema

HELM = "kubernetes:helm.sh/v3:Release"
HELM_V4 = "kubernetes:helm.sh/v4:Chart"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def secret_looking(key: str, cfg: Mapping[str, Any]) -> bool:
    norm = _norm(key)
    if any(norm.startswith(_norm(p)) for p in cfg["allowedPrefixes"]) or norm in {_norm(k) for k in cfg["allowedKeys"]}:
        return False
    return any(norm.endswith(_norm(s)) for s in cfg["secretSuffixes"])


def literal(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def findings(value: Any, cfg: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Paths of literal values under secret-looking keys (and ``{name: X_PASSWORD, value: ...}`` env pairs)."""
    if isinstance(value, Mapping):
        name = value.get("name") if "value" in value else None
        if isinstance(name, str) and secret_looking(name, cfg) and literal(value.get("value")):
            yield f"{path}[name={name}].value"
        for key in value:
            child = value[key]
            sub = f"{path}.{key}" if path else str(key)
            if secret_looking(str(key), cfg) and literal(child):
                yield sub
            else:
                yield from findings(child, cfg, sub)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i in range(len(value)):
            yield from findings(value[i], cfg, f"{path}[{i}]")


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    where = "data" if args.resource_type == CONFIG_MAP else "values"
    for path in findings(get(args.props, where, default={}), cfg, where):
        report(f"{path} holds a literal secret; reference a Kubernetes Secret (existingSecret / secretKeyRef) instead")


POLICY = resource_policy(
    name="mlp-sec-016",
    description="Helm values and ConfigMaps hold no literal secrets (password, token, secret, API key...).",
    severity=Severity.CRITICAL,
    types=(HELM, HELM_V4, CONFIG_MAP),
    check=check,
    config=schema(
        {
            "secretSuffixes": {
                "type": "array",
                "items": {"type": "string"},
                "default": [
                    "password",
                    "passwd",
                    "secret",
                    "token",
                    "apikey",
                    "accesskey",
                    "secretkey",
                    "privatekey",
                    "clientsecret",
                    "credentials",
                    "connectionstring",
                ],
                "description": "A key ending in one of these (case and punctuation ignored) looks secret.",
            },
            "allowedPrefixes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["existing", "use", "enable", "create", "auto", "mount"],
                "description": "Keys starting with these are references or switches, not secrets.",
            },
            "allowedKeys": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Exact keys to ignore.",
            },
        }
    ),
    remediation="Store the value in a Kubernetes Secret (from a Pulumi secret) and point the chart at it.",
)
