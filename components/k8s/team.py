"""A tenant's namespace: Pod Security, quota, default limits, network isolation, RBAC, workload identity.

The same on every cloud: the cloud's IAM binding arrives as service-account annotations
(``eks.amazonaws.com/role-arn`` for IRSA, ``iam.gke.io/gcp-service-account`` for GKE).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component

PSA = "pod-security.kubernetes.io"
NS_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace: the safe way to select one by name."""
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
"""Never reached through the public-egress rules: the cluster, the VPC and the node metadata service."""
DEFAULT_REQUEST = {"cpu": "250m", "memory": "512Mi"}
DEFAULT_LIMIT = {"cpu": "500m", "memory": "512Mi"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")
_EXTENDED = re.compile(r"^[a-z0-9.-]+/[-a-z0-9._]+$")


@dataclass(frozen=True)
class TeamArgs:
    """What one tenant gets.

    :param name: team name = namespace name (DNS label).
    :param cost_center: value of the cost-center label.
    :param owners: group bound to ``edit`` in the namespace (``None``: none).
    :param viewers: group bound to ``view`` in the namespace.
    :param pod_security: Pod Security level enforced (``restricted`` is always warned/audited; ``privileged``
        for GPUDirect jobs, whose pods mount the node's NCCL plugin by hostPath).
    :param cpu: ``requests.cpu`` hard quota (cores); ``limits.cpu`` is ``cpu_limit_ratio`` times it.
    :param memory: ``requests.memory`` and ``limits.memory`` hard quota.
    :param accelerators: extended resource (``nvidia.com/gpu``, ``nvidia.com/mig-1g.5gb``) -> most the
        namespace may request; list every one the cluster offers, unlisted resources are not limited.
    :param pods: most pods.
    :param storage: ``requests.storage`` over all PVCs.
    :param internet_egress: allow egress to public addresses on every port (else HTTPS only).
    :param platform_namespaces: namespaces the team's pods may call (MLflow, Feast).
    :param metrics_namespaces: namespaces allowed to scrape the team's pods.
    :param identity_egress: (CIDR, TCP port) of the endpoints the pods get cloud credentials from
        when they are not public HTTPS endpoints (the GKE metadata server); egress to them is allowed.
    :param service_account_annotations: annotations of ``<name>-workloads`` (the cloud identity).
    :param labels: extra labels on the namespace.
    """

    name: str
    cost_center: str
    cpu: int | str
    memory: str
    owners: str | None = None
    viewers: str | None = None
    pod_security: Literal["baseline", "restricted", "privileged"] = "baseline"
    accelerators: Mapping[str, int] = field(default_factory=dict)
    pods: int = 200
    storage: str = "1Ti"
    cpu_limit_ratio: int = 2
    internet_egress: bool = False
    platform_namespaces: Sequence[str] = (cv.NS_MLFLOW, cv.NS_FEAST)
    metrics_namespaces: Sequence[str] = (cv.NS_MONITORING,)
    identity_egress: Sequence[tuple[str, int]] = ()
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def service_account(self) -> str:
        return f"{self.name}-workloads"

    def __post_init__(self) -> None:
        object.__setattr__(self, "accelerators", dict(self.accelerators))
        object.__setattr__(self, "platform_namespaces", tuple(self.platform_namespaces))
        object.__setattr__(self, "metrics_namespaces", tuple(self.metrics_namespaces))
        object.__setattr__(self, "identity_egress", tuple(tuple(e) for e in self.identity_egress))
        if not _DNS_LABEL.match(self.name) or len(self.name) > 63:
            raise ValueError(f"TeamArgs: name {self.name!r} is not a DNS label")
        if not self.cost_center or not _LABEL_VALUE.match(self.cost_center) or len(self.cost_center) > 63:
            raise ValueError(f"TeamArgs: cost_center {self.cost_center!r} is not a label value")
        if self.pod_security not in ("baseline", "restricted", "privileged"):
            raise ValueError(f"TeamArgs: pod_security must be baseline, restricted or privileged, got {self.pod_security!r}")
        for key in ("memory", "storage"):
            if not _QUANTITY.match(str(getattr(self, key))):
                raise ValueError(f"TeamArgs: {key} {getattr(self, key)!r} is not a quantity")
        if not _QUANTITY.match(str(self.cpu)):
            raise ValueError(f"TeamArgs: cpu {self.cpu!r} is not a quantity")
        if self.pods < 1 or self.cpu_limit_ratio < 1:
            raise ValueError("TeamArgs: pods and cpu_limit_ratio must be at least 1")
        for resource, count in self.accelerators.items():
            if not _EXTENDED.match(resource) or resource.startswith("kubernetes.io/"):
                raise ValueError(f"TeamArgs: {resource!r} is not an extended resource name")
            if not isinstance(count, int) or count < 0:
                raise ValueError(f"TeamArgs: accelerators[{resource!r}] must be an integer >= 0, got {count!r}")
        for group in (self.owners, self.viewers):
            if group is not None and (not group or group.startswith("system:")):
                raise ValueError(f"TeamArgs: group {group!r} is not allowed")
        for ns in (*self.platform_namespaces, *self.metrics_namespaces):
            if not _DNS_LABEL.match(ns):
                raise ValueError(f"TeamArgs: {ns!r} is not a namespace name")


def _cpu_times(cpu: int | str, ratio: int) -> str:
    text = str(cpu)
    if text.endswith("m"):
        return f"{int(float(text[:-1]) * ratio)}m"
    return f"{float(text) * ratio:g}"


def quota_hard(args: TeamArgs) -> dict[str, str]:
    """The ResourceQuota ``hard`` map."""
    hard = {
        "requests.cpu": str(args.cpu),
        "limits.cpu": _cpu_times(args.cpu, args.cpu_limit_ratio),
        "requests.memory": args.memory,
        "limits.memory": args.memory,
        "pods": str(args.pods),
        "requests.storage": args.storage,
    }
    for resource, count in sorted(args.accelerators.items()):
        hard[f"requests.{resource}"] = str(count)
    return hard


def namespace_labels(args: TeamArgs) -> dict[str, str]:
    return {
        **args.labels,
        cv.TEAM_LABEL: args.name,
        cv.COST_CENTER_LABEL: args.cost_center,
        cv.MANAGED_BY_LABEL: cv.MANAGED_BY,
        f"{PSA}/enforce": args.pod_security,
        f"{PSA}/enforce-version": "latest",
        f"{PSA}/warn": "restricted",
        f"{PSA}/warn-version": "latest",
        f"{PSA}/audit": "restricted",
        f"{PSA}/audit-version": "latest",
    }


def _ns(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: name}}}


