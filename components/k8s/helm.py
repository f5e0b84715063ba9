"""Helm releases of pinned charts, installed the same way by every component.

Every release is ``atomic`` (a failed install or upgrade rolls back rather than leaving a
half-applied chart) and ``cleanup_on_fail`` (resources a failed upgrade created are removed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def pinned_release(
    resource_name: str,
    *,
    release: str,
    chart: str,
    version: str,
    namespace: pulumi.Input[str],
    values: pulumi.Input[Mapping[str, Any]],
    repo: str | None = None,
    timeout: int | None = None,
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    """A ``helm.v3.Release`` of ``chart`` at exactly ``version``.

    :param release: Helm release name.
    :param repo: Chart repository URL (``None`` for an ``oci://`` chart).
    :param timeout: Seconds Helm waits for the release to become ready (chart default if ``None``).
    """
    if not version:
        raise ValueError(f"{resource_name}: a chart version is required (releases are pinned)")
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        namespace=namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo) if repo else None,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout,
        opts=opts,
    )


def disruption_budget(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """A PodDisruptionBudget letting at most one of the selected pods be evicted at a time."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": dict(labels)},
        spec={"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
        opts=opts,
    )
