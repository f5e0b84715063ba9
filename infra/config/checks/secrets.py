"""Secrets must be Pulumi secrets: a plain-text value of a secret-only key is a mistake."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from infra.config.base import NAMESPACE, SECRET_PLACEHOLDER, Problem

SECRET_ONLY_KEYS = ("cluster.kubeconfig", "monitoring.smtp.password", "notebooks.oidc.clientSecret")
"""Config paths whose value must be a Pulumi secret (``pulumi config set --secret --path ...``)."""


def plain_text_secrets(raw: Mapping[str, Any], secret_keys: Collection[str]) -> Iterator[Problem]:
    fleet = raw.get("fleet")
    workers = fleet.get("workers") if isinstance(fleet, Mapping) else None
    for i, worker in enumerate(workers if isinstance(workers, list) else []):
        kubeconfig = worker.get("kubeconfig") if isinstance(worker, Mapping) else None
        if kubeconfig is not None and kubeconfig != SECRET_PLACEHOLDER and "fleet" not in secret_keys:
            yield (
                f"{NAMESPACE}:fleet.workers[{i}].kubeconfig",
                f"is plain text in the stack config (value not shown); it must be a secret: "
                f"pulumi config set --secret --path '{NAMESPACE}:fleet.workers[{i}].kubeconfig' ...",
            )
    for path in SECRET_ONLY_KEYS:
        top, *rest = path.split(".")
        value: Any = raw.get(top)
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and value != SECRET_PLACEHOLDER and top not in secret_keys:
            yield (
                f"{NAMESPACE}:{path}",
                f"is plain text in the stack config (value not shown); it must be a secret: "
                f"pulumi config set --secret --path {NAMESPACE}:{path} ...",
            )
