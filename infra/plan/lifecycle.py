"""The deploy-lifecycle model: the order Pulumi would create and destroy a plan in, checked against
readiness facts (``lifecycle_facts.yaml``).

A valid plan is not a working deploy: mocks accept what real engines reject and cannot see order.
From the recorded graph (``dependencies`` = property dependencies + ``dependsOn``, a custom
``parent``, the ``provider``) this module computes the waves the engine would create resources in
(a resource starts once everything it needs is created) and destroy them in (a resource is deleted
once everything that needs it is gone), then checks them against the facts:

- create: nothing is created before what it needs (its CRD, its webhook and the network path to
  it, its controller's permissions, its identity pool, service agent or key-policy principals,
  nodes and DNS for the pods of a release that waits);
- destroy: no controller, permission or CRD is gone while objects it finalizes still exist, and
  outside prod nothing is left that cannot be deleted;
- re-create: outside prod, no fixed name that cannot be reused after a destroy.

"A needs B" holds when A transitively depends on B: the engine then creates B first and deletes it
last, so one graph property answers both the create and the destroy question. Each problem has a
stable ``check`` id (``mlp-life-NNN``, see :data:`CHECKS`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra.plan.model import RecordedResource

FACTS_FILE = Path(__file__).with_name("lifecycle_facts.yaml")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER_PREFIX = "pulumi:providers:"

CHECKS: dict[str, str] = {
    "mlp-life-000": "the dependency graph has a cycle or names a resource the plan does not have",
    "mlp-life-001": "a custom resource whose CRD nothing in the plan installs (or no fact says what installs it)",
    "mlp-life-002": "a custom resource that does not depend on the release installing its CRD",
    "mlp-life-003": "an object admitted by a webhook that does not depend on the release serving it",
    "mlp-life-004": "a webhook port the control plane cannot reach (no firewall rule, or the release does not depend on it)",
    "mlp-life-005": "an object a controller finalizes that does not depend on the controller's release (destroy order)",
    "mlp-life-006": "an object a controller finalizes that does not depend on the controller's IAM policies (destroy order)",
    "mlp-life-007": "a controller release that does not depend on the IAM policies it needs at start",
    "mlp-life-008": "a Workload Identity member created before the cluster that creates its identity pool",
    "mlp-life-009": "a binding naming a GCP service agent before the service identity that creates it",
    "mlp-life-010": "a resource policy naming a principal that does not exist yet (missing service-linked role or dependency)",
    "mlp-life-011": "a Helm release that waits for pods but does not depend on schedulable nodes and cluster DNS",
    "mlp-life-012": "a resource `pulumi destroy` cannot delete outside prod",
    "mlp-life-013": "a protected or retained resource outside prod (destroy fails or leaks)",
    "mlp-life-014": "a fixed name that cannot be reused when the stack is re-created after a destroy",
    "mlp-life-015": "a resource encrypted with a KMS key before its service agent is granted that key",
    "mlp-life-016": "a GCP resource created before the API it needs, in a plan that enables APIs itself",
    "mlp-life-017": "nodes launched before their IAM role has its policies (and, for Karpenter, its access entry)",
}


@dataclass(frozen=True)
class Problem:
    """One lifecycle problem: stable check id, the resource, what goes wrong and what to do."""

    check: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "urn": self.urn, "message": self.message}


@dataclass
class Lifecycle:
    """Waves (lists of URNs, first wave first) and problems; ``to_json`` is the plan JSON ``lifecycle``."""

    create_waves: list[list[str]] = field(default_factory=list)
    destroy_waves: list[list[str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "create_waves": self.create_waves,
            "destroy_waves": self.destroy_waves,
            "problems": [p.to_json() for p in self.problems],
        }


@cache
def facts() -> dict[str, Any]:
    """The readiness facts (parsed once)."""
    return dict(yaml.safe_load(FACTS_FILE.read_text()))


# ---- small helpers ---------------------------------------------------------------------------


def short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def k8s_kind(type_: str) -> str | None:
    """``kubernetes:karpenter.sh/v1:NodePool`` -> ``karpenter.sh/NodePool`` (``core/Namespace``)."""
    if not type_.startswith("kubernetes:") or type_ == HELM_RELEASE:
        return None
    try:
        _, group_version, kind = type_.split(":")
    except ValueError:
        return None
    return f"{group_version.rsplit('/', 1)[0]}/{kind}"


def chart_name(res: RecordedResource) -> str:
    return str(res.inputs.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]


def dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _mock_name(res: RecordedResource) -> str:
    """The physical name the offline plan gives an auto-named resource (see mocks ``_named_arn``)."""
    from infra.plan.mocks import _short

    return str(res.inputs.get("name") or f"{res.name}-{_short(res.name)}")


def _strings(value: Any) -> Iterable[tuple[str, str]]:
    """Every ``(key, string)`` leaf of a nested value."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        key, cur = stack.pop()
        if isinstance(cur, dict):
            stack.extend(cur.items())
        elif isinstance(cur, list):
            stack.extend((key, v) for v in cur)
        elif isinstance(cur, str):
            yield key, cur


