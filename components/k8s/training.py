"""Multi-node training on Kubernetes: the JobSet and LeaderWorkerSet controllers and Kueue Topologies.

* :class:`TrainingControllers` installs the pinned JobSet and LeaderWorkerSet charts (the APIs a
  multi-node job or a multi-host inference group is written in; Kueue's ``jobset.x-k8s.io/jobset``
  and ``leaderworkerset.x-k8s.io/leaderworkerset`` integrations queue them).
* :class:`KueueTopology` declares a Kueue ``Topology`` from the node labels the cloud puts on its
  accelerator nodes, for Topology Aware Scheduling (TAS): a ResourceFlavor naming it
  (``spec.topologyName``) lets jobs ask that all their pods land under one network block
  (``kueue.x-k8s.io/podset-required-topology``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component
from components.k8s.helm import pinned_release

HOSTNAME = "kubernetes.io/hostname"
AWS_TOPOLOGY_LEVELS = (
    "topology.k8s.aws/network-node-layer-1",
    "topology.k8s.aws/network-node-layer-2",
    "topology.k8s.aws/network-node-layer-3",
    HOSTNAME,
)
"""EKS labels each supported node with its place in the EC2 network hierarchy, top layer first (EKS
user guide, "Place distributed AI/ML workloads with network topology labels"; a fourth layer exists
only on some instance types, so the Topology stops at the third, which every supported type has)."""
GKE_TOPOLOGY_LEVELS = (
    "cloud.google.com/gce-topology-block",
    "cloud.google.com/gce-topology-subblock",
    "cloud.google.com/gce-topology-host",
    HOSTNAME,
)
"""GKE's labels on A3 Ultra / A4 (and later) nodes: block, sub-block, host (GKE "Schedule GKE
workloads with Topology Aware Scheduling")."""

JOBSET_CHART = "oci://registry.k8s.io/jobset/charts/jobset"
JOBSET_VERSION = "0.12.0"
"""Pinned JobSet chart (a test compares it with the pinned upstream ``Chart.yaml``)."""
JOBSET_IMAGE = "registry.k8s.io/jobset/jobset"
LWS_CHART = "oci://registry.k8s.io/lws/charts/lws"
LWS_VERSION = "0.10.0"
"""Pinned LeaderWorkerSet chart: published for release v0.10.0 (the repository's ``Chart.yaml`` keeps
``version: 0.1.0`` and is stamped with the release at publication; its ``appVersion`` is v0.10.0)."""
LWS_IMAGE = "registry.k8s.io/lws/lws"
NS_JOBSET = cv.NS_JOBSET
NS_LWS = cv.NS_LWS
TOPOLOGY_API = "kueue.x-k8s.io/v1beta2"
KUEUE_API = TOPOLOGY_API
PROVISIONING_CONTROLLER = "kueue.x-k8s.io/provisioning-request"
"""Kueue's built-in ProvisioningRequest admission check controller (GA since Kueue 0.14)."""
GKE_QUEUED_PROVISIONING_CLASS = "queued-provisioning.gke.io"
"""The ProvisioningRequest class of GKE's Dynamic Workload Scheduler (flex-start with queued provisioning)."""


def topology_spec(levels: Sequence[str]) -> dict[str, Any]:
    """``Topology.spec``: levels from the coarsest to the node (hostname last, as the CRD requires)."""
    if not levels or len(set(levels)) != len(levels):
        raise ValueError(f"Topology: levels must be unique and non-empty, got {list(levels)}")
    if HOSTNAME in levels and levels[-1] != HOSTNAME:
        raise ValueError(f"Topology: {HOSTNAME} can only be the last level")
    return {"levels": [{"nodeLabel": label} for label in levels]}


