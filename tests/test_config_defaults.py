"""Issue 14, item 2: every effective default is decided once, by the config, per cloud and environment.

For every defaulted key and every shipped stack: the plan's ``config`` section states a value (the
default of the stack's cloud and environment when the stack file leaves the key unset, the stack's
own value otherwise), and the resource that key shapes got exactly that value. The resource side
is read from the recorded resource inputs (what the program sent to the engine), never from the
config again, so a layer that decides a default of its own is caught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra import config
from tests.helpers import STACKS, plan_stack, raw_config

Plan = Any
Getter = Callable[[Plan], Any]

RELEASE = "kubernetes:helm.sh/v3:Release"
NOT_BUILT = object()
"""What a getter returns when the stack builds nothing the key shapes (the key must then be unset: ``null``)."""


def _find(plan: Plan, type_: str, name: str) -> dict[str, Any] | None:
    found = [r for r in plan.resources if r.type == type_ and r.name == name]
    assert len(found) <= 1, (type_, name)
    return found[0].inputs if found else None


def _dig(value: Any, *path: str | int) -> Any:
    for part in path:
        value = value[part]
    return value


def _release(name: str, *path: str) -> Getter:
    def get(plan: Plan) -> Any:
        inputs = _find(plan, RELEASE, name)
        return NOT_BUILT if inputs is None else _dig(inputs["values"], *path)

    return get


def _input(type_: str, name: str, *path: str | int, map_: Callable[[Any], Any] = lambda v: v) -> Getter:
    def get(plan: Plan) -> Any:
        inputs = _find(plan, type_, name)
        return NOT_BUILT if inputs is None else map_(_dig(inputs, *path))

    return get


def _same(*getters: Getter) -> Getter:
    """The one value every built resource of ``getters`` got (they must agree)."""

    def get(plan: Plan) -> Any:
        values = [v for v in (g(plan) for g in getters) if v is not NOT_BUILT]
        if not values:
            return NOT_BUILT
        assert all(v == values[0] for v in values), values
        return values[0]

    return get


def _nat_gateways(plan: Plan) -> Any:
    nats = [r for r in plan.resources if r.type == "aws:ec2/natGateway:NatGateway"]
    if not nats:
        return NOT_BUILT
    if len(nats) == 1:
        return "single"
    assert len(nats) == plan.config.network.az_count, "perAz: one NAT gateway per availability zone"
    return "perAz"


def _lake_buckets(type_: str, logs: str) -> Getter:
    def get(plan: Plan) -> Any:
        buckets = [r for r in plan.resources if r.type == type_ and r.name.startswith("lake-") and r.parent.endswith("::lake")]
        if not buckets:
            return NOT_BUILT
        assert any(r.name == logs for r in buckets)
        values = {r.name: r.inputs.get("forceDestroy", False) for r in buckets}
        assert len(set(values.values())) == 1, values
        return next(iter(values.values()))

    return get


def _aws_log_days(plan: Plan) -> Any:
    inputs = _find(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-access-logs")
    if inputs is None:
        return NOT_BUILT
    return next(r["expiration"]["days"] for r in inputs["rules"] if "days" in r.get("expiration", {}))


def _gcp_log_days(plan: Plan) -> Any:
    inputs = _find(plan, "gcp:storage/bucket:Bucket", "lake-logs")
    if inputs is None:
        return NOT_BUILT
    return next(r["condition"]["age"] for r in inputs["lifecycleRules"] if "age" in r["condition"])


def _present(type_: str, name: str | None = None) -> Getter:
    return lambda plan: any(r.type == type_ and (name is None or r.name == name) for r in plan.resources)


def _object_lock_days(plan: Plan) -> Any:
    if _find(plan, "aws:cloudtrail/trail:Trail", "audit") is None:
        return NOT_BUILT
    lock = _find(plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-logs")
    return None if lock is None else lock["rule"]["defaultRetention"]["days"]


def _aws_fast_replication(plan: Plan) -> Any:
    rules = [
        rule
        for r in plan.resources
        if r.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig" and r.parent.endswith("::lake")
        for rule in r.inputs["rules"]
    ]
    if not rules:
        return NOT_BUILT
    rtc = {(rule["destination"].get("replicationTime") or {}).get("status") == "Enabled" for rule in rules}
    assert len(rtc) == 1, "every zone replicates alike"
    return rtc.pop()


def _gcp_fast_replication(plan: Plan) -> Any:
    buckets = [r for r in plan.resources if r.type == "gcp:storage/bucket:Bucket" and r.parent.endswith("::lake")]
    if not any("customPlacementConfig" in r.inputs for r in buckets):
        return NOT_BUILT  # no dual-region lake: no DR
    turbo = {r.inputs.get("rpo") == "ASYNC_TURBO" for r in buckets}
    assert len(turbo) == 1, "every bucket replicates alike"
    return turbo.pop()


def _aws_database_backups(plan: Plan) -> Any:
    if not any(r.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig" for r in plan.resources):
        return NOT_BUILT  # no DR
    return any(
        r.type == "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication" for r in plan.resources
    )


RDS, ELASTICACHE = "aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup"
CLOUD_SQL, MEMORYSTORE = "gcp:sql/databaseInstance:DatabaseInstance", "gcp:redis/instance:Instance"
CONTROLLERS = _same(
    _release("karpenter", "replicas"),
    _release("kueue", "controllerManager", "replicas"),
    _release("training-jobset", "controller", "replicas"),
    _release("training-lws", "replicaCount"),
    _release("monitoring-stack", "prometheus", "prometheusSpec", "replicas"),
    _release("monitoring-stack", "alertmanager", "alertmanagerSpec", "replicas"),
)

# key (stack-file path) -> cloud -> how the resource shows the value it got
RESOURCE: dict[str, dict[str, Getter]] = {
    "dr.fastLakeReplication": {"aws": _aws_fast_replication, "gcp": _gcp_fast_replication},
    "dr.databaseBackups": {"aws": _aws_database_backups},
    "network.natGateways": {"aws": _nat_gateways},
    "cluster.name": {
        "aws": _input("aws:eks/cluster:Cluster", "eks", "name"),
        "gcp": _input("gcp:container/cluster:Cluster", "gke", "name"),
        "existing": _release("opencost-release", "opencost", "exporter", "defaultClusterId"),  # the cluster's name in cost data
    },
    "cluster.controllerReplicas": {"aws": CONTROLLERS, "gcp": CONTROLLERS, "existing": CONTROLLERS},
    "cluster.systemNodes.instanceType": {
        "aws": _input("aws:eks/nodeGroup:NodeGroup", "eks-system", "instanceTypes", 0),
        "gcp": _input("gcp:container/nodePool:NodePool", "gke-system", "nodeConfig", "machineType"),
    },
    "dataLake.forceDestroy": {
        "aws": _lake_buckets("aws:s3/bucket:Bucket", "lake-access-logs"),
        "gcp": _lake_buckets("gcp:storage/bucket:Bucket", "lake-logs"),
    },
    "dataLake.accessLogRetentionDays": {"aws": _aws_log_days, "gcp": _gcp_log_days},
    "mlflow.replicas": {c: _release("mlflow", "replicaCount") for c in ("aws", "gcp", "existing")},
    "feast.replicas": {c: _release("feast", "replicaCount") for c in ("aws", "gcp", "existing")},
    "mlflow.database.instanceClass": {
        "aws": _input(RDS, "mlflow-db", "instanceClass"),
        "gcp": _input(CLOUD_SQL, "mlflow-db", "settings", "tier"),
    },
    "mlflow.database.backupRetentionDays": {
        "aws": _input(RDS, "mlflow-db", "backupRetentionPeriod"),
        "gcp": _input(CLOUD_SQL, "mlflow-db", "settings", "backupConfiguration", "backupRetentionSettings", "retainedBackups"),
    },
    "mlflow.database.multiAz": {
        "aws": _input(RDS, "mlflow-db", "multiAz"),
        "gcp": _input(CLOUD_SQL, "mlflow-db", "settings", "availabilityType", map_=lambda v: v == "REGIONAL"),
    },
    "feast.onlineStore.nodeType": {
        "aws": _input(ELASTICACHE, "feast-online", "nodeType"),
        "gcp": _input(MEMORYSTORE, "feast-online", "tier"),
    },
    "feast.onlineStore.highAvailability": {
        "aws": _same(
            _input(ELASTICACHE, "feast-online", "automaticFailoverEnabled"), _input(ELASTICACHE, "feast-online", "multiAzEnabled")
        ),
        "gcp": _input(MEMORYSTORE, "feast-online", "tier", map_=lambda v: v == "STANDARD_HA"),
    },
    "feast.onlineStore.snapshotRetentionDays": {"aws": _input(ELASTICACHE, "feast-online", "snapshotRetentionLimit")},
    "feast.onlineStore.memoryGb": {"gcp": _input(MEMORYSTORE, "feast-online", "memorySizeGb")},
    "feast.onlineStore.persistence": {
        "gcp": lambda plan: (
            lambda i: NOT_BUILT if i is None else (i.get("persistenceConfig") or {}).get("persistenceMode") == "RDB"
        )(_find(plan, MEMORYSTORE, "feast-online"))
    },
    "monitoring.grafana": {c: _release("monitoring-stack", "grafana", "enabled") for c in ("aws", "gcp", "existing")},
    "gpuOperator.enabled": {c: _present(RELEASE, "gpu-operator") for c in ("aws", "gcp", "existing")},
    "gpuOperator.driver": {c: _release("gpu-operator", "driver", "enabled") for c in ("aws", "gcp", "existing")},
    "audit.enabled": {
        "aws": _present("aws:cloudtrail/trail:Trail"),
        "gcp": _present("gcp:projects/iAMAuditConfig:IAMAuditConfig"),
    },
    "audit.controlPlaneLogRetentionDays": {"aws": _input("aws:cloudwatch/logGroup:LogGroup", "eks-cluster", "retentionInDays")},
    "audit.objectLockDays": {"aws": _object_lock_days},
}

PROD, DEV = "prod", "dev"
# the documented defaults (README "Configuration reference", infra/config/defaults.py), written out here
# independently: key -> (cloud, environment) -> effective value when the stack leaves the key unset
DEFAULT: dict[str, Callable[[str, str, dict[str, Any]], Any]] = {
    "dr.fastLakeReplication": lambda cloud, env, raw: env == PROD if cloud != "existing" and _get(raw, "dr.enabled") else None,
    "dr.databaseBackups": lambda cloud, env, raw: env == PROD if cloud == "aws" and _get(raw, "dr.enabled") else None,
    "network.natGateways": lambda cloud, env, raw: ("single" if env == DEV else "perAz") if cloud == "aws" else None,
    "cluster.name": lambda cloud, env, raw: f"mlp-{env}",
    "cluster.controllerReplicas": lambda cloud, env, raw: 2 if env == PROD else 1,
    "cluster.systemNodes.instanceType": lambda cloud, env, raw: {"aws": "m6i.large", "gcp": "e2-standard-4"}.get(cloud),
    "dataLake.forceDestroy": lambda cloud, env, raw: None if cloud == "existing" else env != PROD,
    "dataLake.accessLogRetentionDays": lambda cloud, env, raw: {"aws": 365, "gcp": 365 if env == PROD else 90}.get(cloud),
    "mlflow.replicas": lambda cloud, env, raw: 2 if env == PROD else 1,
    "feast.replicas": lambda cloud, env, raw: 2 if env == PROD else 1,
    "mlflow.database.instanceClass": lambda cloud, env, raw: {
        "aws": "db.t4g.medium",
        "gcp": {"dev": "db-custom-1-3840", "staging": "db-custom-2-7680", "prod": "db-custom-4-15360"}[env],
    }.get(cloud),
    "mlflow.database.backupRetentionDays": lambda cloud, env, raw: None if cloud == "existing" else (14 if env == PROD else 7),
    "mlflow.database.multiAz": lambda cloud, env, raw: None if cloud == "existing" else env != DEV,
    "feast.onlineStore.nodeType": lambda cloud, env, raw: {
        "aws": "cache.t4g.small",
        "gcp": "STANDARD_HA" if _ha(env, raw) else "BASIC",
    }.get(cloud),
    "feast.onlineStore.highAvailability": lambda cloud, env, raw: None if cloud == "existing" else _ha(env, raw),
    "feast.onlineStore.snapshotRetentionDays": lambda cloud, env, raw: (7 if env == PROD else 1) if cloud == "aws" else None,
    "feast.onlineStore.memoryGb": lambda cloud, env, raw: {"dev": 1, "staging": 2, "prod": 5}[env] if cloud == "gcp" else None,
    "feast.onlineStore.persistence": lambda cloud, env, raw: env == PROD if cloud == "gcp" else None,
    "monitoring.grafana": lambda cloud, env, raw: (_get(raw, "monitoring.backend") or "inCluster") == "inCluster",
    "gpuOperator.enabled": lambda cloud, env, raw: cloud != "gcp",
    "gpuOperator.driver": lambda cloud, env, raw: cloud == "existing" and _get(raw, "gpuOperator.enabled") is not False,
    "audit.enabled": lambda cloud, env, raw: None if cloud == "existing" else env != DEV,
    "audit.controlPlaneLogRetentionDays": lambda cloud, env, raw: (365 if env == PROD else 90) if cloud == "aws" else None,
    "audit.objectLockDays": lambda cloud, env, raw: (
        (_get(raw, "audit.retentionDays") or 365) if cloud == "aws" and env == PROD else None
    ),
}


def _get(doc: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _ha(env: str, raw: dict[str, Any]) -> bool:
    replicas = _get(raw, "feast.onlineStore.replicas")
    node_type = _get(raw, "feast.onlineStore.nodeType")
    if node_type in ("BASIC", "STANDARD_HA"):  # gcp: the tier says it
        return node_type == "STANDARD_HA"
    return env == PROD and (1 if replicas is None else replicas) >= 1


def test_every_defaulted_key_is_covered() -> None:
    """A key added to infra.config.defaults needs its resource reading and its documented default here."""
    import inspect

    from infra.config import defaults

    source = inspect.getsource(defaults)
    assert set(RESOURCE) == set(DEFAULT)
    for key in RESOURCE:
        field = key.rsplit(".", 1)[-1]
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in field)
        assert f"{snake}=" in source, f"{key}: not resolved in infra/config/defaults.py"


@pytest.mark.parametrize("key", sorted(RESOURCE))
@pytest.mark.parametrize("stack", STACKS)
def test_the_plans_config_states_the_effective_value_the_resource_gets(stack: str, key: str) -> None:
    plan = plan_stack(stack)
    cloud, env = plan.config.cloud, plan.config.environment
    stated = _get(plan.config.model_dump(mode="json", by_alias=True), key)
    raw = raw_config(stack, keep_fleet=True)
    given = _get(raw, key)
    expected = given if given is not None else DEFAULT[key](cloud, env, raw)
    assert stated == expected, f"{stack}: the plan's config says {key}: {stated!r}; want {expected!r}"
    getter = RESOURCE[key].get(cloud)
    if getter is None:
        assert stated is None, f"{stack}: {key} means nothing on cloud {cloud!r}, so the plan states null"
        return
    got = getter(plan)
    if got is NOT_BUILT:
        # nothing to shape (e.g. no GPU operator, no Feast): a boolean switch must say so, a value is still stated
        assert stated is not True or key == "gpuOperator.driver", f"{stack}: {key} is {stated!r} but nothing is built"
        return
    assert got == stated, f"{stack}: {key}: the plan's config says {stated!r}, the resource got {got!r}"


def test_gcp_dev_states_its_gke_system_machine_type_not_an_ec2_type() -> None:
    """The defect issue 14 named: gcp-dev's plan said systemNodes.instanceType m6i.large while GKE got e2-standard-4."""
    plan = plan_stack("gcp-dev")
    assert plan.config.cluster.system_nodes.instance_type == "e2-standard-4"
    assert RESOURCE["cluster.systemNodes.instanceType"]["gcp"](plan) == "e2-standard-4"