# ---- the graph and its waves ------------------------------------------------------------------


class Graph:
    """Custom resources and what each needs before it can be created."""

    def __init__(self, resources: list[RecordedResource]) -> None:
        self.all = {r.urn: r for r in resources}
        self.nodes = {r.urn: r for r in resources if r.custom}
        self.problems: list[Problem] = []
        children: dict[str, list[str]] = {}
        for r in resources:
            if r.parent:
                children.setdefault(r.parent, []).append(r.urn)
        self._children = children
        self.needs: dict[str, set[str]] = {}
        for urn, r in self.nodes.items():
            needs: set[str] = set()
            for dep in r.dependencies:
                needs |= self._expand(dep, urn)
            if r.parent in self.nodes:  # a custom parent is created before its children
                needs.add(r.parent)
            if r.provider_urn in self.all:  # a default provider the engine makes itself may be absent
                needs |= self._expand(r.provider_urn, urn)
            needs.discard(urn)
            self.needs[urn] = needs
        self.order = self._topological()
        self._bit = {urn: 1 << i for i, urn in enumerate(self.order)}
        self._ancestors: dict[str, int] = {}
        for urn in self.order:
            acc = 0
            for dep in self.needs[urn]:
                acc |= self._ancestors.get(dep, 0) | self._bit.get(dep, 0)
            self._ancestors[urn] = acc

    def _expand(self, urn: str, of: str) -> set[str]:
        """A dependency on a component is one on every custom resource under it."""
        if urn in self.nodes:
            return {urn}
        if urn not in self.all:
            # the stack itself, and a StackReference (a read of another stack's outputs, never created or
            # deleted here: infra/plan/fleet.py checks the order across stacks), are not in the plan
            if urn.split("::")[2].split("$")[-1] not in ("pulumi:pulumi:Stack", "pulumi:pulumi:StackReference"):
                self.problems.append(Problem("mlp-life-000", of, f"depends on {urn}, which the plan does not register"))
            return set()
        out: set[str] = set()
        stack = list(self._children.get(urn, []))
        while stack:
            cur = stack.pop()
            if cur in self.nodes:
                out.add(cur)
            stack.extend(self._children.get(cur, []))
        return out

    def _topological(self) -> list[str]:
        dependents: dict[str, list[str]] = {u: [] for u in self.nodes}
        indegree = {u: len(n) for u, n in self.needs.items()}
        for urn, needs in self.needs.items():
            for dep in needs:
                dependents[dep].append(urn)
        ready = sorted(u for u, d in indegree.items() if d == 0)
        order: list[str] = []
        while ready:
            urn = ready.pop()
            order.append(urn)
            for nxt in dependents[urn]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
        if len(order) < len(self.nodes):
            stuck = sorted(set(self.nodes) - set(order))
            self.problems.append(
                Problem(
                    "mlp-life-000",
                    stuck[0],
                    f"dependency cycle among {len(stuck)} resources: {', '.join(short(u) for u in stuck[:6])}",
                )
            )
            order += stuck
        return order

    def depends_on(self, urn: str, other: str) -> bool:
        """Whether ``urn`` transitively needs ``other`` (so ``other`` is created first, deleted last)."""
        return bool(self._ancestors.get(urn, 0) & self._bit.get(other, 0))

    def create_waves(self) -> list[list[str]]:
        wave: dict[str, int] = {}
        for urn in self.order:
            wave[urn] = 1 + max((wave.get(d, 0) for d in self.needs[urn]), default=0)
        return _group(wave)

    def destroy_waves(self) -> list[list[str]]:
        dependents: dict[str, set[str]] = {u: set() for u in self.nodes}
        for urn, needs in self.needs.items():
            for dep in needs:
                dependents[dep].add(urn)
        wave: dict[str, int] = {}
        for urn in reversed(self.order):
            wave[urn] = 1 + max((wave.get(d, 0) for d in dependents[urn]), default=0)
        return _group(wave)


