"""Kueue: GPU queueing and fair sharing between teams, beyond what namespace quotas can do.

:class:`Kueue` installs the pinned chart, configured to manage every job and pod of the team
namespaces (those labelled ``ml-platform.io/team``; a job without a queue goes to the
namespace's LocalQueue ``default``). :class:`KueueQueues` declares the queues: a ResourceFlavor
per node pool, one ClusterQueue per team with its nominal quotas, all in one cohort so idle
quota is lent and reclaimed by preemption, a LocalQueue in each team namespace, and the
WorkloadPriorityClasses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from catalog import conventions as cv
from components.base import Component
from components.k8s.helm import pinned_release

CHART = "oci://registry.k8s.io/kueue/charts/kueue"
CHART_VERSION = "0.19.2"
"""Pinned chart version (a test compares it with the pinned upstream ``Chart.yaml``)."""
IMAGE_REPOSITORY = "registry.k8s.io/kueue/kueue"
IMAGE_TAG = f"v{CHART_VERSION}"
API_VERSION = "kueue.x-k8s.io/v1beta2"
DEFAULT_LOCAL_QUEUE = "default"
"""Kueue puts jobs without a ``kueue.x-k8s.io/queue-name`` label into the LocalQueue of this name."""
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
FRAMEWORKS = (
    "batch/job",
    "kubeflow.org/mpijob",
    "ray.io/rayjob",
    "ray.io/rayservice",
    "ray.io/raycluster",
    "jobset.x-k8s.io/jobset",
    "workload.codeflare.dev/appwrapper",
    "trainer.kubeflow.org/trainjob",
    "pod",
    "deployment",
    "statefulset",
    "leaderworkerset.x-k8s.io/leaderworkerset",
)
WEBHOOK_PORT = 9443
"""Port the Kueue manager serves its admission webhooks on (``managerConfig.webhook.port``)."""
VISIBILITY_PORT = 8082
"""Port of the visibility API server behind the ``v1beta*.visibility.kueue.x-k8s.io`` APIService
(chart ``templates/visibility/service.yaml``: service port 443 -> targetPort 8082)."""
CONTROL_PLANE_PORTS = (WEBHOOK_PORT, VISIBILITY_PORT)
"""Pod ports the Kubernetes API server itself calls (webhooks, aggregated API): a private control
plane must be allowed to reach them."""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")


# ---- the installation -------------------------------------------------------------------------


def manager_config(managed_namespace_label: str, multikueue: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Kueue's ``Configuration``: the chart's defaults plus managing every job of the team namespaces
    (and, on a fleet manager, the ``multiKueue`` dispatcher settings)."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        # quota / usage / borrowing-limit gauges per ClusterQueue (the Kueue dashboard reads them)
        "metrics": {"bindAddress": ":8443", "enableClusterQueueResources": True},
        "webhook": {"port": WEBHOOK_PORT},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        # a GPU job without a queue label must not bypass the queues: Kueue manages every job and
        # pod of the team namespaces (and only those) and defaults them to the LocalQueue "default"
        "manageJobsWithoutQueueName": True,
        "managedJobsNamespaceSelector": {"matchExpressions": [{"key": managed_namespace_label, "operator": "Exists"}]},
        "integrations": {"frameworks": list(FRAMEWORKS)},
    }
    if multikueue:
        config["multiKueue"] = dict(multikueue)
    return config


def helm_values(
    *, replicas: int, managed_namespace_label: str, prometheus: bool = False, multikueue: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The chart values (every key exists in the chart's ``values.yaml``; a test checks it).

    :param prometheus: the chart's ServiceMonitor in ``monitoring`` (needs the prometheus-operator CRDs).
    :param multikueue: Kueue's ``multiKueue`` configuration on a fleet manager.
    """
    return {
        "enablePrometheus": prometheus,
        "controllerManager": {
            "replicas": replicas,
            "manager": {
                # the chart defaults to a moving staging tag; pin the released image
                "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG, "pullPolicy": "IfNotPresent"},
            },
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        },
        "managerConfig": {
            "controllerManagerConfigYaml": yaml.safe_dump(manager_config(managed_namespace_label, multikueue), sort_keys=False)
        },
    }