def network_policies(args: TeamArgs) -> dict[str, dict[str, Any]]:
    """Policy name -> NetworkPolicy spec: deny all, then allow DNS, the namespace, platform services, egress."""
    public = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}
    policies: dict[str, dict[str, Any]] = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{**_ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
        # object store and cloud APIs (S3/STS, GCS/IAM) are public HTTPS endpoints
        "allow-https-egress": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [public], "ports": [{"protocol": "TCP", "port": 443}]}],
        },
    }
    if args.platform_namespaces:
        policies["allow-platform-services"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [_ns(ns) for ns in args.platform_namespaces]}],
        }
    if args.metrics_namespaces:
        policies["allow-metrics-scraping"] = {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [_ns(ns) for ns in args.metrics_namespaces]}],
        }
    if args.identity_egress:
        # the link-local range is excluded from the public rules above: without this, default-deny
        # leaves the pods without cloud credentials (GKE: Workload Identity tokens)
        policies["allow-cloud-identity"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
                for cidr, port in args.identity_egress
            ],
        }
    if args.internet_egress:
        policies["allow-internet-egress"] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [public]}]}
    return policies


class Team(Component):
    """Namespace, ResourceQuota, LimitRange, NetworkPolicies, RoleBindings and the workload service account
    (the Kubernetes provider comes through ``opts``).

    Outputs: ``namespace_name``, ``service_account_name``.
    """

    namespace: k8s.core.v1.Namespace
    namespace_name: pulumi.Output[str]
    service_account_name: str

    def __init__(self, resource_name: str, args: TeamArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Team", resource_name, opts)
        name = resource_name
        labels = {cv.TEAM_LABEL: args.name, cv.MANAGED_BY_LABEL: cv.MANAGED_BY}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": args.name, "labels": namespace_labels(args)}, opts=self.child_opts()
        )
        ns = self.namespace.metadata["name"]
        in_ns = self.child_opts(depends_on=[self.namespace])

        def meta(object_name: str, annotations: Mapping[str, pulumi.Input[str]] | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {"name": object_name, "namespace": ns, "labels": labels}
            if annotations:
                out["annotations"] = dict(annotations)
            return out

        self.quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=meta("team-quota"), spec={"hard": quota_hard(args)}, opts=in_ns
        )
        self.limit_range = k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("team-defaults"),
            spec={"limits": [{"type": "Container", "defaultRequest": dict(DEFAULT_REQUEST), "default": dict(DEFAULT_LIMIT)}]},
            opts=in_ns,
        )
        self.network_policies = {
            policy: k8s.networking.v1.NetworkPolicy(f"{name}-{policy}", metadata=meta(policy), spec=spec, opts=in_ns)
            for policy, spec in network_policies(args).items()
        }
        self.role_bindings: dict[str, k8s.rbac.v1.RoleBinding] = {}
        for role, group in (("edit", args.owners), ("view", args.viewers)):
            if group is None:
                continue
            self.role_bindings[role] = k8s.rbac.v1.RoleBinding(
                f"{name}-{role}",
                metadata=meta(f"team-{role}"),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                opts=in_ns,
            )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-workloads",
            metadata=meta(args.service_account, args.service_account_annotations),
            opts=in_ns,
        )
        self.publish(namespace_name=ns, service_account_name=args.service_account)