def jobset_values(*, replicas: int) -> dict[str, Any]:
    """JobSet chart values: the released image (the chart defaults to a moving staging tag)."""
    return {
        "image": {"repository": JOBSET_IMAGE, "tag": f"v{JOBSET_VERSION}", "pullPolicy": "IfNotPresent"},
        "controller": {"replicas": replicas, "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1}},
    }


def lws_values(*, replicas: int) -> dict[str, Any]:
    """LeaderWorkerSet chart values: the released image (the chart defaults to ``main``)."""
    return {
        "replicaCount": replicas,
        "image": {"manager": {"repository": LWS_IMAGE, "tag": f"v{LWS_VERSION}", "pullPolicy": "IfNotPresent"}},
    }


@dataclass(frozen=True)
class TrainingControllersArgs:
    """Arguments of :class:`TrainingControllers`.

    :param replicas: controller replicas (leader election; more than one adds a PodDisruptionBudget to JobSet).
    """

    replicas: int = 1

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"TrainingControllers: replicas must be at least 1, got {self.replicas}")


class TrainingControllers(Component):
    """The JobSet and LeaderWorkerSet controllers (pinned charts), each in its own namespace (the Kubernetes
    provider comes through ``opts``)."""

    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, resource_name: str, args: TrainingControllersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:TrainingControllers", resource_name, opts)
        name = resource_name
        releases: dict[str, k8s.helm.v3.Release] = {}
        for key, namespace, chart, version, values in (
            ("jobset", NS_JOBSET, JOBSET_CHART, JOBSET_VERSION, jobset_values(replicas=args.replicas)),
            ("lws", NS_LWS, LWS_CHART, LWS_VERSION, lws_values(replicas=args.replicas)),
        ):
            ns = k8s.core.v1.Namespace(
                f"{name}-{key}-ns",
                metadata={
                    "name": namespace,
                    "labels": {
                        cv.MANAGED_BY_LABEL: cv.MANAGED_BY,
                        cv.TEAM_LABEL: cv.PLATFORM_TEAM,  # a platform namespace, not a team's (quota, budget policies)
                        "pod-security.kubernetes.io/enforce": "restricted",
                    },
                },
                opts=self.child_opts(),
            )
            releases[key] = pinned_release(
                f"{name}-{key}",
                release=key,
                chart=chart,
                version=version,
                namespace=ns.metadata["name"],
                values=values,
                opts=self.child_opts(depends_on=[ns]),
            )
        self.releases = releases
        self.publish(release_names=list(releases))


