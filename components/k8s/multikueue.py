"""MultiKueue: one manager cluster holds the queues, worker clusters run the jobs (a hybrid fleet).

:class:`MultiKueueWorkerAccess` runs on a worker: the least-privilege identity the manager's Kueue uses
to create, watch and delete the dispatched workloads and jobs there, and a kubeconfig for it (a secret
output). :class:`MultiKueueManager` runs on the manager: each worker's kubeconfig as a Secret in Kueue's
namespace, a ``MultiKueueCluster`` per worker, one ``MultiKueueConfig`` listing them in dispatch order
and the ``AdmissionCheck`` that team ClusterQueues carry.

Upstream facts this follows (Kueue v0.19.2):

- the worker permissions are those of Kueue's ``site/static/examples/multikueue/create-multikueue-kubeconfig.sh``
  (jobs, pods, statefulsets, JobSets, LeaderWorkerSets, Kubeflow jobs and Kueue workloads; read-only queues);
- ``MultiKueueCluster.spec.clusterSource.kubeConfig`` with ``locationType: Secret`` reads the key ``kubeconfig``
  of a Secret in the namespace Kueue's controller runs in;
- a MultiKueue AdmissionCheck applies to every flavor of a ClusterQueue (Kueue marks a ClusterQueue
  inactive for a per-flavor MultiKueue check: "Cannot specify MultiKueue AdmissionCheck per flavor",
  kubernetes-sigs/kueue#8987) and a ClusterQueue carries at most one;
- the manager does not act as a worker for itself (docs/concepts/multikueue.md, "Using manager to run workloads").
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

API_VERSION = "kueue.x-k8s.io/v1beta2"
CONTROLLER_NAME = "kueue.x-k8s.io/multikueue"
ADMISSION_CHECK = "multikueue"
CONFIG_NAME = "fleet"
SERVICE_ACCOUNT = "multikueue-manager"
KUBECONFIG_KEY = "kubeconfig"
"""The Secret key MultiKueue reads a worker's kubeconfig from."""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

_CRUD = ["create", "delete", "get", "list", "watch"]
# (apiGroup, resource) the manager manages on a worker; "<r>/status" is readable for each.
_MANAGED = (
    ("batch", "jobs"),
    ("", "pods"),
    ("apps", "statefulsets"),
    ("jobset.x-k8s.io", "jobsets"),
    ("leaderworkerset.x-k8s.io", "leaderworkersets"),
    ("kubeflow.org", "pytorchjobs"),
    ("kubeflow.org", "tfjobs"),
    ("kubeflow.org", "xgboostjobs"),
    ("kubeflow.org", "paddlejobs"),
    ("kubeflow.org", "mpijobs"),
    ("ray.io", "rayjobs"),
    ("ray.io", "rayclusters"),
)