@dataclass(frozen=True)
class KueueArgs:
    """Arguments of :class:`Kueue`.

    :param namespace: where the controller runs.
    :param replicas: controller replicas (leader election; more than one adds a PodDisruptionBudget).
    :param managed_namespace_label: Kueue manages every job of namespaces carrying this label key.
    :param prometheus: create Kueue's ServiceMonitor (needs the prometheus-operator CRDs).
    :param multikueue: Kueue's ``multiKueue`` configuration (dispatcher) on a fleet manager.
    """

    namespace: str = cv.NS_KUEUE
    replicas: int = 1
    managed_namespace_label: str = cv.TEAM_LABEL
    prometheus: bool = False
    multikueue: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"Kueue: replicas must be at least 1, got {self.replicas}")
        if not _NAME.match(self.namespace):
            raise ValueError(f"Kueue: {self.namespace!r} is not a namespace name")


class Kueue(Component):
    """The Kueue controller (pinned chart) in its own namespace (the Kubernetes provider comes through ``opts``)."""

    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release

    def __init__(self, resource_name: str, args: KueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Kueue", resource_name, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{resource_name}-ns",
            metadata={
                "name": args.namespace,
                "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY, "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=self.child_opts(),
        )
        self.release = pinned_release(
            resource_name,
            release="kueue",
            chart=CHART,
            version=CHART_VERSION,
            namespace=self.namespace.metadata["name"],
            values=helm_values(
                replicas=args.replicas,
                managed_namespace_label=args.managed_namespace_label,
                prometheus=args.prometheus,
                multikueue=args.multikueue,
            ),
            opts=self.child_opts(depends_on=[self.namespace]),
        )
        self.publish(namespace_name=self.namespace.metadata["name"], release_name=self.release.name)


# ---- the queues -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flavor:
    """A ResourceFlavor: the nodes a quota lives on.

    :param name: flavor name.
    :param node_labels: labels of those nodes (Kueue adds them as node affinity to admitted pods).
    :param tolerations: tolerations added to admitted pods (the nodes' taints).
    """

    name: str
    node_labels: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, str]] = ()
    topology_name: str | None = None
    """A Kueue ``Topology`` (Topology Aware Scheduling); needs ``node_labels``."""


@dataclass(frozen=True)
class Quota:
    """Nominal quota of one resource on one flavor, and how much more may be borrowed (``None``: no limit)."""

    nominal: int | str
    borrowing_limit: int | str | None = 0


@dataclass(frozen=True)
class ResourceGroup:
    """Resources whose quotas come from the same flavors: flavor name -> resource -> :class:`Quota`."""

    resources: tuple[str, ...]
    flavors: Mapping[str, Mapping[str, Quota]]


@dataclass(frozen=True)
class TeamQueue:
    """A team's ClusterQueue (named after the team) and the LocalQueue ``default`` in its namespace.

    :param team: team name.
    :param namespace: the team namespace (an ``Output`` makes the LocalQueue wait for it).
    :param groups: the quotas.
    :param namespace_selector: labels a namespace needs to submit to this ClusterQueue.
    """

    team: str
    namespace: pulumi.Input[str]
    groups: Sequence[ResourceGroup]
    namespace_selector: Mapping[str, str] = field(default_factory=dict)


