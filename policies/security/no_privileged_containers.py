"""MLP-SEC-019: no privileged containers outside the GPU operator's namespace (and GKE's GPUDirect installers')."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from catalog import conventions as cv
from policies.common import k8s
from policies.common.base import Report, get, k8s_meta, resource_policy, schema, truthy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    _, namespace, _ = k8s_meta(args.props)
    if namespace in set(cfg["allowedNamespaces"]):
        return
    pod_spec = get(args.props, *k8s.POD_TEMPLATE_KINDS[args.resource_type], default={})
    for where, container in k8s.containers(pod_spec):
        sc = get(container, "securityContext", default={})
        if truthy(get(sc, "privileged")):
            report(f"{where} is privileged in namespace {namespace or 'default'!r}")
        if truthy(get(sc, "allowPrivilegeEscalation")) and cfg["denyPrivilegeEscalation"]:
            report(f"{where} allows privilege escalation")


POLICY = resource_policy(
    name="mlp-sec-019",
    description="No privileged containers outside the GPU operator namespace.",
    severity=Severity.HIGH,
    types=k8s.POD_TEMPLATE_KINDS,
    check=check,
    config=schema(
        {
            "allowedNamespaces": {
                "type": "array",
                "items": {"type": "string"},
                "default": [cv.NS_GPU_OPERATOR, cv.NS_GPUDIRECT],
                "description": "Namespaces where privileged pods are expected (the GPU driver and toolkit, the GPUDirect NCCL plugin installers).",
            },
            "denyPrivilegeEscalation": {
                "type": "boolean",
                "default": True,
                "description": "Also reject allowPrivilegeEscalation: true.",
            },
        }
    ),
)
