"""``cloud: existing`` (the onprem stack): only the Kubernetes layer, on the cluster you bring.

Zero cloud resources, the provider reaches the cluster through the configured context /
kubeconfig secret, the GPU operator installs the driver, MLflow and Feast use the external
stores the stack names, and every custom resource validates against the pinned upstream CRD.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from catalog import conventions as cv
from infra import config
from infra.layers import existing
from infra.plan import engine
from infra.plan.recorder import SECRET
from tests.chart_values import yaml_documents
from tests.helpers import raw_config, unwrap_secrets

BUILTIN_GROUPS = {
    "core",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "helm.sh",
    "yaml",
}


@pytest.fixture(scope="module")
def onprem(plan_of: Callable[[str], engine.Plan]) -> engine.Plan:
    return plan_of("onprem")


def _release(plan: engine.Plan, chart: str) -> dict[str, Any]:
    releases = [
        r.inputs for r in plan.by_type("kubernetes:helm.sh/v3:Release") if str(r.inputs.get("chart")).rsplit("/", 1)[-1] == chart
    ]
    assert len(releases) == 1, f"expected one {chart} release"
    return releases[0]


def test_onprem_creates_no_cloud_resources_and_no_cloud_providers(onprem: engine.Plan) -> None:
    assert onprem.resources
    cloudy = [r.urn for r in onprem.resources if r.type.split(":")[0] in ("aws", "gcp", "azure", "azure-native")]
    assert cloudy == []
    providers = {r.type for r in onprem.resources if r.type.startswith("pulumi:providers:")}
    assert providers == {"pulumi:providers:kubernetes"}
    assert onprem.mandatory_violations == []


def test_every_kubernetes_resource_goes_through_the_configured_cluster(onprem: engine.Plan) -> None:
    (provider,) = onprem.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == onprem.config.cluster.context
    for res in onprem.resources:
        if res.type.startswith("kubernetes:"):
            assert res.provider_urn == provider.urn, res.urn


def test_kubeconfig_secret_reaches_the_provider_only_as_a_secret(write_stack: Callable[..., Path]) -> None:
    path = write_stack("onprem", cluster={"context": "onprem-gpu", "kubeconfig": {"secure": "v1:AAAABBBB"}})
    plan = engine.plan("case", stack_path=path)
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == SECRET


PLAIN_KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {token: plain-token-123}\n"


def test_a_plain_text_kubeconfig_is_refused_naming_the_key_without_echoing_it(write_stack: Callable[..., Path]) -> None:
    path = write_stack("onprem", cluster={"context": "onprem-gpu", "kubeconfig": PLAIN_KUBECONFIG})
    with pytest.raises(config.ConfigError) as err:
        engine.plan("case", stack_path=path)
    problems = dict(err.value.problems)
    assert "--secret" in problems["ml-platform:cluster.kubeconfig"]
    assert "plain-token-123" not in str(err.value)


def test_the_running_program_refuses_a_kubeconfig_pulumi_does_not_hold_as_a_secret() -> None:
    raw = raw_config("onprem")
    raw["cluster"]["kubeconfig"] = PLAIN_KUBECONFIG
    resources, _ = engine.run_program("onprem", raw, ["cluster"])  # set with --secret: accepted
    (provider,) = [r for r in resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["kubeconfig"] == SECRET
    with pytest.raises(engine.PlanError, match=r"ml-platform:cluster\.kubeconfig") as err:
        engine.run_program("onprem", raw, [])  # plain text in the stack: the program stops before any resource
    assert "plain-token-123" not in str(err.value)


def test_gpu_operator_installs_the_driver(onprem: engine.Plan) -> None:
    values = _release(onprem, "gpu-operator")["values"]
    assert values["driver"]["enabled"] is True
    assert values["mig"]["strategy"] == onprem.config.gpu_operator.mig_strategy


def test_platform_priority_classes_exist(onprem: engine.Plan) -> None:
    classes = {
        r.inputs["metadata"]["name"]: r.inputs["value"] for r in onprem.by_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    }
    assert classes == cv.PRIORITY_CLASSES


def test_mlflow_and_feast_use_the_configured_external_stores(onprem: engine.Plan) -> None:
    cfg = onprem.config
    mlflow = json.dumps(_release(onprem, "mlflow")["values"])
    assert cfg.mlflow.existing_database_secret and cfg.mlflow.existing_database_secret in mlflow
    _release(onprem, "feast-feature-server")
    # nothing generates a database for MLflow: no Cloud SQL / RDS and no DB password of ours
    assert not [r for r in onprem.resources if "postgres" in r.type.lower() or "sql" in r.type.lower()]


def test_each_team_gets_its_namespace_quota_isolation_identity_and_queue(onprem: engine.Plan) -> None:
    def named(type_: str) -> dict[tuple[str | None, str], dict[str, Any]]:
        return {(r.inputs["metadata"].get("namespace"), r.inputs["metadata"]["name"]): r.inputs for r in onprem.by_type(type_)}

    namespaces = named("kubernetes:core/v1:Namespace")
    quotas = {ns: q for (ns, _), q in named("kubernetes:core/v1:ResourceQuota").items()}
    accounts = named("kubernetes:core/v1:ServiceAccount")
    local_queues = {ns: q for (ns, _), q in named("kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue").items()}
    cluster_queues = {name for (_, name) in named("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue")}
    policies: dict[str, list[dict[str, Any]]] = {}
    for (ns, _), pol in named("kubernetes:networking.k8s.io/v1:NetworkPolicy").items():
        policies.setdefault(str(ns), []).append(pol)
    assert onprem.config.teams
    for team in onprem.config.teams:
        assert namespaces[(None, team.name)]["metadata"]["labels"][cv.TEAM_LABEL] == team.name
        assert int(quotas[team.name]["spec"]["hard"]["requests.nvidia.com/gpu"]) >= team.quotas.gpu
        assert (team.name, f"{team.name}-workloads") in accounts
        deny_all = [
            p
            for p in policies[team.name]
            if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        ]
        assert deny_all, f"{team.name} has no default-deny policy"
        assert local_queues[team.name]["spec"]["clusterQueue"] in cluster_queues
    _release(onprem, "kueue")


def _python_patterns(node: Any) -> Any:
    """Upstream CRDs use Go regexes like ``^(?i)abort$``; Python wants inline flags first."""
    if isinstance(node, dict):
        out = {k: _python_patterns(v) for k, v in node.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):
            out["pattern"] = "(?i)^" + pattern[len("^(?i)") :]
        return out
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


@functools.cache  # parsing every pinned CRD takes seconds; the tests only read the schemas
def _crd_schemas(upstream: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    schemas = {}
    for path in upstream.glob("*/crds/*.yaml"):
        for doc in yaml_documents(path):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema:
                    schemas[(spec["group"], version["name"], spec["names"]["kind"])] = _python_patterns(schema)
    return schemas


def _pruned_fields(body: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields of ``body`` the API server would silently drop: not declared by the structural schema.

    ``jsonschema`` accepts them (CRD schemas rarely say ``additionalProperties: false``), but the
    API server prunes undeclared fields, so a misspelt field would vanish without an error.
    """
    if isinstance(body, list) and isinstance(schema.get("items"), dict):
        return [f for i, item in enumerate(body) for f in _pruned_fields(item, schema["items"], f"{path}[{i}]")]
    if not isinstance(body, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    declared = schema.get("properties")
    extra = schema.get("additionalProperties")
    found = []
    for key, value in body.items():
        if declared is not None and key in declared:
            found += _pruned_fields(value, declared[key], f"{path}.{key}")
        elif isinstance(extra, dict):
            found += _pruned_fields(value, extra, f"{path}.{key}")
        elif declared is not None or extra is False:
            found.append(f"{path}.{key}")
    return found


@pytest.mark.parametrize("stack", ["onprem", "gcp-dev", "gcp-prod"])
def test_every_custom_resource_validates_against_its_pinned_crd(
    stack: str, plan_of: Callable[[str], engine.Plan], upstream: Path
) -> None:
    schemas = _crd_schemas(upstream)
    validators: dict[tuple[str, str, str], Any] = {}  # one per CRD: jsonschema.validate re-checks the schema every call
    checked: set[str] = set()
    for res in plan_of(stack).resources:
        if not res.type.startswith("kubernetes:") or not res.custom:
            continue
        group_version, kind = res.type.split(":")[1], res.type.split(":")[2]
        group, _, version = group_version.rpartition("/")
        if group in BUILTIN_GROUPS:
            continue
        schema = schemas.get((group, version, kind))
        if schema is None and group == "monitoring.googleapis.com" and not (upstream / "google-managed-prometheus").is_dir():
            continue  # GKE-installed CRDs, pinned by tests/fetch_upstream.py; tests/test_monitoring.py skips with the reason
        assert schema is not None, f"{res.urn}: no pinned upstream CRD for {group}/{version} {kind}"
        body = dict(res.inputs)  # the whole object: some kinds (WorkloadPriorityClass) have top-level fields
        body.setdefault("apiVersion", f"{group}/{version}")
        body.setdefault("kind", kind)
        key = (group, version, kind)
        if key not in validators:
            validators[key] = jsonschema.validators.validator_for(schema)(schema)
        validators[key].validate(body)
        assert _pruned_fields(body, schema) == [], f"{res.urn}: fields the API server would drop"
        checked.add(kind)
    # the whole Kubernetes layer's custom resources: Kueue's queues, flavors and priorities (and, with the GPU
    # operator's DCGM exporter, the GPU alerts)
    expected = {"ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass"}
    if stack == "onprem":
        expected.add("PrometheusRule")
    assert expected <= checked


def test_pruned_field_check_catches_a_misspelt_field(onprem: engine.Plan, upstream: Path) -> None:
    schema = _crd_schemas(upstream)[("kueue.x-k8s.io", "v1beta2", "ClusterQueue")]
    (queue, *_) = onprem.by_type("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue")
    body = json.loads(json.dumps(queue.inputs))
    body["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQota"] = 1
    body["spec"]["namespaceSelectr"] = {}
    jsonschema.validate(body, schema)  # what schema validation alone lets through
    assert sorted(_pruned_fields(body, schema)) == [
        ".spec.namespaceSelectr",
        ".spec.resourceGroups[0].flavors[0].resources[0].nominalQota",
    ]


def test_redis_endpoint_parsing() -> None:
    plain = existing.redis_endpoint("redis.data.svc.cluster.local:6379")
    assert (plain.host, plain.port, plain.tls, plain.password) == ("redis.data.svc.cluster.local", 6379, False, None)
    tls = existing.redis_endpoint("rediss://cache.example.com:6380")
    assert (tls.host, tls.port, tls.tls) == ("cache.example.com", 6380, True)
    with pytest.raises(ValueError, match="host:port"):
        existing.redis_endpoint("redis-without-port")


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda r: r["mlflow"].pop("existingDatabaseSecret"), "ml-platform:mlflow.existingDatabaseSecret"),
        (lambda r: r["feast"]["onlineStore"].pop("existingEndpoint"), "ml-platform:feast.onlineStore.existingEndpoint"),
        (lambda r: r.update(dr={"enabled": True, "region": "us-east1"}), "ml-platform:dr.enabled"),
    ],
)
def test_existing_cluster_config_mistakes_name_the_key(mutate: Callable[[dict[str, Any]], Any], key: str) -> None:
    raw = raw_config("onprem")
    mutate(raw)
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert key in dict(err.value.problems)


