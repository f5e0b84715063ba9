"""JupyterHub (the official Zero to JupyterHub chart, pinned): notebooks on the GPU pools, charged to teams.

* Login through the identity provider with OAuthenticator's ``GenericOAuthenticator`` (OIDC
  endpoints from config). The client secret is a Kubernetes Secret made from a Pulumi secret and
  reaches the hub as the ``OAUTH_CLIENT_SECRET`` environment variable (OAuthenticator's
  ``client_secret`` defaults to it), so it is never in the Helm values.
* Team membership comes from the IdP: ``manage_groups`` copies the groups claim into JupyterHub
  groups (OAuthenticator >= 16), and a team's ``owners`` group (the same group bound to ``edit`` in
  its namespace) makes a user a member; ``users`` in config maps single users explicitly. Only
  users with a team may log in (``allowed_groups`` / ``allowed_users``).
* A ``pre_spawn_hook`` (``hub.extraConfig``) puts the server into the team's namespace, runs it as
  the team's ``<team>-workloads`` service account (lake prefix through the team's cloud identity),
  on the Kueue LocalQueue ``default`` and charges it to the team's quota. KubeSpawner's
  ``enable_user_namespaces`` is on (its pod watch then covers every namespace) but its namespace
  creation is replaced by a check (``TeamSpawner``): the hub never creates namespaces, it gets a
  RoleBinding in each team namespace (pods, PVCs) - see :class:`JupyterHub`.
* Profiles are generated from the GPU pools (whole GPU, MIG slice, time-sliced share) plus a
  CPU-only profile; each schedules on its pool (node selector = the pool label, the pool's
  tolerations) and requests the extended resource the pool offers.
* Home volumes use an encrypted StorageClass (the platform's KMS key / CMEK), and the idle culler
  stops servers idle longer than ``idle_timeout_seconds``.
* Notebook pods carry ``ml-platform.io/user`` (escaped user name) so GPU alerts can name the user.

Checked against what chart 4.4.0's hub image runs (``images/hub/requirements.txt`` at tag 4.4.0:
jupyterhub 5.5.0, jupyterhub-kubespawner 7.0.0, oauthenticator 17.4.0): ``manage_groups`` /
``auth_state_groups_key`` / ``allowed_groups`` / ``username_claim`` and ``client_secret`` defaulting to
``$OAUTH_CLIENT_SECRET`` (oauthenticator ``oauth2.py``, 17.0+); KubeSpawner 7.0.0's ``_start`` calls
``_ensure_namespace`` when ``enable_user_namespaces`` and its reflectors then omit the namespace; the
chart's ``jupyterhub_config.py`` sets ``spawner_class`` before it runs ``hub.extraConfig`` (sorted by key),
so ``TeamSpawner`` wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component
from components.k8s.helm import pinned_release

CHART = "jupyterhub"
CHART_VERSION = "4.4.0"
"""The chart published for tag 4.4.0 (its Chart.yaml in git says 0.0.1-set.by.chartpress)."""
REPO = "https://hub.jupyter.org/helm-chart/"
NAMESPACE = cv.NS_JUPYTERHUB
RELEASE = "jupyterhub"
CLIENT_SECRET = "jupyterhub-oidc"
"""Kubernetes Secret (key ``client-secret``) holding the OIDC client secret."""
USER_LABEL = cv.USER_LABEL
"""Label on every notebook pod: the (escaped) JupyterHub user name, for alerts and cost reports."""
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
_SLUG = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Profile:
    """One entry of the spawn form.

    :param slug: stable id (DNS label).
    :param pool: GPU pool name (``None``: CPU-only, no GPU pool).
    :param resource: extended resource the pool offers (``nvidia.com/gpu``, ``nvidia.com/mig-1g.10gb``).
    """

    slug: str
    display_name: str
    description: str
    cpu: float
    memory: str
    pool: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, str]] = ()
    resource: str | None = None

    def to_values(self, *, default: bool) -> dict[str, Any]:
        override: dict[str, Any] = {
            "cpu_guarantee": self.cpu,
            "cpu_limit": self.cpu,
            "mem_guarantee": self.memory,
            "mem_limit": self.memory,
        }
        if self.pool is not None:
            override["node_selector"] = dict(self.node_selector)
            override["tolerations"] = [dict(t) for t in self.tolerations]
            override["extra_resource_guarantees"] = {self.resource: "1"}
            override["extra_resource_limits"] = {self.resource: "1"}
        out: dict[str, Any] = {
            "display_name": self.display_name,
            "slug": self.slug,
            "description": self.description,
            "kubespawner_override": override,
        }
        if default:
            out["default"] = True
        return out


@dataclass(frozen=True)
class Oidc:
    """The identity provider's OAuth2 / OIDC endpoints (see docs/practitioners.md for GitHub, Google, Cognito)."""

    client_id: str
    authorize_url: str
    token_url: str
    userdata_url: str
    callback_url: str
    scope: Sequence[str] = ("openid", "email", "profile")
    username_claim: str = "email"
    groups_claim: str = "groups"
    login_service: str = "single sign-on"


