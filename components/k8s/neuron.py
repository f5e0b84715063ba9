"""AWS Neuron device plugin and scheduler extension (Trainium / Inferentia nodes), from the official chart.

The chart (``oci://public.ecr.aws/neuron/neuron-helm-chart``, source aws-neuron/neuron-helm-charts)
installs

* the **device plugin** DaemonSet in ``kube-system``: it advertises ``aws.amazon.com/neuron``
  (whole devices) and ``aws.amazon.com/neuroncore`` on the nodes whose instance type is listed in
  ``neuronInstances`` (the DaemonSet's node affinity) and tolerates the ``aws.amazon.com/neuron``
  taint the platform puts on those nodes;
* the **scheduler extension** (``scheduler.enabled``): an extender plus a second kube-scheduler
  (``my-scheduler``) that places pods asking for NeuronCores on contiguous cores; pods opt in with
  ``schedulerName: my-scheduler``, everything else keeps the default scheduler.

The node problem detector (``npd``) stays off: its node-recovery half needs an IAM role of its own.
The EKS-optimized AMIs (AL2023 Neuron variant, Bottlerocket) ship the Neuron driver, so nothing
else is installed on the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from components.k8s.helm import pinned_release

CHART = "oci://public.ecr.aws/neuron/neuron-helm-chart"
CHART_VERSION = "1.10.0"
"""Pinned chart version: the newest published to public.ecr.aws/neuron we found evidence of (pulled as
``neuron-helm-chart:1.10.0``, digest ``sha256:ed5d8f73...``); the GitHub repository's ``Chart.yaml`` still
says 1.0.0 (only the first import is committed). Every value set here exists in both."""
NAMESPACE = "kube-system"
"""The chart's ``namespaceOverride`` for the device plugin and the scheduler."""
SCHEDULER_NAME = "my-scheduler"
"""``schedulerName`` of the chart's second scheduler, which consults the Neuron extender."""
KUBE_SCHEDULER_TAGS = {"1.33": "v1.33.3-eks-1-33-10"}
"""EKS-distro ``kube-scheduler`` image per cluster minor version (``public.ecr.aws/eks-distro/kubernetes/
kube-scheduler:v1.33.3-eks-1-33-10`` is published). The chart's default (v1.31 in 1.10.0) is more than the one
minor version behind the control plane that Kubernetes' version-skew policy allows a scheduler; for a
version not listed here the chart's image stays (docs/gpu.md, known limits)."""


@dataclass(frozen=True)
class NeuronDevicePluginArgs:
    """Arguments of :class:`NeuronDevicePlugin`.

    :param instance_types: EC2 instance types with Neuron devices the platform may launch (the
        device plugin's node affinity; the chart's own default list lacks trn2).
    :param scheduler_extension: Install the Neuron scheduler extension (second scheduler).
    :param cluster_version: Kubernetes minor version of the cluster (``1.33``): the second scheduler runs
        the matching EKS-distro image where :data:`KUBE_SCHEDULER_TAGS` has one.
    """

    instance_types: Sequence[str]
    scheduler_extension: bool = True
    cluster_version: str | None = None

    def __post_init__(self) -> None:
        if not self.instance_types:
            raise ValueError("NeuronDevicePluginArgs: instance_types must list at least one Trainium / Inferentia type")
        bad = [t for t in self.instance_types if not t.startswith(("trn", "inf"))]
        if bad:
            raise ValueError(f"NeuronDevicePluginArgs: {', '.join(bad)} carry no Neuron devices (trn* / inf* only)")
        object.__setattr__(self, "instance_types", tuple(self.instance_types))


def helm_values(args: NeuronDevicePluginArgs) -> dict[str, Any]:
    """The chart values (every key exists in the chart's ``values.yaml``; a test checks it)."""
    scheduler: dict[str, Any] = {"enabled": args.scheduler_extension}
    tag = KUBE_SCHEDULER_TAGS.get(args.cluster_version or "")
    if args.scheduler_extension and tag:
        scheduler["customScheduler"] = {"image": {"tag": tag}}
    return {
        "neuronInstances": sorted(set(args.instance_types)),
        "scheduler": scheduler,
        "npd": {"enabled": False},
    }


class NeuronDevicePlugin(Component):
    """The Neuron device plugin (and scheduler extension) for Trainium / Inferentia nodes (the Kubernetes
    provider comes through ``opts``)."""

    release: k8s.helm.v3.Release

    def __init__(self, resource_name: str, args: NeuronDevicePluginArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:NeuronDevicePlugin", resource_name, opts)
        self.release = pinned_release(
            resource_name,
            release="neuron",
            chart=CHART,
            version=CHART_VERSION,
            namespace=NAMESPACE,
            values=helm_values(args),
            opts=self.child_opts(),
        )
        self.publish(release_name=self.release.name)