@pytest.mark.parametrize(
    ("cloud", "env", "key", "value"),
    [
        ("aws", "dev", "monitoring.grafana", True),
        ("aws", "staging", "cluster.controllerReplicas", 1),  # one rule for every controller (Karpenter had its own)
        ("gcp", "dev", "cluster.systemNodes.instanceType", "e2-standard-4"),
        ("aws", "dev", "dataLake.forceDestroy", True),
        ("aws", "prod", "dataLake.forceDestroy", False),
        ("gcp", "prod", "feast.onlineStore.nodeType", "STANDARD_HA"),
        ("existing", "prod", "mlflow.database.instanceClass", None),
        ("existing", "prod", "gpuOperator.driver", True),
    ],
)
def test_defaults_per_cloud_and_environment(cloud: str, env: str, key: str, value: Any) -> None:
    raw: dict[str, Any] = {"cloud": cloud, "environment": env, "region": {"aws": "us-east-1", "gcp": "us-central1"}.get(cloud)}
    if cloud == "gcp":
        raw["gcp"] = {"project": "acme-ml-test"}
    if cloud == "existing":
        raw.update(mlflow={"existingDatabaseSecret": "db"}, feast={"onlineStore": {"existingEndpoint": "redis:6379"}})
    cfg = config.parse(raw)
    assert _get(cfg.model_dump(mode="json", by_alias=True), key) == value