@dataclass(frozen=True)
class HomeVolumes:
    """The StorageClass of the home volumes (``notebook-home``): a CSI provisioner and its parameters
    (the platform key goes here: EBS ``kmsKeyId``, GCE PD ``disk-encryption-kms-key``)."""

    provisioner: str
    parameters: Mapping[str, pulumi.Input[str]]


SINGLEUSER_PORT = 8888
HUB_PORT = 8081
HUB_URL = f"http://hub.{NAMESPACE}.svc.cluster.local:{HUB_PORT}"
"""The hub API as notebook pods in other namespaces reach it (the chart's Service ``hub``)."""
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 100, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
"""What Pod Security ``restricted`` asks of the notebook pods (teams may enforce it)."""


@dataclass(frozen=True)
class JupyterHubArgs:
    """What the hub needs.

    :param teams: team name -> its IdP group (the team's ``owners``).
    :param users: user name -> team, for users without a team group.
    :param storage_class: StorageClass of the home volumes (encrypted with the platform key).
    :param home_size: home volume size.
    :param idle_timeout_seconds: the culler stops servers idle this long.
    :param mlflow_tracking_uri: set as ``MLFLOW_TRACKING_URI`` in every notebook.
    """

    oidc: Oidc
    client_secret: pulumi.Input[str]
    profiles: Sequence[Profile]
    teams: Mapping[str, str]
    storage_class: str
    users: Mapping[str, str] = field(default_factory=dict)
    home_size: str = "20Gi"
    idle_timeout_seconds: int = 3600
    mlflow_tracking_uri: str | None = None
    mlflow_credentials_secret: str | None = None
    """Secret in each team namespace with ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (the team's
    MLflow user): notebooks take both by reference (``None``: MLflow without auth)."""
    admin_users: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    home_volumes: HomeVolumes | None = None
    """How to create the StorageClass ``storage_class``; ``None``: it exists already (the cluster's admin made it)."""
    team_namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Team -> its namespace (an ``Output`` makes the hub's RoleBinding and NetworkPolicy there wait for it)."""

    def __post_init__(self) -> None:
        slugs = [p.slug for p in self.profiles]
        if not slugs or len(set(slugs)) != len(slugs) or not all(_SLUG.match(s) for s in slugs):
            raise ValueError(f"JupyterHubArgs: profiles need unique DNS-label slugs, got {slugs}")
        for p in self.profiles:
            if p.pool is not None and (not p.resource or not p.node_selector):
                raise ValueError(f"JupyterHubArgs: GPU profile {p.slug!r} needs a resource and a node selector")
        unknown = sorted(set(self.users.values()) - set(self.teams))
        if unknown:
            raise ValueError(f"JupyterHubArgs: users map to unknown teams {unknown}")
        if self.idle_timeout_seconds < 60:
            raise ValueError("JupyterHubArgs: idle_timeout_seconds below 60")


SPAWN_HOOK = """
import json

from kubespawner import KubeSpawner

TEAMS_BY_GROUP = json.loads({groups!r})
TEAM_OF_USER = json.loads({users!r})


def label_value(name):
    # a label value (63 of [a-z0-9-], alphanumeric ends) naming the user: other characters as -<hex>
    safe = "abcdefghijklmnopqrstuvwxyz0123456789"
    out = "".join(ch if ch in safe else "-{{:x}}".format(ord(ch)) for ch in name.lower())
    return out[:63].strip("-")


def team_of(user):
    if user.name in TEAM_OF_USER:
        return TEAM_OF_USER[user.name]
    for group in sorted(g.name for g in user.groups):
        if group in TEAMS_BY_GROUP:
            return TEAMS_BY_GROUP[group]
    return None


class TeamSpawner(KubeSpawner):
    # enable_user_namespaces makes KubeSpawner watch pods in every namespace (its reflectors), and create the
    # user's namespace before the pod; team namespaces are the platform's (quota, Pod Security, Kueue), so this
    # only checks that the namespace exists and belongs to the team, and the hub may not create namespaces
    async def _ensure_namespace(self):
        ns = await self.api.read_namespace(self.namespace)
        if (ns.metadata.labels or {{}}).get({team_label!r}) != self.namespace:
            raise RuntimeError(f"namespace {{self.namespace}} is not a team namespace")


async def ml_platform_pre_spawn(spawner):
    team = team_of(spawner.user)
    if team is None:
        raise RuntimeError(f"user {{spawner.user.name}} belongs to no team: ask the platform team")
    spawner.namespace = team
    spawner.service_account = team + "-workloads"
    spawner.extra_labels = {{**spawner.extra_labels, {team_label!r}: team, {queue_label!r}: "default",
                            {user_label!r}: label_value(spawner.user.name)}}


c.JupyterHub.spawner_class = TeamSpawner
c.KubeSpawner.enable_user_namespaces = True
c.KubeSpawner.pre_spawn_hook = ml_platform_pre_spawn
"""


def helm_values(args: JupyterHubArgs) -> dict[str, Any]:
    """The chart values (keys exist in the chart's values.yaml; validated against its schema in tests)."""
    oidc = args.oidc
    groups = {group: team for team, group in sorted(args.teams.items())}
    hook = SPAWN_HOOK.format(
        groups=json.dumps(groups),
        users=json.dumps(dict(sorted(args.users.items()))),
        team_label=cv.TEAM_LABEL,
        queue_label=QUEUE_LABEL,
        user_label=USER_LABEL,
    )
    env: dict[str, Any] = {"MLFLOW_TRACKING_URI": args.mlflow_tracking_uri} if args.mlflow_tracking_uri else {}
    if args.mlflow_tracking_uri and args.mlflow_credentials_secret:
        # the notebook runs in the team namespace: the team's MLflow user, by reference (never in the values)
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env[var] = {"valueFrom": {"secretKeyRef": {"name": args.mlflow_credentials_secret, "key": var, "optional": True}}}
    return {
        "hub": {
            "config": {
                # the chart points servers at http://hub:8081, a name that resolves only in the hub's namespace;
                # notebooks run in the team namespaces (hub.config is loaded after the chart's own setting)
                "JupyterHub": {"authenticator_class": "generic-oauth", "hub_connect_url": HUB_URL},
                "KubeSpawner": {"pod_security_context": POD_SECURITY, "container_security_context": CONTAINER_SECURITY},
                "Authenticator": {
                    "allowed_users": sorted(args.users),
                    "admin_users": sorted(args.admin_users),
                },
                "GenericOAuthenticator": {
                    "client_id": oidc.client_id,
                    "oauth_callback_url": oidc.callback_url,
                    "authorize_url": oidc.authorize_url,
                    "token_url": oidc.token_url,
                    "userdata_url": oidc.userdata_url,
                    "scope": list(oidc.scope),
                    "username_claim": oidc.username_claim,
                    "login_service": oidc.login_service,
                    "manage_groups": True,
                    "auth_state_groups_key": f"oauth_user.{oidc.groups_claim}",
                    "allowed_groups": sorted(groups),
                },
            },
            # the client secret comes from a Secret, never the values (OAuthenticator reads OAUTH_CLIENT_SECRET)
            "extraEnv": {"OAUTH_CLIENT_SECRET": {"valueFrom": {"secretKeyRef": {"name": CLIENT_SECRET, "key": "client-secret"}}}},
            "extraConfig": {"ml-platform-teams": hook},
            # notebooks live in the team namespaces and call the hub API from there
            "networkPolicy": {
                "enabled": True,
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchExpressions": [{"key": cv.TEAM_LABEL, "operator": "Exists"}]},
                                "podSelector": {"matchLabels": {"component": "singleuser-server"}},
                            }
                        ],
                        "ports": [{"port": HUB_PORT, "protocol": "TCP"}],
                    }
                ],
            },
        },
        "singleuser": {
            "storage": {
                "type": "dynamic",
                "capacity": args.home_size,
                "dynamic": {"storageClass": args.storage_class},
            },
            "extraEnv": env,
            "extraLabels": dict(args.labels),
            "profileList": [p.to_values(default=i == 0) for i, p in enumerate(args.profiles)],
            "networkPolicy": {"enabled": False},
            "cloudMetadata": {"blockWithIptables": False},
        },
        # the chart's default is a LoadBalancer Service: on EKS an internet-facing load balancer serving plain HTTP.
        # Keep the proxy in the cluster; publish it through your TLS ingress / internal load balancer.
        "proxy": {"service": {"type": "ClusterIP"}},
        "cull": {"enabled": True, "timeout": args.idle_timeout_seconds, "every": min(600, args.idle_timeout_seconds)},
        "scheduling": {
            "userScheduler": {"enabled": False},
            "podPriority": {"enabled": False},
            "userPlaceholder": {"enabled": False},
        },
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False}},
    }


