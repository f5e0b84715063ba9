"""Feast feature store: the feature server chart, with ``feature_store.yaml`` generated into a Secret.

``feature_store.yaml`` holds the Redis AUTH token (and with a SQL registry the database
password), so it is rendered from Pulumi secrets into a Kubernetes Secret mounted by the pods;
the chart's ``feature_store_yaml_base64`` value stays empty and the server is started with
``feast -c <mount> serve``. A SQL registry gets its own database on the given PostgreSQL server,
created if missing by an idempotent Job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.base import Component
from components.k8s.helm import disruption_budget, pinned_release

CHART = "feast-feature-server"
CHART_VERSION = "0.66.0"
"""Pinned feast-dev/feast feature-server chart version."""
CHART_REPO = "https://feast-helm-charts.storage.googleapis.com"
RELEASE = "feast"
SERVICE_ACCOUNT = "feast-feature-server"
CONFIG_SECRET = "feast-feature-store"
REGISTRY_DB_SECRET = "feast-registry-database"
REPO_DIR = "/feast/repo"
CA_FILE = "redis-ca.crt"
DATA_DIR = "/feast/data"
PORT = 80
PG_IMAGE = "postgres:17.6-alpine@sha256:ef257d85f76e48da1c64832459b59fcaba1a4dac97bf5d7450c77753542eee94"
"""The registry-database Job's psql, pinned by digest (the multi-arch index of ``postgres:17.6-alpine``;
check with ``docker buildx imagetools inspect postgres:17.6-alpine``)."""
SERVER_UID = 10001
"""The feature server's UID / GID / fsGroup (high, non-root; the data volume is group-writable by fsGroup)."""
JOB_UID = 10001
"""A high non-root UID (no collision with the image's ``postgres`` user, 70, or a node's users)."""
_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


@dataclass(frozen=True)
class FeastRedis:
    """The online store: a Redis endpoint, TLS and AUTH (``password`` a Pulumi secret or ``None``).

    :param ca_certificate: PEM of the server CA to trust (Memorystore); ``None``: system trust store.
    """

    host: pulumi.Input[str]
    port: pulumi.Input[int] = 6379
    password: pulumi.Output[str] | None = None
    tls: bool = True
    ca_certificate: pulumi.Input[str] | None = None

    def __post_init__(self) -> None:
        if self.ca_certificate is not None and not self.tls:
            raise ValueError("ca_certificate needs tls")


@dataclass(frozen=True)
class FeastSqlRegistry:
    """A SQL registry: database ``database`` on a PostgreSQL server (created by a Job if missing).

    :param bootstrap_database: an existing database on the server to connect to while creating it.
    """

    host: pulumi.Input[str]
    password: pulumi.Output[str]
    port: pulumi.Input[int] = 5432
    username: pulumi.Input[str] = "mlflow"
    database: str = "feast_registry"
    bootstrap_database: str = "mlflow"
    require_tls: bool = True

    def __post_init__(self) -> None:
        for what, value in (("database", self.database), ("bootstrap_database", self.bootstrap_database)):
            if not re.match(r"^[a-z][a-z0-9_]{0,62}$", value):
                raise ValueError(f"{what} {value!r} must be a lowercase identifier")


