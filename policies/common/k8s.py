"""Kubernetes helpers: which namespaces are team namespaces, pod specs inside workload objects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from catalog import conventions as cv
from policies.common.base import get, items, k8s_meta

NAMESPACE = "kubernetes:core/v1:Namespace"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PLATFORM_NAMESPACES = (
    *SYSTEM_NAMESPACES,
    cv.NS_GPU_OPERATOR,
    cv.NS_KARPENTER,
    cv.NS_KUEUE,
    cv.NS_MLFLOW,
    cv.NS_FEAST,
    cv.NS_MONITORING,
    cv.NS_GPUDIRECT,
)
PLATFORM_NAMESPACES_PROPERTY: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": list(PLATFORM_NAMESPACES),
    "description": "Platform namespaces (not team namespaces).",
}

POD_TEMPLATE_KINDS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}


def is_team_namespace(name: str, labels: Mapping[str, str], platform: Sequence[str]) -> bool:
    """A team namespace: labelled with a team other than the platform, or any non-platform namespace."""
    team = labels.get(cv.TEAM_LABEL)
    if team:
        return team != cv.PLATFORM_TEAM
    return bool(name) and name not in set(platform)


def team_namespaces(resources: Sequence[PolicyResource], platform: Sequence[str]) -> list[tuple[PolicyResource, str]]:
    out = []
    for res in resources:
        if res.resource_type == NAMESPACE:
            name, _, labels = k8s_meta(res.props)
            if is_team_namespace(name, labels, platform):
                out.append((res, name))
    return out


def containers(pod_spec: Any) -> Iterator[tuple[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in items(get(pod_spec, field)):
            yield f"{field}[{get(c, 'name', default='?')}]", c
