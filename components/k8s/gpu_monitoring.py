"""GPU alerts as a prometheus-operator ``PrometheusRule`` over the DCGM exporter's metrics.

Alerts: a GPU allocated to a pod but under ``idle_percent`` utilised for ``idle_for``, XID
errors, and GPU framebuffer memory above ``memory_full_ratio``. Needs the prometheus-operator
CRDs in the cluster and Prometheus scraping the DCGM exporter (the GPU operator's ServiceMonitor).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component

RULE_NAME = "ml-platform-gpu"


def prometheus_label(k8s_label: str) -> str:
    """The Prometheus label kube-state-metrics exports a Kubernetes label as (``ml-platform.io/user`` ->
    ``label_ml_platform_io_user``: every character outside ``[a-zA-Z0-9_]`` becomes ``_``)."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k8s_label)


USER = prometheus_label(cv.USER_LABEL)
"""The notebook user on ``kube_pod_labels`` (kube-state-metrics exports it: :data:`components.k8s.monitoring.KSM_LABELS_ALLOWLIST`)."""


def idle_gpu_expr(idle_percent: int) -> str:
    """PromQL of ``GpuAllocatedButIdle``: GPUs a pod holds (DCGM labels the series with the pod) averaging under
    ``idle_percent``, with the pod's user (``kube_pod_labels``) joined on; pods without kube-state-metrics series
    (Google Managed Prometheus collects GKE's DCGM, not kube-state-metrics) still alert, without a user."""
    idle = f'avg by (namespace, pod, Hostname, gpu, modelName) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{{pod!=""}}[10m])) < {idle_percent}'
    # max by: one series per pod even while two kube-state-metrics replicas overlap in a rollout
    users = f"max by (namespace, pod, {USER}) (kube_pod_labels)"
    return f"(({idle}) * on(namespace, pod) group_left({USER}) {users}) or on(namespace, pod, Hostname, gpu) ({idle})"


def gpu_rules(*, idle_percent: int = 30, idle_for: str = "1h", memory_full_ratio: float = 0.95) -> list[dict[str, Any]]:
    """The rule groups (``PrometheusRule.spec.groups``)."""
    return [
        {
            "name": "ml-platform.gpu",
            "rules": [
                {
                    "alert": "GpuAllocatedButIdle",
                    # a GPU the kubelet handed to a pod (DCGM labels it with the pod) that stays under-used
                    "expr": idle_gpu_expr(idle_percent),
                    "for": idle_for,
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": f"GPU allocated to {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}}"
                        f"{{{{ with $labels.{USER} }}}} (notebook of {{{{ . }}}}){{{{ end }}}} is under {idle_percent}% utilised",
                        "description": f"GPU {{{{ $labels.gpu }}}} on {{{{ $labels.Hostname }}}} averaged {{{{ $value | humanize }}}}% for {idle_for}; "
                        "release it or share it (time-slicing / MIG).",
                    },
                },
                {
                    "alert": "GpuXidError",
                    "expr": "max by (Hostname, gpu, modelName) (DCGM_FI_DEV_XID_ERRORS) > 0",
                    "for": "1m",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "GPU reported XID error {{ $value }}",
                        "description": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}; "
                        "check the driver logs and drain the node if the error repeats.",
                    },
                },
                {
                    "alert": "GpuMemoryNearFull",
                    "expr": "max by (namespace, pod, Hostname, gpu, modelName) "
                    f"(DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) > {memory_full_ratio}",
                    "for": "15m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": f"GPU memory above {memory_full_ratio:.0%} on {{{{ $labels.Hostname }}}}",
                        "description": "GPU {{ $labels.gpu }} used by {{ $labels.namespace }}/{{ $labels.pod }} is close to out-of-memory.",
                    },
                },
            ],
        }
    ]


GPU_RESOURCES = 'resource=~"nvidia_com_gpu|nvidia_com_mig_.*"'
"""kube-state-metrics' names of ``nvidia.com/gpu`` and the mixed-strategy MIG resources (``nvidia.com/mig-1g.10gb``)."""


def gpu_recording_rules() -> list[dict[str, Any]]:
    """``ml_platform:gpu_equivalents_requested:by_pod``: each pod's GPU requests as fractions of physical GPUs.

    A device the kubelet advertises is a whole GPU, a time-sliced replica (1/replicas) or a MIG slice
    (1/slices per GPU): per node and resource, physical GPUs (distinct DCGM ``gpu`` indices on the node)
    divided by the allocatable count gives the share of one device, so a pod holding one ``1g.10gb``
    slice of an A100 counts 1/7, one of 4 time-sliced replicas 1/4.
    """
    physical = 'count by (node) (count by (node, gpu) (label_replace(DCGM_FI_DEV_FB_FREE, "node", "$1", "Hostname", "(.*)")))'
    pool = 'label_replace(kube_node_labels{label_ml_platform_io_pool!=""}, "pool", "$1", "label_ml_platform_io_pool", "(.*)")'
    expr = (
        f"sum by (namespace, pod, node, resource) (kube_pod_container_resource_requests{{{GPU_RESOURCES}}})"
        f" / on(node, resource) group_left() kube_node_status_allocatable{{{GPU_RESOURCES}}}"
        f" * on(node) group_left(pool) ({physical} * on(node) group_left(pool) {pool})"
    )
    return [
        {"name": "ml-platform.gpu-recording", "rules": [{"record": "ml_platform:gpu_equivalents_requested:by_pod", "expr": expr}]}
    ]


@dataclass(frozen=True)
class GpuMonitoringArgs:
    """Arguments of :class:`GpuMonitoring`.

    :param namespace: Namespace of the rule.
    :param create_namespace: Create ``namespace`` here.
    :param rule_labels: Labels on the rule (for a Prometheus ``ruleSelector``).
    :param idle_percent: Utilisation under which an allocated GPU counts as idle (1-99).
    :param extra_groups: More rule groups in the same ``PrometheusRule`` (the team budget alerts).
    """

    namespace: str = cv.NS_MONITORING
    create_namespace: bool = True
    rule_labels: Mapping[str, str] = field(default_factory=dict)
    idle_percent: int = 30
    extra_groups: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        if not 0 < self.idle_percent < 100:
            raise ValueError(f"GpuMonitoring: idle_percent must be 1-99, got {self.idle_percent}")
        object.__setattr__(self, "extra_groups", tuple(self.extra_groups))


class GpuMonitoring(Component):
    """A ``PrometheusRule`` with the GPU alerts (and optionally the namespace it lives in); the Kubernetes
    provider comes through ``opts``."""

    rule: k8s.apiextensions.CustomResource

    def __init__(self, resource_name: str, args: GpuMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:GpuMonitoring", resource_name, opts)
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY, **args.rule_labels}
        depends: list[pulumi.Resource] = []
        ns: pulumi.Input[str] = args.namespace
        if args.create_namespace:
            created = k8s.core.v1.Namespace(
                f"{resource_name}-ns",
                metadata={"name": args.namespace, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                opts=self.child_opts(),
            )
            ns = created.metadata["name"]
            depends.append(created)
        self.rule = k8s.apiextensions.CustomResource(
            f"{resource_name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": RULE_NAME, "namespace": ns, "labels": labels},
            spec={
                "groups": [
                    *gpu_rules(idle_percent=args.idle_percent),
                    *gpu_recording_rules(),
                    *(dict(g) for g in args.extra_groups),
                ]
            },
            opts=self.child_opts(depends_on=depends),
        )
        self.publish(rule_name=RULE_NAME)