def worker_rules() -> list[dict[str, Any]]:
    """The ClusterRole rules MultiKueue's manager needs on a worker, and no more (no secrets, no RBAC)."""
    rules: list[dict[str, Any]] = []
    for group, resource in _MANAGED:
        rules.append({"apiGroups": [group], "resources": [resource], "verbs": list(_CRUD)})
        if resource != "pods":
            rules.append({"apiGroups": [group], "resources": [f"{resource}/status"], "verbs": ["get"]})
    rules += [
        {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads"], "verbs": [*_CRUD, "update", "patch"]},
        {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads/status"], "verbs": ["get", "patch", "update"]},
        {"apiGroups": ["kueue.x-k8s.io"], "resources": ["clusterqueues", "localqueues"], "verbs": ["get", "list", "watch"]},
    ]
    return rules


def kubeconfig(*, cluster: str, server: str, ca_b64: str, token: str) -> str:
    """A kubeconfig with one cluster, one token user and one context (what MultiKueue reads)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_b64}}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": SERVICE_ACCOUNT}}],
        "current-context": cluster,
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class MultiKueueWorkerAccessArgs:
    """:param cluster: the worker's name in the kubeconfig.
    :param server: the API server URL the manager reaches this worker at.
    :param namespace: Kueue's namespace on the worker (where the identity lives)."""

    cluster: pulumi.Input[str]
    server: pulumi.Input[str]
    namespace: str = cv.NS_KUEUE

    def __post_init__(self) -> None:
        if not _NAME.match(self.namespace):
            raise ValueError(f"MultiKueueWorkerAccess: namespace {self.namespace!r} is not a namespace name")
        if isinstance(self.server, str) and not self.server.startswith("https://"):
            raise ValueError(f"MultiKueueWorkerAccess: server {self.server!r} must be an https:// URL")


class MultiKueueWorkerAccess(Component):
    """On a worker: the manager's service account, its ClusterRole and a long-lived token Secret.

    ``kubeconfig`` is a secret output built from the token Secret (the token controller fills ``token``
    and ``ca.crt``, the cluster's CA, into a ``kubernetes.io/service-account-token`` Secret).
    """

    kubeconfig: pulumi.Output[str]

    def __init__(self, resource_name: str, args: MultiKueueWorkerAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:MultiKueueWorkerAccess", resource_name, opts)
        child = self.child_opts()
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{resource_name}-sa",
            metadata={"name": SERVICE_ACCOUNT, "namespace": args.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=child,
        )
        self.role = k8s.rbac.v1.ClusterRole(
            f"{resource_name}-role",
            metadata={"name": f"{SERVICE_ACCOUNT}-role", "labels": labels},
            rules=worker_rules(),
            opts=child,
        )
        self.binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{resource_name}-binding",
            metadata={"name": f"{SERVICE_ACCOUNT}-binding", "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": self.role.metadata["name"]},
            subjects=[{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": args.namespace}],
            opts=child,
        )
        # the token Secret must outlive nothing else: deleting it revokes the manager's access
        self.token = k8s.core.v1.Secret(
            f"{resource_name}-token",
            metadata={
                "name": f"{SERVICE_ACCOUNT}-token",
                "namespace": args.namespace,
                "labels": labels,
                "annotations": {"kubernetes.io/service-account.name": SERVICE_ACCOUNT},
            },
            type="kubernetes.io/service-account-token",
            opts=self.child_opts(depends_on=[self.service_account], additional_secret_outputs=["data"]),
        )
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(args.cluster, args.server, self.token.data).apply(
                lambda v: kubeconfig(
                    cluster=v[0],
                    server=v[1],
                    ca_b64=(v[2] or {}).get("ca.crt", ""),
                    token=_b64decode((v[2] or {}).get("token", "")),
                )
            )
        )
        self.publish(kubeconfig=self.kubeconfig)


def _b64decode(value: str) -> str:
    import base64

    return base64.b64decode(value).decode() if value else ""


@dataclass(frozen=True)
class FleetWorker:
    """:param name: the MultiKueueCluster name.
    :param kubeconfig: the worker's kubeconfig (a Pulumi secret)."""

    name: str
    kubeconfig: pulumi.Input[str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    """On the MultiKueueCluster: where it runs and what it admits per team (read by the cost pack)."""


@dataclass(frozen=True)
class MultiKueueManagerArgs:
    """:param workers: in dispatch order (the incremental dispatcher nominates them in this order).
    :param namespace: Kueue's namespace on the manager (the kubeconfig Secrets must live there)."""

    workers: Sequence[FleetWorker]
    namespace: str = cv.NS_KUEUE

    def __post_init__(self) -> None:
        names = [w.name for w in self.workers]
        if not names:
            raise ValueError("MultiKueueManager: at least one worker is needed")
        if len(names) > 20:
            raise ValueError(f"MultiKueueManager: a MultiKueueConfig lists at most 20 clusters, got {len(names)}")
        if len(set(names)) != len(names):
            raise ValueError(f"MultiKueueManager: duplicate worker names {names}")
        for n in names:
            if not _NAME.match(n) or len(n) > 63:
                raise ValueError(f"MultiKueueManager: worker {n!r} is not a DNS label")


class MultiKueueManager(Component):
    """On the manager: worker kubeconfig Secrets, MultiKueueClusters, the MultiKueueConfig and the AdmissionCheck.

    Kueue's CRDs must exist: pass the Kueue release in ``opts.depends_on``. ClusterQueues that carry
    :data:`ADMISSION_CHECK` should depend on :attr:`admission_check`.
    """

    def __init__(self, resource_name: str, args: MultiKueueManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:MultiKueueManager", resource_name, opts)
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}
        self.secrets: dict[str, k8s.core.v1.Secret] = {}
        self.clusters: dict[str, k8s.apiextensions.CustomResource] = {}
        for worker in args.workers:
            secret = k8s.core.v1.Secret(
                f"{resource_name}-{worker.name}-kubeconfig",
                metadata={"name": f"{worker.name}-kubeconfig", "namespace": args.namespace, "labels": labels},
                type="Opaque",
                string_data={KUBECONFIG_KEY: pulumi.Output.secret(worker.kubeconfig)},
                opts=self.child_opts(additional_secret_outputs=["stringData", "data"]),
            )
            self.secrets[worker.name] = secret
            self.clusters[worker.name] = k8s.apiextensions.CustomResource(
                f"{resource_name}-{worker.name}",
                api_version=API_VERSION,
                kind="MultiKueueCluster",
                metadata={"name": worker.name, "labels": labels, "annotations": dict(worker.annotations)},
                spec={"clusterSource": {"kubeConfig": {"locationType": "Secret", "location": secret.metadata["name"]}}},
                opts=self.child_opts(depends_on=[secret]),
            )
        self.config = k8s.apiextensions.CustomResource(
            f"{resource_name}-config",
            api_version=API_VERSION,
            kind="MultiKueueConfig",
            metadata={"name": CONFIG_NAME, "labels": labels},
            spec={"clusters": [w.name for w in args.workers]},
            opts=self.child_opts(depends_on=list(self.clusters.values())),
        )
        self.admission_check = k8s.apiextensions.CustomResource(
            f"{resource_name}-check",
            api_version=API_VERSION,
            kind="AdmissionCheck",
            metadata={"name": ADMISSION_CHECK, "labels": labels},
            spec={
                "controllerName": CONTROLLER_NAME,
                "parameters": {"apiGroup": "kueue.x-k8s.io", "kind": "MultiKueueConfig", "name": CONFIG_NAME},
            },
            opts=self.child_opts(depends_on=[self.config]),
        )
        self.publish(worker_names=[w.name for w in args.workers], admission_check_name=ADMISSION_CHECK)
