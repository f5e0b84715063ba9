"""GPU alerts as a prometheus-operator ``PrometheusRule`` over the DCGM exporter's metrics.

Alerts: a GPU allocated to a pod but under ``idle_percent`` utilised for ``idle_for``, XID
errors, and GPU framebuffer memory above ``memory_full_ratio``. Needs the prometheus-operator
CRDs in the cluster and Prometheus scraping the DCGM exporter (the GPU operator's ServiceMonitor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.options import inherited_depends_on

RULE_NAME = "ml-platform-gpu"


def gpu_rules(*, idle_percent: int = 30, idle_for: str = "1h", memory_full_ratio: float = 0.95) -> list[dict[str, Any]]:
    """The rule groups (``PrometheusRule.spec.groups``)."""
    allocated = 'pod!=""'
    return [
        {
            "name": "ml-platform.gpu",
            "rules": [
                {
                    "alert": "GpuAllocatedButIdle",
                    # a GPU the kubelet handed to a pod (DCGM labels it with the pod) that stays under-used
                    "expr": f"avg by (namespace, pod, Hostname, gpu, modelName) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{{{allocated}}}[10m])) < {idle_percent}",
                    "for": idle_for,
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": f"GPU allocated to {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} is under {idle_percent}% utilised",
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
    return [{"name": "ml-platform.gpu-recording", "rules": [{"record": "ml_platform:gpu_equivalents_requested:by_pod", "expr": expr}]}]


class GpuMonitoring(pulumi.ComponentResource):
    """A ``PrometheusRule`` with the GPU alerts (and optionally the namespace it lives in).

    :param name: Component name.
    :param namespace: Namespace of the rule.
    :param create_namespace: Create ``namespace`` here.
    :param rule_labels: Labels on the rule (for a Prometheus ``ruleSelector``).
    :param extra_groups: More rule groups in the same ``PrometheusRule`` (the team budget alerts).
    :param k8s_provider: Provider of the cluster.
    """

    def __init__(
        self,
        name: str,
        *,
        k8s_provider: k8s.Provider,
        namespace: str = cv.NS_MONITORING,
        create_namespace: bool = True,
        rule_labels: Mapping[str, str] | None = None,
        idle_percent: int = 30,
        extra_groups: Sequence[Mapping[str, Any]] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not 0 < idle_percent < 100:
            raise ValueError(f"GpuMonitoring: idle_percent must be 1-99, got {idle_percent}")
        super().__init__("ml-platform:k8s:GpuMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=inherited_depends_on(opts))
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY, **(rule_labels or {})}
        depends: list[pulumi.Resource] = []
        ns: pulumi.Input[str] = namespace
        if create_namespace:
            created = k8s.core.v1.Namespace(
                f"{name}-ns", metadata={"name": namespace, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}}, opts=child
            )
            ns = created.metadata["name"]
            depends.append(created)
        self.rule = k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": RULE_NAME, "namespace": ns, "labels": labels},
            spec={"groups": [*gpu_rules(idle_percent=idle_percent), *gpu_recording_rules(), *(dict(g) for g in extra_groups)]},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=depends)),
        )
        self.register_outputs({"rule": RULE_NAME})