def test_switching_mlflow_and_feast_off_needs_no_external_stores() -> None:
    raw = raw_config("onprem")
    raw["mlflow"] = {"enabled": False}
    raw["feast"] = {"enabled": False}
    cfg = config.parse(raw)
    assert not cfg.mlflow.enabled and not cfg.feast.enabled


def test_existing_layer_hands_over_the_external_stores_and_driver_install() -> None:
    raw = raw_config("onprem")
    cfg = config.parse(raw)
    seen: dict[str, Any] = {}

    def program() -> None:
        seen["layer"] = existing.build(cfg)

    resources, _ = engine.run_program("onprem", raw, [], program=program)
    layer = seen["layer"]
    assert [r.type for r in resources] == ["pulumi:providers:kubernetes"]
    assert layer.cloud == "existing" and layer.object_store is None and layer.driver_preinstalled is False
    assert layer.mlflow_db.existing_secret == cfg.mlflow.existing_database_secret and layer.mlflow_db.password is None
    host, port = str(cfg.feast.online_store.existing_endpoint).rsplit(":", 1)
    assert (layer.feast_redis.host, layer.feast_redis.port, layer.feast_redis.password) == (host, int(port), None)
    assert layer.team_identity == {} and layer.service_identity == {}


def _feast_connection(raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """The Redis connection string the feature server gets, from a real run of the onprem program."""
    from infra.plan import mocks

    seen: dict[str, Any] = {}
    real_new_resource = mocks.PlanMocks.new_resource

    def spy(self: mocks.PlanMocks, args: Any) -> Any:
        data = unwrap_secrets(dict(args.inputs)).get("stringData") or {}
        if args.typ == "kubernetes:core/v1:Secret" and "feature_store.yaml" in data:
            seen["yaml"] = data["feature_store.yaml"]
        return real_new_resource(self, args)

    monkeypatch.setattr(mocks.PlanMocks, "new_resource", spy)
    engine.run_program("onprem", raw, [])
    return str(yaml.safe_load(seen["yaml"])["online_store"]["connection_string"])


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("redis.data.svc.cluster.local:6379", "redis.data.svc.cluster.local:6379"),
        ("redis://redis.data.svc.cluster.local:6379", "redis.data.svc.cluster.local:6379"),
        ("rediss://cache.example.com:6380", "cache.example.com:6380,ssl=true"),
    ],
)
def test_existing_redis_endpoint_reaches_feast_with_tls_when_asked(
    endpoint: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = raw_config("onprem")
    raw["feast"]["onlineStore"]["existingEndpoint"] = endpoint
    assert _feast_connection(raw, monkeypatch) == expected


@pytest.mark.parametrize("endpoint", ["http://cache:6379", "rediss://cache", "cache"])
def test_existing_redis_endpoint_must_be_host_port(endpoint: str) -> None:
    raw = raw_config("onprem")
    raw["feast"]["onlineStore"]["existingEndpoint"] = endpoint
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    problems = dict(err.value.problems)
    assert endpoint in problems["ml-platform:feast.onlineStore.existingEndpoint"]
    assert "rediss://host:port" in problems["ml-platform:feast.onlineStore.existingEndpoint"]


def test_monitoring_labels_reach_the_service_monitor_and_the_alert_rules() -> None:
    """A kube-prometheus-stack only picks up ServiceMonitors / rules carrying its selector label."""
    raw = raw_config("onprem")
    raw.setdefault("gpuOperator", {})["monitoringLabels"] = {"release": "kube-prometheus-stack"}
    resources, _ = engine.run_program("onprem", raw, [])
    (rule,) = [
        r
        for r in resources
        if r.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule" and r.inputs["metadata"]["name"] == "ml-platform-gpu"
    ]
    assert rule.inputs["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (operator,) = [r for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "gpu-operator"]
    monitor = operator.inputs["values"]["dcgmExporter"]["serviceMonitor"]
    assert monitor["enabled"] is True and monitor["additionalLabels"] == {"release": "kube-prometheus-stack"}


@pytest.mark.parametrize(
    ("labels", "bad"),
    [({"release": "kube prometheus"}, "kube prometheus"), ({"-release": "x"}, "-release"), ({"release": "x" * 64}, "x" * 64)],
)
def test_monitoring_labels_must_be_kubernetes_labels(labels: dict[str, str], bad: str) -> None:
    raw = raw_config("onprem")
    raw.setdefault("gpuOperator", {})["monitoringLabels"] = labels
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    ((path, reason),) = err.value.problems
    assert path == f"ml-platform:gpuOperator.monitoringLabels.{next(iter(labels))}" and bad in reason