def test_a_set_value_is_kept_and_the_checks_see_it() -> None:
    raw = raw_config("prod")
    raw["dataLake"]["forceDestroy"] = True
    with pytest.raises(config.ConfigError, match="forceDestroy"):
        config.parse(raw)
    raw = raw_config("gcp-prod")
    raw["feast"]["onlineStore"].update(nodeType="BASIC", highAvailability=True)
    with pytest.raises(config.ConfigError, match="highAvailability"):
        config.parse(raw)
    raw = raw_config("dev")
    raw.setdefault("feast", {}).setdefault("onlineStore", {}).update(replicas=0, highAvailability=True)
    with pytest.raises(config.ConfigError, match="needs a replica"):
        config.parse(raw)
    raw = raw_config("gcp-prod")
    raw["dr"]["databaseBackups"] = True
    with pytest.raises(config.ConfigError, match="databaseBackups"):
        config.parse(raw)
    raw = raw_config("dev")
    raw.setdefault("feast", {}).setdefault("onlineStore", {})["memoryGb"] = 2
    with pytest.raises(config.ConfigError, match="Memorystore"):
        config.parse(raw)


def test_model_fields_set_still_says_what_the_stack_set() -> None:
    """Resolution fills values but does not pretend the stack set them (checks such as deployFrom rely on it)."""
    cfg = config.parse(raw_config("gcp-dev"))
    assert cfg.cluster.system_nodes.instance_type == "e2-standard-4"
    assert "aws" not in cfg.model_fields_set and "deploy_from" not in cfg.cluster.model_fields_set


def test_grafana_is_off_by_default_without_the_in_cluster_stack() -> None:
    raw: dict[str, Any] = {
        "cloud": "aws",
        "environment": "dev",
        "region": "us-east-1",
        "monitoring": {"backend": "managed", "opencost": False},
    }
    assert config.parse(raw).monitoring.grafana is False
    raw["monitoring"]["grafana"] = True
    with pytest.raises(config.ConfigError, match="grafana"):
        config.parse(raw)