@dataclass(frozen=True)
class FeastArgs:
    """Arguments of :class:`Feast`.

    :param project: Feast project name (letters, digits, underscores).
    :param provider: Feast provider: ``aws``, ``gcp`` or ``local``.
    :param registry: ``FeastSqlRegistry``, or an object-store URI (``s3://b/feast/registry.db``), or
        ``None`` for a file registry on a ReadWriteMany volume.
    :param offline_root: where the offline (Parquet) data lives, e.g. ``s3://<features>/offline``.
    :param service_account_annotations: workload identity of the feature server.
    """

    project: str
    online_store: FeastRedis
    provider: Literal["aws", "gcp", "local"] = "local"
    registry: FeastSqlRegistry | pulumi.Input[str] | None = None
    offline_root: pulumi.Input[str] | None = None
    namespace: str = "feast"
    replicas: int = 1
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    region: str | None = None
    data_volume_size: str = "10Gi"
    resources: dict[str, Any] = field(
        default_factory=lambda: {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    )
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_]+$", self.project):
            raise ValueError(f"project {self.project!r} may hold only letters, digits and underscores")
        if not re.match(_NAME, self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a Kubernetes namespace name")
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")


def feast_provider(object_store: str | None) -> Literal["aws", "gcp", "local"]:
    """Feast's ``provider`` for the lake's object store (``s3`` -> ``aws``, ``gs`` -> ``gcp``, none -> ``local``)."""
    return {"s3": "aws", "gs": "gcp"}.get(object_store or "", "local")  # type: ignore[return-value]


def _sql_url(reg: FeastSqlRegistry, host: str, port: Any, user: str, password: str) -> str:
    """SQLAlchemy URL of the registry; user and password percent-encoded (SQLAlchemy decodes them),
    so generated passwords with ``%``, ``#``, ``?``, ``$`` or ``:`` survive intact."""
    tls = "?sslmode=require" if reg.require_tls else ""
    return f"postgresql+psycopg://{quote(str(user), safe='')}:{quote(str(password), safe='')}@{host}:{port}/{reg.database}{tls}"


def feature_store_yaml(args: FeastArgs) -> pulumi.Output[str]:
    """``feature_store.yaml`` for ``args``; a Pulumi secret when it holds credentials."""
    redis = args.online_store
    reg = args.registry
    sql = isinstance(reg, FeastSqlRegistry)
    parts: dict[str, Any] = {
        "redis_host": redis.host,
        "redis_port": redis.port,
        "redis_password": redis.password or "",
        "registry": reg if not sql and reg is not None else "",
    }
    if sql:
        parts.update(pg_host=reg.host, pg_port=reg.port, pg_user=reg.username, pg_password=reg.password)

    def render(v: dict[str, Any]) -> str:
        conn = f"{v['redis_host']}:{v['redis_port']}"
        if redis.tls:
            conn += ",ssl=true"
            if redis.ca_certificate is not None:
                conn += f",ssl_ca_certs={REPO_DIR}/{CA_FILE}"
        if v["redis_password"]:
            conn += f",password={v['redis_password']}"
        if sql:
            registry: dict[str, Any] = {
                "registry_type": "sql",
                "path": _sql_url(reg, v["pg_host"], v["pg_port"], v["pg_user"], v["pg_password"]),
                "cache_ttl_seconds": 60,
                "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
            }
        else:
            registry = {"registry_type": "file", "path": v["registry"] or f"{DATA_DIR}/registry.db", "cache_ttl_seconds": 60}
        doc = {
            "project": args.project,
            "provider": args.provider,
            "registry": registry,
            "online_store": {"type": "redis", "redis_type": "redis", "connection_string": conn},
            "offline_store": {"type": "file"},
            "entity_key_serialization_version": 3,
        }
        return yaml.safe_dump(doc, sort_keys=False)

    out = pulumi.Output.all(**parts).apply(render)
    return pulumi.Output.secret(out) if (redis.password is not None or sql) else out


def chart_values(args: FeastArgs) -> dict[str, Any]:
    """Helm values for the feature server: Secret and volume references only."""
    # feature_store.yaml (with the store credentials) is mounted as a file from its Secret; /tmp is the
    # only writable path besides the data volume (read-only root filesystem)
    volumes: list[dict[str, Any]] = [
        {"name": "feature-store", "secret": {"secretName": CONFIG_SECRET}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "feature-store", "mountPath": REPO_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if args.registry is None:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{RELEASE}-data"}})
        mounts.append({"name": "data", "mountPath": DATA_DIR})
    env = [{"name": "HOME", "value": "/tmp"}, {"name": "FEAST_USAGE", "value": "False"}]
    if args.provider == "aws" and args.region:
        env.append({"name": "AWS_DEFAULT_REGION", "value": args.region})
    values: dict[str, Any] = {
        "replicaCount": args.replicas,
        "fullnameOverride": RELEASE,
        "feast_mode": "online",
        "commandArgs": ["feast", "-c", REPO_DIR, "serve", "-h", "0.0.0.0"],
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        "volumes": volumes,
        "volumeMounts": mounts,
        "resources": args.resources,
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVER_UID,
            "runAsGroup": SERVER_UID,
            "fsGroup": SERVER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if env:
        values["extraEnvs"] = env
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
    return values


def selector_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": RELEASE}


class Feast(Component):
    """Namespace, service account, ``feature_store.yaml`` Secret, optional SQL-registry database Job,
    the feature-server Helm release and (2+ replicas) a PodDisruptionBudget.

    Outputs: ``namespace_name``, ``service_account``, ``endpoint`` (in-cluster URL), ``offline_root``
    (where the offline store's Parquet data lives, or ``None``); the Kubernetes provider
    comes through ``opts``.
    """

    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release
    namespace_name: pulumi.Output[str]
    service_account: str
    endpoint: pulumi.Output[str]
    offline_root: pulumi.Output[str] | None

    def __init__(self, resource_name: str, args: FeastArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Feast", resource_name, opts)
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

        needs.append(
            k8s.core.v1.ServiceAccount(
                f"{name}-sa",
                metadata={
                    "name": SERVICE_ACCOUNT,
                    "namespace": ns,
                    "labels": labels,
                    "annotations": dict(args.service_account_annotations),
                },
                automount_service_account_token=False,
                opts=in_ns,
            )
        )
        needs.append(
            k8s.core.v1.Secret(
                f"{name}-config",
                metadata={"name": CONFIG_SECRET, "namespace": ns, "labels": labels},
                type="Opaque",
                string_data={
                    "feature_store.yaml": feature_store_yaml(args),
                    **({CA_FILE: args.online_store.ca_certificate} if args.online_store.ca_certificate is not None else {}),
                },
                opts=in_ns,
            )
        )
        if isinstance(args.registry, FeastSqlRegistry):
            needs.append(self._registry_database(name, args.registry, ns, labels, in_ns))
        elif args.registry is None:
            needs.append(
                k8s.core.v1.PersistentVolumeClaim(
                    f"{name}-data",
                    metadata={"name": f"{RELEASE}-data", "namespace": ns, "labels": labels},
                    spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": args.data_volume_size}}},
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
        self.publish(
            namespace_name=ns,
            service_account=SERVICE_ACCOUNT,
            endpoint=pulumi.Output.concat("http://", RELEASE, ".", ns, ".svc.cluster.local:", str(PORT)),
            offline_root=pulumi.Output.from_input(args.offline_root) if args.offline_root is not None else None,
        )

    def _registry_database(
        self, name: str, reg: FeastSqlRegistry, ns: pulumi.Input[str], labels: dict[str, str], opts: pulumi.ResourceOptions
    ) -> pulumi.Resource:
        secret = k8s.core.v1.Secret(
            f"{name}-registry-db",
            metadata={"name": REGISTRY_DB_SECRET, "namespace": ns, "labels": labels},
            type="Opaque",
            string_data={"PGPASSWORD": pulumi.Output.secret(reg.password)},
            opts=opts,
        )
        script = (
            f"psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '{reg.database}'\" | grep -q 1"
            f" || psql -v ON_ERROR_STOP=1 -c 'CREATE DATABASE {reg.database}'"
        )
        env = [
            {"name": "PGHOST", "value": reg.host},
            {"name": "PGPORT", "value": pulumi.Output.from_input(reg.port).apply(str)},
            {"name": "PGUSER", "value": reg.username},
            {"name": "PGDATABASE", "value": reg.bootstrap_database},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": REGISTRY_DB_SECRET, "key": "PGPASSWORD"}}},
        ]
        if reg.require_tls:
            env.append({"name": "PGSSLMODE", "value": "require"})
        return k8s.batch.v1.Job(
            f"{name}-registry-db",
            metadata={"name": "feast-registry-database", "namespace": ns, "labels": labels},
            spec={
                "backoffLimit": 6,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": JOB_UID,
                            "runAsGroup": JOB_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "create-database",
                                "image": PG_IMAGE,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", script],
                                # PGPASSWORD stays an env var from the Secret: libpq ignores a password
                                # file readable by its group, and a 0400 root-owned Secret file is
                                # unreadable for a non-root UID without fsGroup (which adds group read)
                                "env": [*env, {"name": "HOME", "value": "/tmp"}],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "200m", "memory": "128Mi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True,
                                    "runAsUser": JOB_UID,
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                },
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                    },
                },
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret])),
        )