class JupyterHub(Component):
    """The hub in namespace ``jupyterhub``, its OIDC client Secret, the home volumes' StorageClass and RoleBindings
    letting it spawn in team namespaces; the Kubernetes provider comes through ``opts``.
    """

    release: k8s.helm.v3.Release
    namespace: str
    profiles: list[str]

    def __init__(self, resource_name: str, args: JupyterHubArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:JupyterHub", resource_name, opts)
        name = resource_name
        values = helm_values(args)
        child = self.child_opts()
        team_namespaces = dict(args.team_namespaces)
        labels = {**args.labels, cv.TEAM_LABEL: cv.PLATFORM_TEAM}
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": NAMESPACE, "labels": labels}, opts=child)
        in_ns = self.child_opts(depends_on=[ns])
        secret = k8s.core.v1.Secret(
            f"{name}-oidc",
            metadata={"name": CLIENT_SECRET, "namespace": NAMESPACE, "labels": labels},
            string_data={"client-secret": pulumi.Output.secret(args.client_secret)},
            opts=in_ns,
        )
        before: list[pulumi.Resource] = [ns, secret]
        if args.home_volumes is not None:
            before.append(
                k8s.storage.v1.StorageClass(
                    f"{name}-home",
                    metadata={"name": args.storage_class, "labels": labels},
                    provisioner=args.home_volumes.provisioner,
                    parameters=dict(args.home_volumes.parameters),
                    reclaim_policy="Retain",  # a user's home outlives a deleted PVC until an admin removes it
                    volume_binding_mode="WaitForFirstConsumer",  # in the zone the notebook is scheduled to
                    allow_volume_expansion=True,
                    opts=child,
                )
            )
        # KubeSpawner with user namespaces watches pods and events in all namespaces (one reflector, kubespawner
        # spawner.py _start_reflector: "This requires binding ServiceAccount to ClusterRole") and reads the
        # team namespace (TeamSpawner._ensure_namespace); it creates and deletes only in the team namespaces
        watch = k8s.rbac.v1.ClusterRole(
            f"{name}-watch",
            metadata={"name": f"{RELEASE}-watch", "labels": labels},
            rules=[
                {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "watch", "list"]},
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
            ],
            opts=child,
        )
        watch_binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-watch",
            metadata={"name": f"{RELEASE}-watch", "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": watch.metadata["name"]},
            subjects=[{"kind": "ServiceAccount", "name": "hub", "namespace": NAMESPACE}],
            opts=child,
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-spawner",
            metadata={"name": f"{RELEASE}-spawner", "labels": labels},
            rules=[
                {
                    "apiGroups": [""],
                    "resources": ["pods", "persistentvolumeclaims"],
                    "verbs": ["get", "watch", "list", "create", "delete"],
                },
            ],
            opts=child,
        )
        self.bindings = []
        for team, team_ns in sorted(team_namespaces.items()):
            self.bindings.append(
                k8s.rbac.v1.RoleBinding(
                    f"{name}-spawner-{team}",
                    metadata={"name": f"{RELEASE}-spawner", "namespace": team_ns, "labels": labels},
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role.metadata["name"]},
                    subjects=[{"kind": "ServiceAccount", "name": "hub", "namespace": NAMESPACE}],
                    opts=child,
                )
            )
            # the team namespace denies by default: let the proxy / hub reach the notebook, and the notebook the hub API
            self.bindings.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-netpol-{team}",
                    metadata={"name": "allow-jupyterhub", "namespace": team_ns, "labels": labels},
                    spec={
                        "podSelector": {"matchLabels": {"component": "singleuser-server"}},
                        "policyTypes": ["Ingress", "Egress"],
                        "ingress": [
                            {
                                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}}],
                                "ports": [{"port": SINGLEUSER_PORT, "protocol": "TCP"}],
                            }
                        ],
                        "egress": [
                            {
                                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}}],
                                "ports": [{"port": HUB_PORT, "protocol": "TCP"}],
                            }
                        ],
                    },
                    opts=child,
                )
            )
        self.release = pinned_release(
            f"{name}-release",
            release=RELEASE,
            chart=CHART,
            version=CHART_VERSION,
            repo=REPO,
            namespace=NAMESPACE,
            values=values,
            timeout=900,
            opts=self.child_opts(depends_on=[*before, watch_binding, *self.bindings]),
        )
        self.publish(namespace=NAMESPACE, profiles=[p.slug for p in args.profiles])