def split(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` over ``weights`` proportionally (largest remainder): the parts add up to ``total``."""
    if not weights:
        return {}
    keys = sorted(weights)
    weight_sum = sum(max(w, 0) for w in weights.values())
    if weight_sum == 0:
        weights, weight_sum = dict.fromkeys(keys, 1), len(keys)
    exact = {k: total * max(weights[k], 0) / weight_sum for k in keys}
    parts = {k: int(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: (-(exact[k] - parts[k]), k))[: total - sum(parts.values())]:
        parts[k] += 1
    return parts


def resource_flavor_spec(flavor: Flavor) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if flavor.node_labels:
        spec["nodeLabels"] = dict(flavor.node_labels)
    if flavor.tolerations:
        spec["tolerations"] = [dict(t) for t in flavor.tolerations]
    if flavor.topology_name:
        if not flavor.node_labels:
            raise ValueError(f"ResourceFlavor {flavor.name!r}: a topology needs node labels (the CRD requires one)")
        spec["topologyName"] = flavor.topology_name
    return spec


def cluster_queue_spec(
    queue: TeamQueue, cohort: str, admission_checks: Mapping[str, Sequence[str] | None] | None = None
) -> dict[str, Any]:
    """ClusterQueue spec: the team's quotas in the shared cohort, reclaim lent quota, priority wins within the team.

    ``admission_checks``: AdmissionCheck name -> the flavors it runs for (a ProvisioningRequest check
    on flex-start flavors; only the checks on flavors this queue uses are listed), or ``None`` for every
    flavor (a fleet manager's MultiKueue check: Kueue deactivates a queue with a per-flavor one, kueue#8987).
    """
    groups = []
    for group in queue.groups:
        flavors = []
        for flavor, quotas in group.flavors.items():
            resources = []
            for resource in group.resources:
                q = quotas[resource]
                entry: dict[str, Any] = {"name": resource, "nominalQuota": q.nominal}
                if q.borrowing_limit is not None:
                    entry["borrowingLimit"] = q.borrowing_limit
                resources.append(entry)
            flavors.append({"name": flavor, "resources": resources})
        groups.append({"coveredResources": list(group.resources), "flavors": flavors})
    spec: dict[str, Any] = {
        "cohortName": cohort,
        "namespaceSelector": {"matchLabels": dict(queue.namespace_selector)},
        "queueingStrategy": "BestEffortFIFO",
        "preemption": {
            # lent quota comes back: a team within its nominal quota preempts borrowers
            "reclaimWithinCohort": "Any",
            # a borrowing job may preempt lower-priority borrowers elsewhere
            "borrowWithinCohort": {"policy": "LowerPriority"},
            # inside the team, higher priority wins
            "withinClusterQueue": "LowerPriority",
        },
        "resourceGroups": groups,
        **_checks_for(queue, admission_checks or {}),
    }
    return spec


def _checks_for(queue: TeamQueue, admission_checks: Mapping[str, Sequence[str] | None]) -> dict[str, Any]:
    used = {f for group in queue.groups for f in group.flavors}
    rules: list[dict[str, Any]] = []
    for name, flavors in sorted(admission_checks.items()):
        if flavors is None:
            rules.append({"name": name})
        elif used & set(flavors):
            rules.append({"name": name, "onFlavors": sorted(used & set(flavors))})
    return {"admissionChecksStrategy": {"admissionChecks": rules}} if rules else {}


def _validate_queue(queue: TeamQueue, flavors: set[str]) -> None:
    if not _NAME.match(queue.team):
        raise ValueError(f"KueueQueues: team {queue.team!r} is not a DNS label")
    seen_resources: set[str] = set()
    seen_flavors: set[str] = set()
    for group in queue.groups:
        if not group.resources or not group.flavors:
            raise ValueError(f"KueueQueues: {queue.team}: a resource group needs resources and flavors")
        if seen_resources & set(group.resources) or seen_flavors & set(group.flavors):
            raise ValueError(f"KueueQueues: {queue.team}: a resource or flavor is in two resource groups")
        seen_resources |= set(group.resources)
        seen_flavors |= set(group.flavors)
        for flavor, quotas in group.flavors.items():
            if flavor not in flavors:
                raise ValueError(f"KueueQueues: {queue.team}: flavor {flavor!r} is not declared")
            if set(quotas) != set(group.resources):
                raise ValueError(f"KueueQueues: {queue.team}: flavor {flavor!r} must list exactly {list(group.resources)}")
            for resource, q in quotas.items():
                for value in (q.nominal, q.borrowing_limit):
                    if value is not None and not _QUANTITY.match(str(value)):
                        raise ValueError(f"KueueQueues: {queue.team}: {flavor}/{resource}: {value!r} is not a quantity")


class _KueueObject(pulumi.CustomResource):
    """A Kueue object with top-level fields besides ``spec`` (WorkloadPriorityClass has ``value``)."""

    def __init__(self, name: str, kind: str, fields: Mapping[str, Any], opts: pulumi.ResourceOptions) -> None:
        props = {"apiVersion": API_VERSION, "kind": kind, **fields}
        super().__init__(f"kubernetes:{API_VERSION}:{kind}", name, props, opts)


@dataclass(frozen=True)
class KueueQueuesArgs:
    """Arguments of :class:`KueueQueues`.

    :param flavors: every flavor the queues use.
    :param queues: one :class:`TeamQueue` per team.
    :param cohort: the cohort every team's ClusterQueue joins.
    :param priority_classes: WorkloadPriorityClass name -> value (default: the platform's PriorityClasses).
    :param admission_checks: AdmissionCheck name -> the flavors it runs for, ``None`` for every flavor (a fleet
        manager's MultiKueue check); the AdmissionCheck objects must be in ``opts.depends_on``.
    """

    flavors: Sequence[Flavor]
    queues: Sequence[TeamQueue]
    cohort: str = "teams"
    priority_classes: Mapping[str, int] | None = None
    admission_checks: Mapping[str, Sequence[str] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flavors", tuple(self.flavors))
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "admission_checks", dict(self.admission_checks or {}))
        object.__setattr__(
            self, "priority_classes", dict(cv.PRIORITY_CLASSES if self.priority_classes is None else self.priority_classes)
        )
        names = [f.name for f in self.flavors]
        if len(set(names)) != len(names):
            raise ValueError(f"KueueQueues: duplicate flavor names {names}")
        for n in (*names, self.cohort):
            if not _NAME.match(n):
                raise ValueError(f"KueueQueues: {n!r} is not a DNS label")
        teams = [q.team for q in self.queues]
        if len(set(teams)) != len(teams):
            raise ValueError(f"KueueQueues: duplicate teams {teams}")
        for queue in self.queues:
            _validate_queue(queue, set(names))
        for check, on in self.admission_checks.items():
            if not _NAME.match(check) or (on is not None and set(on) - set(names)):
                raise ValueError(
                    f"KueueQueues: admission check {check!r} must be a DNS label on declared flavors, got {list(on) if on is not None else None}"
                )


class KueueQueues(Component):
    """ResourceFlavors, the cohort, a ClusterQueue and LocalQueue per team, and WorkloadPriorityClasses.

    The Kubernetes provider comes through ``opts``; Kueue's CRDs must exist (depend on :class:`Kueue`).
    """

    flavors: dict[str, k8s.apiextensions.CustomResource]
    cluster_queues: dict[str, k8s.apiextensions.CustomResource]
    local_queues: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, resource_name: str, args: KueueQueuesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:KueueQueues", resource_name, opts)
        name = resource_name
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}
        self.flavors = {
            f.name: k8s.apiextensions.CustomResource(
                f"{name}-flavor-{f.name}",
                api_version=API_VERSION,
                kind="ResourceFlavor",
                metadata={"name": f.name, "labels": labels},
                spec=resource_flavor_spec(f),
                opts=self.child_opts(),
            )
            for f in args.flavors
        }
        self.cohort = k8s.apiextensions.CustomResource(
            f"{name}-cohort",
            api_version=API_VERSION,
            kind="Cohort",
            metadata={"name": args.cohort, "labels": labels},
            spec={},
            opts=self.child_opts(),
        )
        self.cluster_queues = {}
        self.local_queues = {}
        for queue in args.queues:
            cq = k8s.apiextensions.CustomResource(
                f"{name}-{queue.team}",
                api_version=API_VERSION,
                kind="ClusterQueue",
                metadata={"name": queue.team, "labels": {**labels, cv.TEAM_LABEL: queue.team}},
                spec=cluster_queue_spec(queue, args.cohort, args.admission_checks),
                opts=self.child_opts(depends_on=[*self.flavors.values(), self.cohort]),
            )
            self.cluster_queues[queue.team] = cq
            self.local_queues[queue.team] = k8s.apiextensions.CustomResource(
                f"{name}-{queue.team}-local",
                api_version=API_VERSION,
                kind="LocalQueue",
                metadata={
                    "name": DEFAULT_LOCAL_QUEUE,
                    "namespace": queue.namespace,
                    "labels": {**labels, cv.TEAM_LABEL: queue.team},
                },
                spec={"clusterQueue": queue.team},
                opts=self.child_opts(depends_on=[cq]),
            )
        self.priority_classes = {
            cls: _KueueObject(
                f"{name}-priority-{cls}",
                "WorkloadPriorityClass",
                {
                    "metadata": {"name": cls, "labels": labels},
                    "value": value,
                    "description": f"{cls} (same value as the PriorityClass)",
                },
                self.child_opts(),
            )
            for cls, value in dict(args.priority_classes or {}).items()
        }
        self.publish(cluster_queue_names=list(self.cluster_queues), flavor_names=list(self.flavors))
