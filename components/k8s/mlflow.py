"""MLflow tracking server and model registry: the community Helm chart on PostgreSQL.

Credentials reach the chart only by Secret reference (``existingDatabaseSecret``,
``existingAdminSecret``); the Helm values carry no secret material. Artifacts are proxied by
the tracking server (``--serve-artifacts``) to an object-store prefix, so clients need no
bucket access of their own; the server's identity comes from its service-account annotations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from catalog import conventions as cv
from components.base import Component
from components.k8s.feast import JOB_UID, PG_IMAGE
from components.k8s.helm import disruption_budget, pinned_release

CHART = "mlflow"
CHART_VERSION = "1.11.5"
"""Pinned community-charts/mlflow chart version."""
CHART_REPO = "https://community-charts.github.io/helm-charts"
RELEASE = "mlflow"
ARTIFACT_PREFIX = "mlflow"
"""Default object prefix of the artifacts (and registered models) in the bucket."""
SERVICE_ACCOUNT = "mlflow"
DB_SECRET = "mlflow-database"
ADMIN_SECRET = "mlflow-admin"
PORT = 80
TEAM_CREDENTIALS_SECRET = "mlflow-credentials"
"""Secret in each team namespace with ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` of the team's
MLflow user (MLflow's client reads both from the environment); workloads take them by ``secretKeyRef``."""
TEAM_USERS_SECRET = "mlflow-team-users"
USERS_IMAGE = PG_IMAGE
"""The Job that creates the team users runs the alpine image Feast's database Job already pins by digest: its
busybox ``wget`` speaks to MLflow's basic-auth REST API (``/api/2.0/mlflow/users/get`` and ``.../create``)."""
USERS_UID = JOB_UID
USERS_SCRIPT = r"""set -eu
auth="Authorization: Basic $(printf '%s:%s' "$(cat /etc/mlflow-admin/username)" "$(cat /etc/mlflow-admin/password)" | base64 | tr -d '\n')"
while read -r user password; do
  if wget -q -O /dev/null --header "$auth" "$MLFLOW_TRACKING_URI/api/2.0/mlflow/users/get?username=$user"; then
    echo "exists: $user"
  else
    wget -q -O /dev/null --header "$auth" --header "Content-Type: application/json" \
      --post-data "{\"username\": \"$user\", \"password\": \"$password\"}" "$MLFLOW_TRACKING_URI/api/2.0/mlflow/users/create"
    echo "created: $user"
  fi
done < /etc/mlflow-users/users
"""
"""Creates each team's MLflow user as the admin; an existing user is left as it is (the generated passwords never
change). A failed call fails the Job, which retries."""
_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


@dataclass(frozen=True)
class MlflowDatabase:
    """The PostgreSQL backend store.

    Either ``password`` (a Pulumi secret; a Kubernetes Secret is created from it) or
    ``existing_secret``: a Secret in the namespace holding the libpq variables ``PGHOST``,
    ``PGPORT``, ``PGDATABASE``, ``PGUSER`` and ``PGPASSWORD``.
    """

    host: pulumi.Input[str] | None = None
    port: pulumi.Input[int] = 5432
    database: str = "mlflow"
    username: pulumi.Input[str] = "mlflow"
    password: pulumi.Output[str] | None = None
    existing_secret: str | None = None
    require_tls: bool = True

    def __post_init__(self) -> None:
        if (self.password is None) == (self.existing_secret is None):
            raise ValueError("give exactly one of password or existing_secret")
        if self.password is not None and self.host is None:
            raise ValueError("host is required with password")
        if self.existing_secret is not None and not re.match(_NAME, self.existing_secret):
            raise ValueError(f"existing_secret {self.existing_secret!r} is not a Kubernetes object name")


@dataclass(frozen=True)
class MlflowArgs:
    """Arguments of :class:`Mlflow`.

    :param object_store: ``s3`` or ``gs`` with ``artifact_bucket``; ``None`` keeps artifacts on a
        ReadWriteMany volume of ``artifact_volume_size`` (clusters without an object store).
    :param service_account_annotations: workload identity of the server (IRSA / GKE WI).
    :param replicas: server pods; 2+ adds a PodDisruptionBudget and spreads pods over nodes.
    :param auth: MLflow basic auth; the admin password is generated into a Secret.
    """

    database: MlflowDatabase
    namespace: str = "mlflow"
    object_store: Literal["s3", "gs"] | None = None
    artifact_bucket: pulumi.Input[str] | None = None
    artifact_prefix: str = ARTIFACT_PREFIX
    artifact_volume_size: str = "100Gi"
    region: str | None = None
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    replicas: int = 1
    auth: bool = True
    resources: dict[str, Any] = field(
        default_factory=lambda: {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    )
    labels: dict[str, str] = field(default_factory=dict)
    priority_class: str | None = None
    protect: bool = False
    """Protect the generated team passwords (prod): a new password would not reach MLflow, which keeps the user."""
    team_namespaces: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Team -> its namespace: with ``auth``, each team gets an MLflow user ``team-<team>`` and its credentials as the
    Secret :data:`TEAM_CREDENTIALS_SECRET` in its namespace (an ``Output`` makes the Secret wait for the namespace)."""

    def __post_init__(self) -> None:
        for team in self.team_namespaces:
            if not re.match(_NAME, team):
                raise ValueError(f"team {team!r} is not a Kubernetes name")
        if not re.match(_NAME, self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a Kubernetes namespace name")
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        if (self.object_store is None) != (self.artifact_bucket is None):
            raise ValueError("object_store and artifact_bucket go together")
        if not re.match(r"^[a-z0-9][-a-z0-9_/]*[a-z0-9]$", self.artifact_prefix):
            raise ValueError(f"artifact_prefix {self.artifact_prefix!r} must be a relative path such as mlflow")


def artifact_destination(args: MlflowArgs) -> pulumi.Output[str]:
    """Where the server writes artifacts (``s3://<bucket>/mlflow`` and so on)."""
    if args.object_store is None:
        return pulumi.Output.from_input("/mlartifacts")
    return pulumi.Output.concat(f"{args.object_store}://", args.artifact_bucket, f"/{args.artifact_prefix}")


def chart_values(args: MlflowArgs, *, db_secret: str = DB_SECRET, admin_secret: str = ADMIN_SECRET) -> dict[str, Any]:
    """The Helm values for ``args``: no secret values, only Secret names."""
    db = args.database
    existing = db.existing_secret is not None
    postgres = {
        "enabled": True,
        # with an existing Secret its PGHOST/PGPORT/PGDATABASE override these (envFrom comes later)
        "host": db.host if db.host is not None else "from-existing-secret",
        "port": db.port,
        "database": db.database,
        "user": "",
        "password": "",
        "driver": "psycopg2",
    }
    values: dict[str, Any] = {
        "replicaCount": args.replicas,
        "fullnameOverride": RELEASE,
        "serviceAccount": {
            "create": True,
            "automount": True,
            "name": SERVICE_ACCOUNT,
            "annotations": dict(args.service_account_annotations),
        },
        "backendStore": {
            "databaseMigration": True,
            "databaseConnectionCheck": True,
            "postgres": postgres,
            "existingDatabaseSecret": {
                "name": db.existing_secret or db_secret,
                "usernameKey": "PGUSER" if existing else "username",
                "passwordKey": "PGPASSWORD" if existing else "password",
            },
        },
        "postgresql": {"enabled": False},
        "mysql": {"enabled": False},
        "resources": args.resources,
        "extraPodLabels": dict(args.labels),
        # the chart's own defaults (UID 1001, read-only root, no capabilities) plus the RuntimeDefault seccomp profile
        "podSecurityContext": {
            "fsGroup": 1001,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # MLflow's DNS-rebinding guard admits only these Host headers (health probes are exempt)
        "serverAllowedHosts": allowed_hosts(args.namespace),
    }
    env: dict[str, str] = {}
    if db.require_tls and not existing:
        env["PGSSLMODE"] = "require"
    if existing:
        values["extraSecretNamesForEnvFrom"] = [db.existing_secret]
    artifact_root: dict[str, Any] = {"proxiedArtifactStorage": True}
    if args.object_store == "s3":
        artifact_root["s3"] = {"enabled": True, "bucket": args.artifact_bucket, "path": args.artifact_prefix}
        if args.region:
            env["AWS_DEFAULT_REGION"] = args.region
    elif args.object_store == "gs":
        artifact_root["gcs"] = {"enabled": True, "bucket": args.artifact_bucket, "path": args.artifact_prefix}
    else:
        artifact_root["defaultArtifactsDestination"] = "/mlartifacts"
        values["extraVolumes"] = [{"name": "artifacts", "persistentVolumeClaim": {"claimName": f"{RELEASE}-artifacts"}}]
        values["extraVolumeMounts"] = [{"name": "artifacts", "mountPath": "/mlartifacts"}]
    values["artifactRoot"] = artifact_root
    if env:
        values["extraEnvVars"] = env
    if args.auth:
        auth: dict[str, Any] = {
            "enabled": True,
            "defaultPermission": "READ",
            "existingAdminSecret": {"name": admin_secret, "usernameKey": "username", "passwordKey": "password"},
        }
        if not existing:
            # users and permissions live next to the tracking tables (own alembic version table)
            auth["postgres"] = {
                **{k: v for k, v in postgres.items() if k != "enabled"},
                "enabled": True,
                "existingSecret": {"name": db_secret, "usernameKey": "username", "passwordKey": "password"},
            }
        values["auth"] = auth
    if args.replicas > 1:
        values["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "topology.kubernetes.io/zone",
                            "labelSelector": {"matchLabels": selector_labels()},
                        },
                    }
                ]
            }
        }
    if args.priority_class:
        values["priorityClassName"] = args.priority_class
    return values


def allowed_hosts(namespace: str) -> list[str]:
    """The in-cluster names of the tracking service, with and without a port."""
    names = [
        RELEASE,
        f"{RELEASE}.{namespace}",
        f"{RELEASE}.{namespace}.svc",
        f"{RELEASE}.{namespace}.svc.cluster.local",
        "localhost",
    ]
    return [h for n in names for h in (n, f"{n}:*")]


def selector_labels() -> dict[str, str]:
    """The chart's pod selector labels for our release."""
    return {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": RELEASE}


class Mlflow(Component):
    """Namespace, credential Secrets, the MLflow Helm release and (2+ replicas) a PodDisruptionBudget.

    Outputs: ``namespace_name``, ``service_account``, ``tracking_uri`` (in-cluster URL),
    ``artifact_destination``; the Kubernetes provider comes through ``opts``.
    """

    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release
    namespace_name: pulumi.Output[str]
    service_account: str
    tracking_uri: pulumi.Output[str]
    artifact_destination: pulumi.Output[str]

    def __init__(self, resource_name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Mlflow", resource_name, opts)
        name = resource_name
        # every child waits for what the component waits for (system nodes, CoreDNS, the other core add-ons)
        child = self.child_opts()
        labels = {"app.kubernetes.io/part-of": "ml-platform", **args.labels}

        self.namespace = k8s.core.v1.Namespace(
            name,
            metadata={"name": args.namespace, "labels": {**labels, "kubernetes.io/metadata.name": args.namespace}},
            opts=child,
        )
        ns = self.namespace.metadata["name"]
        in_ns = self.child_opts(depends_on=[self.namespace])
        needs: list[pulumi.Resource] = [self.namespace]

        db = args.database
        if db.password is not None:
            needs.append(
                k8s.core.v1.Secret(
                    f"{name}-database",
                    metadata={"name": DB_SECRET, "namespace": ns, "labels": labels},
                    type="Opaque",
                    string_data={"username": db.username, "password": pulumi.Output.secret(db.password)},
                    opts=in_ns,
                )
            )
        if args.auth:
            admin = random.RandomPassword(f"{name}-admin", length=32, special=False, opts=self.child_opts())
            self.admin_password = pulumi.Output.secret(admin.result)
            needs.append(
                k8s.core.v1.Secret(
                    f"{name}-admin",
                    metadata={"name": ADMIN_SECRET, "namespace": ns, "labels": labels},
                    type="Opaque",
                    string_data={"username": "admin", "password": self.admin_password},
                    opts=in_ns,
                )
            )
        if args.object_store is None:
            needs.append(
                k8s.core.v1.PersistentVolumeClaim(
                    f"{name}-artifacts",
                    metadata={"name": f"{RELEASE}-artifacts", "namespace": ns, "labels": labels},
                    spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": args.artifact_volume_size}}},
                    opts=in_ns,
                )
            )
        self.release = pinned_release(
            name,
            release=RELEASE,
            chart=CHART,
            version=CHART_VERSION,
            namespace=ns,
            repo=CHART_REPO,
            values=chart_values(args),
            opts=self.child_opts(depends_on=needs),
        )
        if args.replicas > 1:
            disruption_budget(f"{name}-pdb", name=RELEASE, namespace=ns, labels=labels, selector=selector_labels(), opts=in_ns)
        if args.auth and args.team_namespaces:
            self._team_users(name, args, ns, labels)
        self.publish(
            namespace_name=ns,
            service_account=SERVICE_ACCOUNT,
            tracking_uri=pulumi.Output.concat("http://", RELEASE, ".", ns, ".svc.cluster.local:", str(PORT)),
            artifact_destination=artifact_destination(args),
        )

    def _team_users(self, name: str, args: MlflowArgs, ns: pulumi.Input[str], labels: dict[str, str]) -> None:
        """Per team: a generated password, the credentials Secret in the team namespace, and one Job (after the
        server) that creates the users through MLflow's basic-auth API as the admin. No credential is in values."""
        passwords: dict[str, pulumi.Output[str]] = {}
        for team, team_ns in sorted(args.team_namespaces.items()):
            password = random.RandomPassword(
                f"{name}-team-{team}", length=32, special=False, opts=self.child_opts(protect=args.protect)
            )
            passwords[team_user(team)] = pulumi.Output.secret(password.result)
            k8s.core.v1.Secret(
                f"{name}-credentials-{team}",
                metadata={"name": TEAM_CREDENTIALS_SECRET, "namespace": team_ns, "labels": {**labels, cv.TEAM_LABEL: team}},
                type="Opaque",
                string_data={"MLFLOW_TRACKING_USERNAME": team_user(team), "MLFLOW_TRACKING_PASSWORD": passwords[team_user(team)]},
                opts=self.child_opts(),
            )
        users = k8s.core.v1.Secret(
            f"{name}-team-users",
            metadata={"name": TEAM_USERS_SECRET, "namespace": ns, "labels": labels},
            type="Opaque",
            # one "<user> <password>" line per team (generated passwords: letters and digits only)
            string_data={
                "users": pulumi.Output.secret(
                    pulumi.Output.all(**passwords).apply(lambda p: "".join(f"{u} {pw}\n" for u, pw in sorted(p.items())))
                )
            },
            opts=self.child_opts(depends_on=[self.namespace]),
        )
        security = {
            "runAsNonRoot": True,
            "runAsUser": USERS_UID,
            "runAsGroup": USERS_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        k8s.batch.v1.Job(
            f"{name}-team-users",
            metadata={"name": TEAM_USERS_SECRET, "namespace": ns, "labels": labels},
            spec={
                "backoffLimit": 6,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    # a new team changes the template: Pulumi replaces the Job, which runs again (it is idempotent)
                    "metadata": {"labels": labels, "annotations": {"ml-platform.io/users": ",".join(sorted(passwords))}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "automountServiceAccountToken": False,
                        "securityContext": security,
                        "containers": [
                            {
                                "name": "team-users",
                                "image": USERS_IMAGE,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", USERS_SCRIPT],
                                "env": [
                                    {
                                        "name": "MLFLOW_TRACKING_URI",
                                        "value": f"http://{RELEASE}.{args.namespace}.svc.cluster.local:{PORT}",
                                    },
                                    {"name": "HOME", "value": "/tmp"},
                                ],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "200m", "memory": "128Mi"},
                                },
                                "securityContext": {
                                    **security,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True,
                                },
                                "volumeMounts": [
                                    {"name": "users", "mountPath": "/etc/mlflow-users", "readOnly": True},
                                    # the admin's credentials as files (username, password), never environment variables
                                    {"name": "admin", "mountPath": "/etc/mlflow-admin", "readOnly": True},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "users", "secret": {"secretName": TEAM_USERS_SECRET}},
                            {"name": "admin", "secret": {"secretName": ADMIN_SECRET}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        ],
                    },
                },
            },
            # the server (and its admin user) must be up; the users Secret must exist
            opts=self.child_opts(depends_on=[self.release, users]),
        )


def team_user(team: str) -> str:
    """The MLflow user of a team's workloads and notebooks."""
    return f"team-{team}"
