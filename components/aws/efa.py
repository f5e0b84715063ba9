"""Elastic Fabric Adapter (EFA) for multi-node GPU training on EKS.

What a node needs for NCCL to talk over EFA instead of silently falling back to TCP:

* EFA interfaces on the instance: the pool's EC2NodeClass lists them in ``networkInterfaces``
  (:func:`network_interfaces`; the v1 EC2NodeClass CRD of Karpenter 1.14 has the field, with
  ``interface`` and ``efa-only`` types);
* a security group that lets all traffic in from and out to itself (EFA's OS-bypass traffic is
  not IP; AWS "Get started with EFA", step 1), attached next to the cluster security group
  (:func:`efa_security_group`);
* huge pages for libfabric's buffers (:func:`hugepages_user_data`);
* the EFA device plugin (:class:`EfaDevicePlugin`, the pinned ``aws-efa-k8s-device-plugin`` chart),
  which advertises ``vpc.amazonaws.com/efa`` so pods request the interfaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from catalog import conventions as cv
from components.aws import node_user_data
from components.base import Component
from components.k8s.helm import pinned_release

EFA_RESOURCE = "vpc.amazonaws.com/efa"
"""The extended resource the EFA device plugin advertises (one per EFA interface)."""
CHART = "aws-efa-k8s-device-plugin"
CHART_REPO = "https://aws.github.io/eks-charts"
CHART_VERSION = "v0.5.30"
"""Pinned chart version (a test compares it with the pinned upstream ``Chart.yaml``)."""
NAMESPACE = "kube-system"
HUGEPAGES_2MI_PAGES = 5120
"""2 MiB huge pages reserved per EFA node (10 GiB): pods request ``hugepages-2Mi`` out of them."""


def network_interfaces(count: int) -> list[dict[str, Any]]:
    """``EC2NodeClass.spec.networkInterfaces`` for ``count`` EFA interfaces.

    The primary ENA interface stays at network card 0 / device 0 (the CRD requires it); each of the
    ``count`` network cards gets one ``efa-only`` interface at device index 1 (an EFA device without
    an IP address, so a p5 does not take 32 addresses from the subnet). Device index 1 on every card
    is the layout Karpenter itself uses when it attaches EFA for a pod's ``vpc.amazonaws.com/efa``
    request (``pkg/providers/launchtemplate/launchtemplate.go``, ``generateNetworkInterfaces``).
    """
    if count < 1:
        return []
    return [{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"}] + [
        {"networkCardIndex": card, "deviceIndex": 1, "interfaceType": "efa-only"} for card in range(count)
    ]


def hugepages_user_data(ami_family: str, pages: int = HUGEPAGES_2MI_PAGES) -> str:
    """User data reserving ``pages`` 2 MiB huge pages before the kubelet starts (it reports them then).

    AL2023: a MIME part with a shell script, which Karpenter merges ahead of its own ``NodeConfig``
    part (cloud-init runs it before ``nodeadm-run`` starts the kubelet). Bottlerocket: a TOML
    ``settings.kernel.sysctl`` entry, merged into Karpenter's settings. See
    :func:`components.aws.node_user_data.user_data`, which also adds parallel image pulls.
    """
    if pages < 1:
        raise ValueError("hugepages: pages must be >= 1")
    if ami_family not in node_user_data.AMI_FAMILIES:
        raise ValueError(f"hugepages: unknown AMI family {ami_family!r}")
    data = node_user_data.user_data(ami_family, hugepages=pages)
    assert data is not None
    return data


def efa_security_group(
    name: str, *, vpc_id: pulumi.Input[str], tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> tuple[aws.ec2.SecurityGroup, list[pulumi.Resource]]:
    """A security group allowing all traffic from and to itself (EFA's requirement), and its rules."""
    group = aws.ec2.SecurityGroup(
        name,
        vpc_id=vpc_id,
        description="EFA: all traffic between the members of this group",
        tags={**tags, "Name": name},
        opts=opts,
    )
    rules: list[pulumi.Resource] = [
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-self-in",
            security_group_id=group.id,
            referenced_security_group_id=group.id,
            ip_protocol="-1",
            description="EFA: all traffic from the group",
            opts=opts,
        ),
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-self-out",
            security_group_id=group.id,
            referenced_security_group_id=group.id,
            ip_protocol="-1",
            description="EFA: all traffic to the group",
            opts=opts,
        ),
    ]
    return group, rules


def helm_values(*, instance_types: Sequence[str], tolerations: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """Chart values: run only on the EFA pools' instance types, tolerating their taints (every key
    exists in the pinned chart's ``values.yaml``; a test checks it)."""
    if not instance_types:
        raise ValueError("EfaDevicePlugin: instance_types must not be empty")
    return {
        "supportedInstanceLabels": {"keys": ["node.kubernetes.io/instance-type"], "values": sorted(set(instance_types))},
        "tolerations": [dict(t) for t in tolerations],
    }


def _gpu_toleration() -> tuple[Mapping[str, str], ...]:
    return ({"key": cv.GPU_TAINT_KEY, "operator": "Exists", "effect": cv.GPU_TAINT_EFFECT},)


@dataclass(frozen=True)
class EfaDevicePluginArgs:
    """Arguments of :class:`EfaDevicePlugin`.

    :param instance_types: The EFA pools' instance types (the plugin's node affinity).
    :param tolerations: Tolerations of those nodes' taints (default: the GPU taint).
    """

    instance_types: Sequence[str]
    tolerations: Sequence[Mapping[str, str]] = field(default_factory=_gpu_toleration)

    def __post_init__(self) -> None:
        helm_values(instance_types=self.instance_types, tolerations=self.tolerations)  # raises on a bad value
        object.__setattr__(self, "instance_types", tuple(self.instance_types))


class EfaDevicePlugin(Component):
    """The EFA device plugin (pinned chart) on the EFA pools' nodes; the cluster's Kubernetes
    provider comes through ``opts``. Output: ``release_name``."""

    release_name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: EfaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:EfaDevicePlugin", resource_name, opts)
        self.release = pinned_release(
            resource_name,
            release="aws-efa-k8s-device-plugin",
            chart=CHART,
            repo=CHART_REPO,
            version=CHART_VERSION,
            namespace=NAMESPACE,
            values=helm_values(instance_types=args.instance_types, tolerations=args.tolerations),
            opts=self.child_opts(),
        )
        self.publish(release_name=self.release.name)