def _group(wave: dict[str, int]) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(max(wave.values(), default=0))]
    for urn, n in wave.items():
        out[n - 1].append(urn)
    return [sorted(w) for w in out]


# ---- the checks ----------------------------------------------------------------------------------


class _Checker:
    def __init__(self, graph: Graph, environment: str) -> None:
        self.g = graph
        self.env = environment
        self.f = facts()
        self.problems: list[Problem] = []
        self.releases: dict[str, list[RecordedResource]] = {}
        for r in graph.nodes.values():
            if r.type == HELM_RELEASE:
                self.releases.setdefault(chart_name(r), []).append(r)
        self.k8s_objects = [(r, k8s_kind(r.type)) for r in graph.nodes.values() if k8s_kind(r.type)]

    def add(self, check: str, urn: str, message: str) -> None:
        self.problems.append(Problem(check, urn, message))

    def _release_for(self, obj: RecordedResource, chart: str) -> RecordedResource | None:
        """The release of ``chart`` on the same Kubernetes provider as ``obj``."""
        same = [r for r in self.releases.get(chart, []) if r.provider_urn == obj.provider_urn]
        return same[0] if same else None

    # 001 / 002: CRDs
    def crds(self) -> None:
        installers: dict[str, str] = {}
        for entry in self.f["crd_installers"]:
            for kind in entry["kinds"]:
                installers[kind] = entry["chart"]
        builtin = set(self.f["builtin_groups"])
        crd_defined = {
            f"{dig(r.inputs, 'spec.group')}/{dig(r.inputs, 'spec.names.kind')}": r
            for r in self.g.nodes.values()
            if r.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
        }
        for obj, kind in self.k8s_objects:
            assert kind is not None
            if kind.split("/")[0] in builtin:
                continue
            if kind in crd_defined:
                crd = crd_defined[kind]
                if not self.g.depends_on(obj.urn, crd.urn):
                    self.add(
                        "mlp-life-002",
                        obj.urn,
                        f"{kind} is created without depending on its CustomResourceDefinition {short(crd.urn)}",
                    )
                continue
            by_cluster = next((e for e in self.f.get("cluster_crds", []) if kind in e["kinds"]), None)
            if by_cluster is not None:
                makers = [
                    c for c in self.g.nodes.values() if c.type == by_cluster["provided_by"] and dig(c.inputs, by_cluster["when"])
                ]
                if not makers:
                    self.add(
                        "mlp-life-001",
                        obj.urn,
                        f"{kind} needs a {by_cluster['provided_by']} with {by_cluster['when']} on, which the plan does not have",
                    )
                elif not any(self.g.depends_on(obj.urn, c.urn) for c in makers):
                    self.add("mlp-life-002", obj.urn, f"{kind} does not depend on {short(makers[0].urn)} that installs its CRD")
                continue
            chart = installers.get(kind)
            if chart is None:
                self.add(
                    "mlp-life-001",
                    obj.urn,
                    f"no readiness fact says what installs the CRD of {kind}: add it to infra/plan/lifecycle_facts.yaml crd_installers",
                )
                continue
            release = self._release_for(obj, chart)
            if release is None:
                self.add(
                    "mlp-life-001",
                    obj.urn,
                    f"{kind} needs the {chart} chart's CRDs, but no {chart} release is in the plan: `pulumi up` fails with "
                    f"'no matches for kind \"{kind.split('/')[1]}\"'",
                )
            elif not self.g.depends_on(obj.urn, release.urn):
                self.add(
                    "mlp-life-002",
                    obj.urn,
                    f"{kind} does not depend on release {short(release.urn)} that installs its CRD: it can be created before the CRD "
                    "exists and deleted after it",
                )

    # 003 / 004: webhooks and the network path to them
    def webhooks(self) -> None:
        reach = self.f.get("control_plane_reach", {})
        clusters = [r for r in self.g.nodes.values() if r.type in reach]
        for hook in self.f["webhooks"]:
            kinds = set(hook["kinds"])
            objs = [o for o, k in self.k8s_objects if k in kinds]
            for obj in objs:
                release = self._release_for(obj, hook["chart"])
                if (
                    release is not None
                    and not self.g.depends_on(obj.urn, release.urn)
                    and not self._reported(obj.urn, "mlp-life-002")
                ):
                    self.add(
                        "mlp-life-003",
                        obj.urn,
                        f"admitted by the {hook['chart']} webhook but does not depend on release {short(release.urn)} serving it",
                    )
            port = int(hook["port"])
            for release in self.releases.get(hook["chart"], []):
                for cluster in clusters:
                    rule = reach[cluster.type]
                    if not dig(cluster.inputs, rule["private_when"]) or port in rule["open_ports"]:
                        continue
                    if not self.g.depends_on(release.provider_urn, cluster.urn):
                        continue  # a release on another cluster
                    cidr = dig(cluster.inputs, rule["source_cidr"])
                    firewalls = [
                        fw for fw in self.g.nodes.values() if fw.type == rule["firewall_type"] and _allows(fw, cidr, port)
                    ]
                    if not firewalls:
                        self.add(
                            "mlp-life-004",
                            release.urn,
                            f"the {hook['chart']} webhook listens on port {port}, which the private control plane ({cidr}) of "
                            f"{short(cluster.urn)} cannot reach: add an INGRESS firewall rule from {cidr} to tcp:{port} on the cluster network",
                        )
                        continue
                    late = [
                        o
                        for o in objs
                        if o.provider_urn == release.provider_urn
                        and not any(self.g.depends_on(o.urn, fw.urn) for fw in firewalls)
                    ]
                    if late:
                        self.add(
                            "mlp-life-004",
                            late[0].urn,
                            f"{len(late)} object(s) admitted by the {hook['chart']} webhook do not depend on firewall rule "
                            f"{short(firewalls[0].urn)} that lets the control plane reach port {port}",
                        )

    def _reported(self, urn: str, check: str) -> bool:
        return any(p.urn == urn and p.check == check for p in self.problems)

    # 005 / 006 / 007: controllers and their permissions
    def _policies_of_release(self, release: RecordedResource) -> tuple[list[RecordedResource], list[RecordedResource]]:
        """``(roles, policies)``: the IAM roles its values name for IRSA and the policies attached to them."""
        arns = {v for k, v in _strings(release.inputs.get("values")) if k == "eks.amazonaws.com/role-arn"}
        names = {a.rsplit("/", 1)[-1] for a in arns}
        roles = [r for r in self.g.nodes.values() if r.type == "aws:iam/role:Role" and _mock_name(r) in names]
        role_names = {_mock_name(r) for r in roles}
        policy_types = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        policies = [p for p in self.g.nodes.values() if p.type in policy_types and p.inputs.get("role") in role_names]
        return roles, policies

    def controllers(self) -> None:
        at_start = {e["chart"] for e in self.f.get("permissions_at_start", [])}
        for chart in sorted(at_start):
            for release in self.releases.get(chart, []):
                _, policies = self._policies_of_release(release)
                for pol in policies:
                    if not self.g.depends_on(release.urn, pol.urn):
                        self.add(
                            "mlp-life-007",
                            release.urn,
                            f"{chart} needs its IAM policy {short(pol.urn)} at start but does not depend on it",
                        )
        for entry in self.f["finalizers"]:
            kinds = set(entry["kinds"])
            for obj, kind in self.k8s_objects:
                if kind not in kinds:
                    continue
                finalizer_owner = self._release_for(obj, entry["chart"])
                if finalizer_owner is None:
                    continue  # reported by the CRD check
                if not self.g.depends_on(obj.urn, finalizer_owner.urn) and not self._reported(obj.urn, "mlp-life-002"):
                    self.add(
                        "mlp-life-005",
                        obj.urn,
                        f"{kind} is finalized by {entry['chart']}, which can be uninstalled first on destroy: its finalizer then never clears",
                    )
                if entry.get("permissions_at_delete"):
                    _, policies = self._policies_of_release(finalizer_owner)
                    for pol in policies:
                        if not self.g.depends_on(obj.urn, pol.urn):
                            self.add(
                                "mlp-life-006",
                                obj.urn,
                                f"{kind} does not depend on {short(pol.urn)}: on destroy the policy goes first and {entry['chart']} gets "
                                "AccessDenied cleaning up (instances, instance profiles and the VPC leak)",
                            )

    # 008: identity pools
    def identity_pools(self) -> None:
        for entry in self.f["identity_pools"]:
            pools = [c for c in self.g.nodes.values() if c.type == entry["provided_by"] and dig(c.inputs, entry["when"])]
            for r in self.g.nodes.values():
                members = [v for k, v in _strings(r.inputs) if k in ("member", "members") and entry["member_contains"] in v]
                for member in members:
                    pool = member.split(":", 1)[-1].split("[", 1)[0]
                    owners = [c for c in pools if dig(c.inputs, entry["when"]) == pool]
                    if not owners:
                        self.add(
                            "mlp-life-008",
                            r.urn,
                            f"names {member} but no {entry['provided_by']} in the plan creates the pool {pool}",
                        )
                    elif not any(self.g.depends_on(r.urn, c.urn) for c in owners):
                        self.add(
                            "mlp-life-008",
                            r.urn,
                            f"names {member} but does not depend on cluster {short(owners[0].urn)}: the identity pool {pool} does not exist "
                            "until that cluster does (IAM rejects the member)",
                        )

    # 009: service agents
    def service_agents(self) -> None:
        agents = self.f["service_agents"]
        identities = [r for r in self.g.nodes.values() if r.type == "gcp:projects/serviceIdentity:ServiceIdentity"]
        for r in self.g.nodes.values():
            if r.type == "gcp:projects/serviceIdentity:ServiceIdentity":
                continue
            for key, value in _strings(r.inputs):
                if key not in ("member", "members"):
                    continue
                m = re.fullmatch(r"serviceAccount:service-\d+@(.+)", value)
                if not m or m.group(1) not in agents or agents[m.group(1)] is None:
                    continue
                service = agents[m.group(1)]
                makers = [i for i in identities if i.inputs.get("service") == service]
                if not any(self.g.depends_on(r.urn, i.urn) for i in makers):
                    self.add(
                        "mlp-life-009",
                        r.urn,
                        f"grants {value} ({service}'s service agent) without depending on a ServiceIdentity for {service} "
                        "that creates it: on a new project the binding fails",
                    )

    # 010: policy principals
    def principals(self) -> None:
        slr = self.f["service_linked_roles"]
        roles = {_mock_name(r): r for r in self.g.nodes.values() if r.type == "aws:iam/role:Role"}
        slrs = [r for r in self.g.nodes.values() if r.type == "aws:iam/serviceLinkedRole:ServiceLinkedRole"]
        oidc = [r for r in self.g.nodes.values() if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider"]
        for type_, input_name in self.f["principal_policies"].items():
            for r in (x for x in self.g.nodes.values() if x.type == type_):
                for principal in _principals(r.inputs.get(input_name)):
                    self._principal(r, principal, slr, roles, slrs, oidc)

    def _principal(
        self,
        r: RecordedResource,
        arn: str,
        slr: dict[str, str],
        roles: dict[str, RecordedResource],
        slrs: list[RecordedResource],
        oidc: list[RecordedResource],
    ) -> None:
        m = re.fullmatch(r"arn:aws[a-z-]*:iam::\d+:role/(?:.*/)?([^/]+)", arn)
        if m and "/aws-service-role/" in arn:
            name = m.group(1)
            service = slr.get(name) or arn.split("/aws-service-role/", 1)[1].split("/", 1)[0]
            makers = [s for s in slrs if s.inputs.get("awsServiceName") == service]
            if not makers:
                self.add(
                    "mlp-life-010",
                    r.urn,
                    f"names {name}, which a new account does not have until {service} is first used; nothing in the plan creates it "
                    f"(aws.iam.ServiceLinkedRole for {service}) and the API rejects the policy's principal",
                )
            elif not any(self.g.depends_on(r.urn, s.urn) for s in makers):
                self.add("mlp-life-010", r.urn, f"names {name} but does not depend on {short(makers[0].urn)} that creates it")
        elif m and m.group(1) in roles:
            role = roles[m.group(1)]
            if role.urn != r.urn and not self.g.depends_on(r.urn, role.urn):
                self.add("mlp-life-010", r.urn, f"names role {m.group(1)} but does not depend on {short(role.urn)}")
        elif ":oidc-provider/" in arn:
            issuer = arn.split(":oidc-provider/", 1)[1]
            makers = [o for o in oidc if str(o.inputs.get("url", "")).removeprefix("https://") == issuer]
            if makers and not any(self.g.depends_on(r.urn, o.urn) for o in makers):
                self.add("mlp-life-010", r.urn, f"trusts OIDC provider {issuer} but does not depend on {short(makers[0].urn)}")

    # 011: releases need nodes and DNS
    def nodes_for_releases(self) -> None:
        spec = self.f["system_nodes"]
        node_types = set(spec["node_types"])
        nodes = [
            n for n in self.g.nodes.values() if n.type in node_types and not _tainted(dig(n.inputs, spec["taints_input"][n.type]))
        ]
        tainted_only = not nodes and any(n.type in node_types for n in self.g.nodes.values())
        if not nodes and not tainted_only:
            return  # a cluster we do not create (cloud: existing)
        dns = [
            d
            for d in self.g.nodes.values()
            for rule in spec["dns"]
            if d.type == rule["type"] and d.inputs.get(rule["input"]) == rule["value"]
        ]
        for releases in self.releases.values():
            for rel in releases:
                if rel.inputs.get("skipAwait"):
                    continue
                missing = []
                if not any(self.g.depends_on(rel.urn, n.urn) for n in nodes):
                    missing.append(
                        "schedulable nodes (" + ", ".join(short(n.urn) for n in nodes) + ")" if nodes else "untainted nodes"
                    )
                if dns and not any(self.g.depends_on(rel.urn, d.urn) for d in dns):
                    missing.append("cluster DNS (" + ", ".join(short(d.urn) for d in dns) + ")")
                if missing:
                    self.add(
                        "mlp-life-011",
                        rel.urn,
                        f"release {rel.inputs.get('name') or short(rel.urn)} waits for its pods but does not depend on "
                        + " and ".join(missing)
                        + ": on a new cluster the atomic install can time out and roll back",
                    )

    # 012 / 013: deletable outside prod
    def deletable(self) -> None:
        if self.env == "prod":
            return
        for rule in self.f["deletable_outside_prod"]:
            for r in (x for x in self.g.nodes.values() if x.type == rule["type"]):
                if r.protect or r.retain_on_delete:
                    continue  # reported once below
                value = dig(r.inputs, rule["input"])
                value = rule.get("default") if value is None else value
                if value in rule["allowed"] or (rule.get("unless_input") and dig(r.inputs, rule["unless_input"])):
                    continue
                self.add(
                    "mlp-life-012",
                    r.urn,
                    f"{rule['input']} is {json.dumps(value)} in {self.env} (needs {' or '.join(json.dumps(a) for a in rule['allowed'])}): {rule['why']}",
                )
        shared = {e["type"] for e in self.f.get("account_wide", [])}
        for r in self.g.nodes.values():
            if r.type.startswith(PROVIDER_PREFIX):
                continue
            if r.type in shared and r.retain_on_delete and not r.protect:
                continue  # kept on purpose: others in the account use it
            if r.protect:
                self.add("mlp-life-013", r.urn, f"protected in {self.env}: `pulumi destroy` stops here (protect is for prod)")
            elif r.retain_on_delete:
                self.add(
                    "mlp-life-013",
                    r.urn,
                    f"retained on delete in {self.env}: `pulumi destroy` leaks it and a re-create may collide with it",
                )

    # 014: names that cannot be reused
    def reusable_names(self) -> None:
        if self.env == "prod":
            return
        for rule in self.f["names_not_reusable"]:
            for r in (x for x in self.g.nodes.values() if x.type == rule["type"]):
                name = r.inputs.get(rule["input"])
                if name is None:
                    continue
                sources = r.property_dependencies.get(rule["input"], [])
                if any(self.g.all[s].type.startswith("random:") for s in sources if s in self.g.all):
                    continue
                self.add(
                    "mlp-life-014",
                    r.urn,
                    f"fixed {rule['input']} {name!r}: {rule['why']}; derive it from a random suffix kept in state",
                )

    # 015: CMEK grants before the resources that encrypt with the key
    def cmek(self) -> None:
        grants = [g for g in self.g.nodes.values() if g.type == "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"]
        for rule in self.f.get("cmek_users", []):
            for r in (x for x in self.g.nodes.values() if x.type == rule["type"]):
                key = dig(r.inputs, rule["input"])
                if not key:
                    continue
                mine = [
                    g
                    for g in grants
                    if g.inputs.get("cryptoKeyId") == key and str(g.inputs.get("member", "")).endswith("@" + rule["agent"])
                ]
                if not mine:
                    self.add(
                        "mlp-life-015",
                        r.urn,
                        f"encrypts with {key} but nothing grants its service agent (*@{rule['agent']}) that key",
                    )
                elif not any(self.g.depends_on(r.urn, g.urn) for g in mine):
                    self.add(
                        "mlp-life-015",
                        r.urn,
                        f"encrypts with {key} but does not depend on {short(mine[0].urn)} granting its service agent the key",
                    )

    # 016: APIs enabled by the plan
    def apis(self) -> None:
        services: dict[str, list[RecordedResource]] = {}
        for r in self.g.nodes.values():
            if r.type == "gcp:projects/service:Service":
                services.setdefault(str(r.inputs.get("service")), []).append(r)
        if not services:
            return  # the APIs are prerequisites (docs/first-deploy.md, ops preflight)
        for r in self.g.nodes.values():
            api = next((a for prefix, a in self.f.get("gcp_apis", {}).items() if r.type.startswith(prefix)), None)
            if api is None:
                continue
            if api not in services:
                self.add(
                    "mlp-life-016", r.urn, f"needs {api}, which the plan does not enable (it enables {len(services)} other APIs)"
                )
            elif not any(self.g.depends_on(r.urn, s.urn) for s in services[api]):
                self.add(
                    "mlp-life-016",
                    r.urn,
                    f"does not depend on {short(services[api][0].urn)}: it can be created before {api} is enabled",
                )

    # 017: node roles ready before nodes launch
    def node_roles(self) -> None:
        roles = {_mock_name(r): r for r in self.g.nodes.values() if r.type == "aws:iam/role:Role"}
        attach_types = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/rolePolicy:RolePolicy")
        for rule in self.f.get("node_roles", []):
            for r in (x for x in self.g.nodes.values() if x.type == rule["type"]):
                ref = str(dig(r.inputs, rule["role_input"]) or "")
                name = ref.rsplit("/", 1)[-1]
                if name not in roles:
                    continue
                needed = [p for p in self.g.nodes.values() if p.type in attach_types and p.inputs.get("role") == name]
                if rule.get("access_entry"):
                    entries = [
                        e
                        for e in self.g.nodes.values()
                        if e.type == "aws:eks/accessEntry:AccessEntry"
                        and str(e.inputs.get("principalArn", "")).endswith(f"/{name}")
                    ]
                    if not entries:
                        self.add(
                            "mlp-life-017",
                            r.urn,
                            f"launches nodes with role {name}, which has no EKS access entry in the plan: they never join the cluster",
                        )
                    needed += entries
                missing = [p for p in needed if not self.g.depends_on(r.urn, p.urn)]
                if missing:
                    self.add(
                        "mlp-life-017",
                        r.urn,
                        f"can launch nodes before {', '.join(short(p.urn) for p in missing)} of role {name} exist: they do not join the cluster",
                    )

    def run(self) -> list[Problem]:
        self.crds()
        self.webhooks()
        self.controllers()
        self.identity_pools()
        self.service_agents()
        self.principals()
        self.nodes_for_releases()
        self.deletable()
        self.reusable_names()
        self.cmek()
        self.apis()
        self.node_roles()
        return self.problems


def _allows(firewall: RecordedResource, cidr: Any, port: int) -> bool:
    i = firewall.inputs
    if str(i.get("direction", "INGRESS")).upper() != "INGRESS" or (cidr and cidr not in (i.get("sourceRanges") or [])):
        return False
    for allow in i.get("allows") or i.get("allow") or []:
        if str(allow.get("protocol", "")).lower() not in ("tcp", "all"):
            continue
        ports = allow.get("ports") or []
        if not ports:
            return True
        for p in ports:
            lo, _, hi = str(p).partition("-")
            if int(lo) <= port <= int(hi or lo):
                return True
    return False


def _tainted(taints: Any) -> bool:
    return any(
        str(t.get("effect", "")).upper() in ("NO_SCHEDULE", "NOSCHEDULE", "NO_EXECUTE", "NOEXECUTE")
        for t in taints or []
        if isinstance(t, dict)
    )


def _principals(policy: Any) -> list[str]:
    """AWS and federated principal ARNs of a policy document (JSON string or dict)."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, dict):
        return []
    statements = policy.get("Statement") or []
    out: list[str] = []
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal") if isinstance(st, dict) else None
        if not isinstance(principal, dict):
            continue
        for key in ("AWS", "Federated"):
            value = principal.get(key)
            out += [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    return [p for p in out if p.startswith("arn:")]


def analyze(resources: list[RecordedResource], environment: str) -> Lifecycle:
    """The create / destroy waves of ``resources`` and every lifecycle problem, sorted."""
    graph = Graph(resources)
    problems = graph.problems + _Checker(graph, environment).run()
    unique = sorted(set(problems), key=lambda p: (p.check, p.urn, p.message))
    return Lifecycle(create_waves=graph.create_waves(), destroy_waves=graph.destroy_waves(), problems=unique)


def mermaid(lifecycle: Lifecycle, *, destroy: bool = False, limit: int = 12) -> str:
    """A Mermaid flowchart of the waves, one box per wave listing resource types (counts)."""
    waves = lifecycle.destroy_waves if destroy else lifecycle.create_waves
    lines = ["flowchart TB"]
    for i, wave in enumerate(waves, 1):
        counts: dict[str, int] = {}
        for urn in wave:
            full = urn.split("::")[2].split("$")[-1]
            t = f"{full.rsplit(':', 1)[-1]} provider" if full.startswith(PROVIDER_PREFIX) else full.rsplit(":", 1)[-1]
            counts[t] = counts.get(t, 0) + 1
        items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        label = ", ".join(f"{t} x{n}" if n > 1 else t for t, n in items[:limit]) + (", ..." if len(items) > limit else "")
        lines.append(f'  w{i}["wave {i}: {label}"]')
        if i > 1:
            lines.append(f"  w{i - 1} --> w{i}")
    return "\n".join(lines)
