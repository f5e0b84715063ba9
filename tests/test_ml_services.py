"""ML services through the plan: MLflow / Feast stores are encrypted, private and HA in prod, no
secret value leaks, chart values match upstream, identities are scoped, and switching a service
off leaves no trace of it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.aws.irsa import ROLE_ARN_ANNOTATION
from components.k8s import feast as feast_k8s
from components.k8s import mlflow as mlflow_k8s
from infra import config
from infra.plan import engine, mocks, report
from infra.plan.recorder import SECRET, RecordedResource
from tests.chart_values import assert_keys_exist, chart_version
from tests.helpers import STACKS, raw_config, unwrap_secrets

PlanOf = Callable[[str], engine.Plan]
AWS_STACKS = ["dev", "staging", "prod"]
MLFLOW_STACKS = [s for s in STACKS if config.load_stack(s).mlflow.enabled]
FEAST_STACKS = [s for s in STACKS if config.load_stack(s).feast.enabled]
"""Stacks that run the service (not a fleet manager, whose workers each run their own)."""
RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


# ---- helpers ----------------------------------------------------------------------------------


def one(plan: engine.Plan, type_: str, pred: Callable[[RecordedResource], bool] = lambda r: True) -> RecordedResource:
    found = [r for r in plan.by_type(type_) if pred(r)]
    assert len(found) == 1, [r.urn for r in found]
    return found[0]


def release(plan: engine.Plan, chart: str) -> RecordedResource:
    return one(plan, RELEASE, lambda r: r.inputs["chart"] == chart)


def cluster_security_groups(plan: engine.Plan) -> set[str]:
    """The EKS cluster security group (the id the cluster's discovery tags are put on)."""
    ids = {r.inputs["resourceId"] for r in plan.by_type("aws:ec2/tag:Tag")}
    assert len(ids) == 1, ids
    return ids


def children(plan: engine.Plan, parent: RecordedResource) -> list[RecordedResource]:
    return [r for r in plan.resources if r.parent == parent.urn]


def ingress_rules(plan: engine.Plan, component_type: str) -> list[RecordedResource]:
    comp = one(plan, component_type)
    return [r for r in children(plan, comp) if r.type == INGRESS]


def private_subnet_ids(plan: engine.Plan) -> set[str]:
    subnets = [
        r for r in plan.by_type("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in (r.inputs.get("tags") or {})
    ]
    assert subnets
    return {r.id for r in subnets}


def region_of(plan: engine.Plan, res: RecordedResource) -> str:
    prov = plan.provider_of(res)
    assert prov is not None, f"{res.urn} uses the default provider"
    return prov.inputs["region"]


def mock_secret_texts(plan: engine.Plan) -> list[str]:
    """The values the mock engine generated for every secret in the plan: each RandomPassword
    (database passwords, the ElastiCache token, the MLflow admin) and each Memorystore AUTH string."""
    fill = mocks.FILLERS["random:index/randomPassword:RandomPassword"]
    texts = [fill(r.name, r.inputs, None)["result"] for r in plan.by_type("random:index/randomPassword:RandomPassword")]
    auth = mocks.FILLERS["gcp:redis/instance:Instance"]
    texts += [auth(r.name, r.inputs, None)["authString"] for r in plan.by_type("gcp:redis/instance:Instance")]
    return texts


def role_policy(plan: engine.Plan, role_name: str) -> dict[str, Any]:
    pol = one(plan, "aws:iam/rolePolicy:RolePolicy", lambda r: r.name == role_name)
    return json.loads(pol.inputs["policy"])


def role_arn(plan: engine.Plan, role_name: str) -> str:
    role = one(plan, "aws:iam/role:Role", lambda r: r.name == role_name)
    return str(role.state["arn"])


def secret_entry(sec: RecordedResource, key: str) -> Any:
    """A Secret's ``stringData`` entry (the recorder may mask the whole map)."""
    data = sec.inputs["stringData"]
    return SECRET if data == SECRET else data[key]


def lake_bucket(plan: engine.Plan, zone: str) -> str:
    return plan.outputs["lakeBuckets"][zone]


def merged(defaults: Any, ours: Any) -> Any:
    """Helm's value merge: maps merge recursively, anything else replaces."""
    if isinstance(defaults, dict) and isinstance(ours, dict):
        out = dict(defaults)
        for k, v in ours.items():
            out[k] = merged(defaults.get(k), v) if k in defaults else v
        return out
    return copy.deepcopy(ours)


# ---- managed stores on AWS ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_mlflow_database_is_encrypted_private_and_open_only_to_the_cluster(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    db = one(plan, RDS)
    inp = db.inputs
    assert inp["engine"] == "postgres"
    assert inp["storageEncrypted"] is True and inp["kmsKeyId"] == plan.outputs["kmsKeyArn"]
    assert inp["publiclyAccessible"] is False
    assert inp["password"] == SECRET
    subnet_group = one(plan, "aws:rds/subnetGroup:SubnetGroup")
    assert set(subnet_group.inputs["subnetIds"]) <= private_subnet_ids(plan)
    rules = ingress_rules(plan, "ml-platform:aws:PostgresDatabase")
    assert rules, "no ingress rule: nothing could reach the database"
    for rule in rules:
        assert {rule.inputs["fromPort"], rule.inputs["toPort"]} == {5432}
        assert rule.inputs["referencedSecurityGroupId"] in cluster_security_groups(plan)
        assert not {"cidrIpv4", "cidrIpv6", "prefixListId"} & set(rule.inputs)
    sg_ids = {
        r.id
        for r in children(plan, one(plan, "ml-platform:aws:PostgresDatabase"))
        if r.type == "aws:ec2/securityGroup:SecurityGroup"
    }
    assert set(inp["vpcSecurityGroupIds"]) == sg_ids
    params = one(plan, "aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]
    assert {"name": "rds.force_ssl", "value": "1"} in [{k: p[k] for k in ("name", "value")} for p in params]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_database_backups_and_protection_follow_the_environment(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    db = one(plan, RDS)
    inp = db.inputs
    if plan.config.is_prod:
        assert inp["backupRetentionPeriod"] >= 14
        assert inp["multiAz"] is True
        assert inp["deletionProtection"] is True
        assert inp["skipFinalSnapshot"] is False and inp["finalSnapshotIdentifier"]
        assert db.protect and db.retain_on_delete
    else:
        assert inp["backupRetentionPeriod"] == 7
        assert inp["deletionProtection"] is False and inp["skipFinalSnapshot"] is True
        assert not db.protect
        assert inp["multiAz"] is (plan.config.environment != "dev")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_prod_with_dr_replicates_automated_backups_to_the_dr_region(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    reps = plan.by_type("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication")
    if not (plan.config.is_prod and plan.config.dr.enabled):
        assert reps == []
        assert not one(plan, "aws:secretsmanager/secret:Secret", lambda r: r.name == "mlflow-db").inputs.get("replicas")
        return
    (rep,) = reps
    db = one(plan, RDS)
    assert region_of(plan, rep) == plan.config.dr_region != region_of(plan, db)
    assert rep.inputs["kmsKeyId"] == plan.outputs["drKmsKeyArn"]
    assert rep.inputs["sourceDbInstanceArn"].endswith(":db:" + db.state["identifier"])
    assert rep.inputs["retentionPeriod"] == db.inputs["backupRetentionPeriod"]
    # the credentials follow, so the restored database can be opened there
    secret = one(plan, "aws:secretsmanager/secret:Secret", lambda r: r.name == "mlflow-db")
    assert secret.inputs["replicas"] == [{"region": plan.config.dr_region, "kmsKeyId": plan.outputs["drKmsKeyArn"]}]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_feast_online_store_is_encrypted_authenticated_private_and_ha_in_prod(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    inp = one(plan, REDIS).inputs
    assert inp["transitEncryptionEnabled"] is True
    assert inp["atRestEncryptionEnabled"] is True and inp["kmsKeyId"] == plan.outputs["kmsKeyArn"]
    assert inp["authToken"] == SECRET
    rules = ingress_rules(plan, "ml-platform:aws:RedisCache")
    assert rules and all(r.inputs["referencedSecurityGroupId"] in cluster_security_groups(plan) for r in rules)
    assert all({r.inputs["fromPort"], r.inputs["toPort"]} == {6379} for r in rules)
    assert set(one(plan, "aws:elasticache/subnetGroup:SubnetGroup").inputs["subnetIds"]) <= private_subnet_ids(plan)
    ha = inp["automaticFailoverEnabled"] and inp["multiAzEnabled"] and inp["numCacheClusters"] >= 2
    assert ha is plan.config.is_prod


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_credentials_are_kept_in_secrets_manager_with_our_key(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    secrets = plan.by_type("aws:secretsmanager/secret:Secret")
    versions = plan.by_type("aws:secretsmanager/secretVersion:SecretVersion")
    ours = [s for s in secrets if s.name in ("mlflow-db", "feast-online")]
    assert len(ours) == 2
    assert all(s.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"] for s in ours)
    assert {v.name for v in versions} >= {"mlflow-db", "feast-online"}
    assert all(v.inputs["secretString"] == SECRET for v in versions)


# ---- secrets never leak --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_appears_in_the_plan_or_its_reports(stack: str, plan_of: PlanOf, tmp_path: Path) -> None:
    plan = plan_of(stack)
    texts = mock_secret_texts(plan)
    if plan.config.mlflow.enabled and plan.config.cloud != "existing":
        assert texts, "the mocks generated no credentials to look for"
    dumped = json.dumps(plan.to_json())
    written = [report.markdown(plan)] + [f.read_text() for f in report.write_manifests(plan, tmp_path)]
    for where in [dumped, *written]:
        assert "planpw" not in where and "plan-redis-auth-" not in where  # prefixes of every mock credential
        assert not [t for t in texts if t in where]
    # Secrets reach the services only as Secret objects (recorded as secret) ...
    service_secrets = [s for s in plan.by_type("kubernetes:core/v1:Secret") if s.parent.endswith(("::mlflow", "::feast"))]
    assert len(service_secrets) >= plan.config.mlflow.enabled + plan.config.feast.enabled
    for sec in service_secrets:
        data = sec.inputs["stringData"]
        assert data == SECRET or all(v == SECRET for k, v in data.items() if k != "username"), sec.urn
    # ... and never through Helm values or ConfigMaps.
    for res in plan.by_type(RELEASE) + plan.by_type("kubernetes:core/v1:ConfigMap"):
        assert SECRET not in json.dumps(res.inputs), res.urn


@pytest.mark.parametrize("stack", MLFLOW_STACKS)
def test_mlflow_values_reference_the_credentials_secret_and_carry_no_password(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    values = release(plan, mlflow_k8s.CHART).inputs["values"]
    backend = values["backendStore"]
    assert backend["postgres"]["enabled"] is True and backend["postgres"]["password"] == ""
    want = plan.config.mlflow.existing_database_secret or mlflow_k8s.DB_SECRET
    assert backend["existingDatabaseSecret"]["name"] == want
    if plan.config.mlflow.existing_database_secret is None:
        db_secret = one(plan, "kubernetes:core/v1:Secret", lambda r: r.inputs["metadata"]["name"] == want)
        assert secret_entry(db_secret, "password") == SECRET
        assert db_secret.inputs["metadata"]["namespace"] == "mlflow"
    else:
        assert not [r for r in plan.by_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == mlflow_k8s.DB_SECRET]
    if plan.config.mlflow.auth:
        assert values["auth"]["enabled"] is True
        assert values["auth"]["existingAdminSecret"]["name"] == mlflow_k8s.ADMIN_SECRET
        assert values["auth"].get("adminPassword", "") == ""


# ---- charts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", MLFLOW_STACKS)
def test_mlflow_chart_is_pinned_and_values_validate_against_upstream_schema(stack: str, plan_of: PlanOf, upstream: Path) -> None:
    plan = plan_of(stack)
    rel = release(plan, mlflow_k8s.CHART)
    assert rel.inputs["version"] == chart_version(upstream / "mlflow" / "Chart.yaml")
    assert rel.inputs["repositoryOpts"]["repo"] == mlflow_k8s.CHART_REPO
    defaults = yaml.safe_load((upstream / "mlflow" / "values.yaml").read_text())
    schema = json.loads((upstream / "mlflow" / "values.schema.json").read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(merged(defaults, rel.inputs["values"]))]
    assert errors == []


def test_the_schema_check_catches_a_bad_value(upstream: Path) -> None:
    defaults = yaml.safe_load((upstream / "mlflow" / "values.yaml").read_text())
    schema = json.loads((upstream / "mlflow" / "values.schema.json").read_text())
    bad = merged(defaults, {"backendStore": {"postgres": {"enabled": True, "port": "5432"}}, "mysql": {"enabled": True}})
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


@pytest.mark.parametrize("stack", FEAST_STACKS)
def test_feast_chart_is_pinned_and_value_keys_exist_upstream(stack: str, plan_of: PlanOf, upstream: Path) -> None:
    plan = plan_of(stack)
    rel = release(plan, feast_k8s.CHART)
    assert rel.inputs["version"] == chart_version(upstream / "feast" / "feature-server" / "Chart.yaml")
    assert rel.inputs["repositoryOpts"]["repo"] == feast_k8s.CHART_REPO
    values = rel.inputs["values"]
    assert_keys_exist(values, upstream / "feast" / "feature-server" / "values.yaml")
    assert values.get("feature_store_yaml_base64", "") == ""  # the config (with credentials) comes from the Secret
    mounted = {v["secret"]["secretName"] for v in values["volumes"] if "secret" in v}
    assert feast_k8s.CONFIG_SECRET in mounted
    config_secret = one(plan, "kubernetes:core/v1:Secret", lambda r: r.inputs["metadata"]["name"] == feast_k8s.CONFIG_SECRET)
    if plan.config.cloud != "existing":
        assert secret_entry(config_secret, "feature_store.yaml") == SECRET


@pytest.mark.parametrize("stack", STACKS)
def test_feast_offline_store_is_the_lake_features_zone(stack: str, plan_of: PlanOf) -> None:
    """Parquet in the features zone on the cloud stacks (exported for feature repos); local files on ``existing``."""
    plan = plan_of(stack)
    if plan.config.cloud == "existing":
        assert "feastOfflineRoot" not in plan.outputs
        return
    scheme = {"aws": "s3", "gcp": "gs"}[plan.config.cloud]
    assert plan.outputs["feastOfflineRoot"] == f"{scheme}://{lake_bucket(plan, 'features')}/offline"


# ---- identities ----------------------------------------------------------------------------------


def _s3_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for stmt in policy["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        if any(a.startswith("s3:") for a in actions):
            assert stmt["Effect"] == "Allow"
            out.append(
                {
                    **stmt,
                    "Action": actions,
                    "Resource": stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]],
                }
            )
    return out


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_feature_server_identity_reads_only_the_features_zone(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    features = f"arn:aws:s3:::{lake_bucket(plan, 'features')}"
    statements = _s3_statements(role_policy(plan, "feast"))
    assert statements
    for stmt in statements:
        assert all(r in (features, f"{features}/*") for r in stmt["Resource"]), stmt
        assert all(a.startswith(("s3:Get", "s3:List")) for a in stmt["Action"]), stmt
    assert any("s3:GetObject" in s["Action"] and f"{features}/*" in s["Resource"] for s in statements)
    for stmt in role_policy(plan, "feast")["Statement"]:
        assert not [a for a in ([stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"]) if a.endswith("*")]
    sa = one(plan, "kubernetes:core/v1:ServiceAccount", lambda r: r.inputs["metadata"]["name"] == feast_k8s.SERVICE_ACCOUNT)
    assert sa.inputs["metadata"]["namespace"] == "feast"
    assert sa.inputs["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn(plan, "feast")
    trust = json.loads(one(plan, "aws:iam/role:Role", lambda r: r.name == "feast").inputs["assumeRolePolicy"])
    subs = [v for s in trust["Statement"] for k, v in s["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subs == [f"system:serviceaccount:feast:{feast_k8s.SERVICE_ACCOUNT}"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_mlflow_identity_is_scoped_to_the_models_mlflow_prefix(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    models = f"arn:aws:s3:::{lake_bucket(plan, 'models')}"
    statements = _s3_statements(role_policy(plan, "mlflow"))
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert writes and all(s["Resource"] == [f"{models}/mlflow/*"] for s in writes)
    for stmt in statements:
        if stmt["Resource"] == [models]:
            assert stmt["Action"] == ["s3:ListBucket"]
            assert set(stmt["Condition"]["StringLike"]["s3:prefix"]) <= {"mlflow", "mlflow/*"}
        else:
            assert all(r.startswith(f"{models}/mlflow/") for r in stmt["Resource"]), stmt
    values = release(plan, mlflow_k8s.CHART).inputs["values"]
    assert values["serviceAccount"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn(plan, "mlflow")
    assert values["artifactRoot"]["proxiedArtifactStorage"] is True
    tracking_host = plan.outputs["mlflowTrackingUri"].removeprefix("http://")
    assert (
        tracking_host.split(":")[0] in values["serverAllowedHosts"]
        and f"{tracking_host.split(':')[0]}:*" in values["serverAllowedHosts"]
    )
    assert values["artifactRoot"]["s3"] == {"enabled": True, "bucket": lake_bucket(plan, "models"), "path": "mlflow"}


# ---- availability --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", sorted(set(MLFLOW_STACKS) | set(FEAST_STACKS)))
def test_prod_runs_two_or_more_replicas_behind_a_disruption_budget(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    pdbs = plan.by_type("kubernetes:policy/v1:PodDisruptionBudget")
    services = (
        (mlflow_k8s.CHART, mlflow_k8s.selector_labels(), plan.config.mlflow.enabled),
        (feast_k8s.CHART, feast_k8s.selector_labels(), plan.config.feast.enabled),
    )
    for chart, labels in ((c, sel) for c, sel, enabled in services if enabled):
        values = release(plan, chart).inputs["values"]
        assert values["resources"]["requests"] and values["resources"]["limits"]["memory"]
        covering = [p for p in pdbs if p.inputs["spec"]["selector"]["matchLabels"] == labels]
        if plan.config.is_prod:
            assert values["replicaCount"] >= 2
            assert len(covering) == 1
            assert covering[0].inputs["spec"]["maxUnavailable"] < values["replicaCount"]
        else:
            assert values["replicaCount"] == 1 and covering == []


# ---- cloud: existing -----------------------------------------------------------------------------


def test_existing_cluster_uses_the_configured_stores_and_creates_no_cloud_resources(plan_of: PlanOf) -> None:
    plan = plan_of("onprem")
    assert not [r for r in plan.resources if r.type.startswith(("aws:", "gcp:"))]
    values = release(plan, mlflow_k8s.CHART).inputs["values"]
    assert values["extraSecretNamesForEnvFrom"] == [plan.config.mlflow.existing_database_secret]
    endpoint = plan.config.feast.online_store.existing_endpoint
    assert endpoint is not None
    host, port = endpoint.rsplit(":", 1)
    assert host and port.isdigit()


# ---- switched off: no trace ----------------------------------------------------------------------


def _traces(plan: engine.Plan, word: str) -> list[str]:
    found = [r.urn for r in plan.resources if word in r.urn.lower() or word in json.dumps(r.inputs).lower()]
    found += [k for k in plan.outputs if word in k.lower()]
    return found


@pytest.mark.parametrize(
    ("base", "service", "word"),
    [
        ("dev", "mlflow", "mlflow"),
        ("prod", "mlflow", "mlflow"),
        ("dev", "feast", "feast"),
        ("prod", "feast", "feast"),
        ("onprem", "feast", "feast"),
        ("gcp-prod", "mlflow", "mlflow"),  # Cloud SQL stays, for the Feast SQL registry alone
        ("gcp-dev", "feast", "feast"),
    ],
)
def test_a_service_switched_off_leaves_no_trace(base: str, service: str, word: str, write_stack: Callable[..., Path]) -> None:
    raw = raw_config(base)
    section = dict(raw.get(service) or {})
    section["enabled"] = False
    section.pop("existingDatabaseSecret", None)
    if service == "feast":
        section.pop("onlineStore", None)
    path = write_stack(base, **{service: section})
    plan = engine.plan("case", stack_path=path)
    assert _traces(plan, word) == []
    other = "feast" if service == "mlflow" else "mlflow"
    assert _traces(plan, other), f"{other} must still be there"
    if service == "feast":
        assert plan.by_type(REDIS) == [] and plan.by_type("gcp:redis/instance:Instance") == []
    if service == "mlflow" and plan.config.feast.registry == "sql":
        # the registry keeps a database server of its own, and Feast is really deployed on it
        assert len(plan.by_type(RDS) + plan.by_type("gcp:sql/databaseInstance:DatabaseInstance")) == 1
        assert "feastEndpoint" in plan.outputs


def test_everything_off_means_no_database_at_all(write_stack: Callable[..., Path]) -> None:
    path = write_stack("prod", mlflow={"enabled": False}, feast={"enabled": False})
    plan = engine.plan("case", stack_path=path)
    assert plan.by_type(RDS) == [] and plan.by_type(REDIS) == []
    assert _traces(plan, "mlflow") == [] and _traces(plan, "feast") == []


# ---- config errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "mutate", "key"),
    [
        ("onprem", lambda r: r["mlflow"].pop("existingDatabaseSecret"), "mlflow.existingDatabaseSecret"),
        ("dev", lambda r: r["mlflow"].update(existingDatabaseSecret="db"), "mlflow.existingDatabaseSecret"),
        ("onprem", lambda r: r["feast"].pop("onlineStore"), "feast.onlineStore.existingEndpoint"),
        ("onprem", lambda r: r["feast"]["onlineStore"].update(existingEndpoint="redis"), "feast.onlineStore.existingEndpoint"),
        (
            "dev",
            lambda r: r.setdefault("feast", {}).update(onlineStore={"existingEndpoint": "r:6379"}),
            "feast.onlineStore.existingEndpoint",
        ),
        ("onprem", lambda r: r["feast"].update(registry="sql"), "feast.registry"),
        ("prod", lambda r: r["mlflow"]["database"].update(backupRetentionDays=7), "mlflow.database.backupRetentionDays"),
        ("prod", lambda r: r["mlflow"]["database"].update(multiAz=False), "mlflow.database.multiAz"),
        ("prod", lambda r: r["mlflow"].update(replicas=1), "mlflow.replicas"),
        ("prod", lambda r: r["feast"].update(replicas=1), "feast.replicas"),
        ("prod", lambda r: r["feast"]["onlineStore"].update(replicas=0), "feast.onlineStore.replicas"),
        ("dev", lambda r: r["mlflow"]["database"].update(storageGb=5), "mlflow.database.storageGb"),
    ],
)
def test_bad_ml_services_config_names_the_key(stack: str, mutate: Callable[[dict[str, Any]], Any], key: str) -> None:
    raw = raw_config(stack)
    raw.setdefault("mlflow", {}).setdefault("database", {})
    mutate(raw)
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert f"ml-platform:{key}" in [p for p, _ in err.value.problems]


# ---- GCP: Feast trusts the Memorystore server CA -------------------------------------------------


def test_feast_on_gcp_trusts_every_memorystore_server_ca_over_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real program for gcp-dev: the CAs Memorystore reports (two during a rotation) reach the
    pods as a file the Redis connection string names, next to the AUTH string, on the TLS port."""
    old_ca, new_ca = (
        "-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\nNEW\n-----END CERTIFICATE-----",
    )
    instance = {
        "host": "10.9.8.7",
        "port": 6378,
        "serverCaCerts": [{"cert": old_ca}, {"cert": new_ca}],
        "authString": "auth-0b5e",
    }
    monkeypatch.setitem(mocks.FILLERS, "gcp:redis/instance:Instance", lambda name, inputs, region: dict(instance))
    seen: dict[str, dict[str, Any]] = {}
    real_new_resource = mocks.PlanMocks.new_resource

    def spy(self: mocks.PlanMocks, args: Any) -> Any:
        if args.typ == "kubernetes:core/v1:Secret":
            seen[args.name] = unwrap_secrets(dict(args.inputs))
        return real_new_resource(self, args)

    monkeypatch.setattr(mocks.PlanMocks, "new_resource", spy)
    recorded, outputs = engine.run_program("gcp-dev", raw_config("gcp-dev"), [])

    data = seen["feast-config"]["stringData"]
    doc = yaml.safe_load(data["feature_store.yaml"])
    assert doc["registry"]["path"] == f"gs://{outputs['lakeBuckets']['features']}/feast/registry.db"  # the lake registry
    bundle = data[feast_k8s.CA_FILE]
    assert old_ca in bundle and new_ca in bundle
    conn = doc["online_store"]["connection_string"]
    nodes = [p for p in conn.split(",") if "=" not in p]
    params = dict(p.split("=", 1) for p in conn.split(",") if "=" in p)
    assert nodes == ["10.9.8.7:6378"]
    assert params == {"ssl": "true", "ssl_ca_certs": f"{feast_k8s.REPO_DIR}/{feast_k8s.CA_FILE}", "password": "auth-0b5e"}
    # the Secret holding both files is what the feature server mounts at REPO_DIR
    (rel,) = [r for r in recorded if r.type == RELEASE and r.inputs["chart"] == feast_k8s.CHART]
    volumes = {v["name"]: v for v in rel.inputs["values"]["volumes"]}
    mount = next(m for m in rel.inputs["values"]["volumeMounts"] if m["mountPath"] == feast_k8s.REPO_DIR)
    assert volumes[mount["name"]]["secret"]["secretName"] == seen["feast-config"]["metadata"]["name"]
    # and the AUTH string travelled only inside secrets
    assert "auth-0b5e" not in json.dumps([r.inputs for r in recorded]) + json.dumps(outputs)