@dataclass(frozen=True)
class KueueTopologyArgs:
    """Arguments of :class:`KueueTopology`.

    :param levels: node labels, coarsest first (:data:`AWS_TOPOLOGY_LEVELS`, :data:`GKE_TOPOLOGY_LEVELS`); the
        Topology takes the component's name.
    """

    levels: Sequence[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        topology_spec(self.levels)


class KueueTopology(Component):
    """A Kueue ``Topology`` named after the component (its CRD comes with the Kueue chart: depend on
    :class:`~components.k8s.kueue.Kueue`); the Kubernetes provider comes through ``opts``."""

    topology: k8s.apiextensions.CustomResource

    def __init__(self, resource_name: str, args: KueueTopologyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:KueueTopology", resource_name, opts)
        self.topology = k8s.apiextensions.CustomResource(
            f"{resource_name}-topology",
            api_version=TOPOLOGY_API,
            kind="Topology",
            metadata={"name": resource_name, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
            spec=topology_spec(args.levels),
            opts=self.child_opts(),
        )
        self.publish(topology_name=resource_name)


def provisioning_config_spec(*, provisioning_class: str, managed_resources: Sequence[str]) -> dict[str, Any]:
    """``ProvisioningRequestConfig.spec``: the class, the resources the autoscaler provides, retries."""
    if not provisioning_class or not managed_resources:
        raise ValueError("ProvisioningRequestConfig: a class and at least one managed resource are required")
    return {
        "provisioningClassName": provisioning_class,
        "managedResources": list(managed_resources),
        # identical workers of a multi-node job become one PodTemplate in the request
        "podSetMergePolicy": "IdenticalWorkloadSchedulingRequirements",
        "retryStrategy": {"backoffLimitCount": 3, "backoffBaseSeconds": 60, "backoffMaxSeconds": 1800},
    }


@dataclass(frozen=True)
class ProvisioningAdmissionCheckArgs:
    """Arguments of :class:`ProvisioningAdmissionCheck`.

    :param provisioning_class: ProvisioningRequest class (:data:`GKE_QUEUED_PROVISIONING_CLASS`).
    :param managed_resources: resources the autoscaler provides (``nvidia.com/gpu``).
    """

    provisioning_class: str
    managed_resources: Sequence[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "managed_resources", tuple(self.managed_resources))
        provisioning_config_spec(provisioning_class=self.provisioning_class, managed_resources=self.managed_resources)


class ProvisioningAdmissionCheck(Component):
    """A Kueue ``AdmissionCheck`` backed by a ``ProvisioningRequestConfig``, both named after the component: a job
    is admitted once the cluster autoscaler has provisioned all its nodes (GKE: flex-start with queued
    provisioning). The Kubernetes provider comes through ``opts``; Kueue's CRDs must exist (depend on the Kueue release).
    """

    config: k8s.apiextensions.CustomResource
    check: k8s.apiextensions.CustomResource

    def __init__(
        self, resource_name: str, args: ProvisioningAdmissionCheckArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ml-platform:k8s:ProvisioningAdmissionCheck", resource_name, opts)
        name = resource_name
        spec = provisioning_config_spec(provisioning_class=args.provisioning_class, managed_resources=args.managed_resources)
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}
        self.config = k8s.apiextensions.CustomResource(
            f"{name}-config",
            api_version=KUEUE_API,
            kind="ProvisioningRequestConfig",
            metadata={"name": name, "labels": labels},
            spec=spec,
            opts=self.child_opts(),
        )
        self.check = k8s.apiextensions.CustomResource(
            f"{name}-check",
            api_version=KUEUE_API,
            kind="AdmissionCheck",
            metadata={"name": name, "labels": labels},
            spec={
                "controllerName": PROVISIONING_CONTROLLER,
                "parameters": {"apiGroup": "kueue.x-k8s.io", "kind": "ProvisioningRequestConfig", "name": name},
            },
            opts=self.child_opts(depends_on=[self.config]),
        )
        self.publish(check_name=name)


@dataclass(frozen=True)
class TeamVolumeClaimsArgs:
    """Arguments of :class:`TeamVolumeClaims`.

    :param claim: Claim name (the volumes' ``claimRef.name``).
    :param volumes: Team -> (namespace, PersistentVolume name, size such as ``1200Gi``).
    """

    claim: str
    volumes: Mapping[str, tuple[pulumi.Input[str], str, str]]

    def __post_init__(self) -> None:
        if not self.claim:
            raise ValueError("TeamVolumeClaims: claim must not be empty")
        object.__setattr__(self, "volumes", dict(self.volumes))


class TeamVolumeClaims(Component):
    """A claim per team namespace for a pre-bound, ReadWriteMany PersistentVolume (the shared file system);
    the Kubernetes provider comes through ``opts``."""

    claims: dict[str, k8s.core.v1.PersistentVolumeClaim]

    def __init__(self, resource_name: str, args: TeamVolumeClaimsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:TeamVolumeClaims", resource_name, opts)
        self.claims = {
            team: k8s.core.v1.PersistentVolumeClaim(
                f"{resource_name}-{team}",
                metadata={
                    "name": args.claim,
                    "namespace": namespace,
                    "labels": {cv.TEAM_LABEL: team, cv.MANAGED_BY_LABEL: cv.MANAGED_BY},
                },
                spec={
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",  # static: bind to the named volume, never provision
                    "volumeName": volume,
                    "resources": {"requests": {"storage": size}},
                },
                opts=self.child_opts(),
            )
            for team, (namespace, volume, size) in sorted(args.volumes.items())
        }
        self.publish(teams=sorted(self.claims))
