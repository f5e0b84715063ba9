"""ML services components in isolation: argument checks, what they register, ``feature_store.yaml``."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.aws.postgres import PostgresDatabase, PostgresDatabaseArgs
from components.aws.redis import RedisCacheArgs
from components.aws.secret import StoredSecretArgs
from components.k8s import feast as feast_k8s
from components.k8s import mlflow as mlflow_k8s
from infra.plan import engine
from infra.plan.recorder import SECRET, RecordedResource

PG: dict[str, Any] = {
    "vpc_id": "vpc-1",
    "subnet_ids": ["subnet-a", "subnet-b"],
    "client_security_group_ids": ["sg-cluster"],
    "kms_key_arn": "arn:kms:main",
}
REDIS: dict[str, Any] = {
    "vpc_id": "vpc-1",
    "subnet_ids": ["subnet-a"],
    "client_security_group_ids": ["sg-cluster"],
    "kms_key_arn": "arn:kms:main",
}


def run(program: Any) -> tuple[list[RecordedResource], dict[str, Any]]:
    return engine.run_program("unit", {}, [], program=program)


def of_type(resources: list[RecordedResource], type_: str) -> list[RecordedResource]:
    return [r for r in resources if r.type == type_]


# ---- argument checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PostgresDatabaseArgs(**{**PG, "client_security_group_ids": []}), "client_security_group_ids"),
        (lambda: PostgresDatabaseArgs(**PG, instance_class="m6i.large"), "instance_class"),
        (lambda: PostgresDatabaseArgs(**PG, backup_retention_days=0), "backup_retention_days"),
        (lambda: PostgresDatabaseArgs(**PG, database="ML-flow"), "database"),
        (lambda: PostgresDatabaseArgs(**PG, backup_replication_kms_key_arn="arn:kms:dr"), "dr_provider"),
        (lambda: RedisCacheArgs(**REDIS, replicas=0, high_availability=True), "replicas >= 1"),
        (lambda: RedisCacheArgs(**REDIS, node_type="db.t4g.small"), "node_type"),
        (lambda: StoredSecretArgs(secret_string="x", kms_key_arn="k", recovery_window_days=3), "recovery_window_days"),
        (lambda: mlflow_k8s.MlflowDatabase(host="h"), "exactly one"),
        (lambda: mlflow_k8s.MlflowDatabase(host="h", password=pulumi.Output.secret("p"), existing_secret="s"), "exactly one"),
        (
            lambda: mlflow_k8s.MlflowArgs(database=mlflow_k8s.MlflowDatabase(existing_secret="s"), object_store="s3"),
            "artifact_bucket",
        ),
        (lambda: feast_k8s.FeastArgs(project="ml-platform", online_store=feast_k8s.FeastRedis(host="r")), "project"),
        (lambda: feast_k8s.FeastSqlRegistry(host="h", password=pulumi.Output.secret("p"), database="Feast"), "database"),
    ],
)
def test_bad_arguments_fail_early_with_the_argument_named(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


# ---- PostgreSQL --------------------------------------------------------------------------------


def test_postgres_uses_the_given_providers_and_replicates_backups_with_the_dr_key() -> None:
    def program() -> None:
        main = aws.Provider("main", region="eu-west-1")
        dr = aws.Provider("dr", region="eu-central-1")
        PostgresDatabase(
            "db",
            PostgresDatabaseArgs(**PG, deletion_protection=True, dr_provider=dr, backup_replication_kms_key_arn="arn:kms:dr"),
            opts=pulumi.ResourceOptions(provider=main),
        )

    resources, _ = run(program)
    providers = {r.urn: r.inputs["region"] for r in resources if r.type == "pulumi:providers:aws"}
    region = {r.name: providers.get(r.provider_urn) for r in resources if r.type.startswith("aws:")}
    assert region and all(region[n] for n in region), "an AWS resource uses the default provider"
    (rep,) = of_type(resources, "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication")
    assert providers[rep.provider_urn] == "eu-central-1" and rep.inputs["kmsKeyId"] == "arn:kms:dr"
    assert {r.type for r in resources if providers.get(r.provider_urn) == "eu-central-1"} == {rep.type}
    (db,) = of_type(resources, "aws:rds/instance:Instance")
    assert db.protect and db.retain_on_delete and db.inputs["deletionProtection"]


def test_postgres_without_protection_can_be_destroyed_cleanly() -> None:
    def program() -> None:
        PostgresDatabase(
            "db", PostgresDatabaseArgs(**PG), opts=pulumi.ResourceOptions(provider=aws.Provider("main", region="eu-west-1"))
        )

    resources, _ = run(program)
    (db,) = of_type(resources, "aws:rds/instance:Instance")
    assert not db.protect and db.inputs["skipFinalSnapshot"] is True and db.inputs["deletionProtection"] is False
    assert not of_type(resources, "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication")


# ---- MLflow ------------------------------------------------------------------------------------


def _mlflow(args: mlflow_k8s.MlflowArgs) -> list[RecordedResource]:
    def program() -> None:
        mlflow_k8s.Mlflow("mlflow", args, opts=pulumi.ResourceOptions(provider=k8s.Provider("k")))

    return run(program)[0]


def test_mlflow_with_an_existing_secret_creates_no_credentials_of_its_own() -> None:
    resources = _mlflow(mlflow_k8s.MlflowArgs(database=mlflow_k8s.MlflowDatabase(existing_secret="pg-conn"), auth=False))
    assert not of_type(resources, "kubernetes:core/v1:Secret")
    (rel,) = of_type(resources, "kubernetes:helm.sh/v3:Release")
    values = rel.inputs["values"]
    assert values["backendStore"]["existingDatabaseSecret"] == {
        "name": "pg-conn",
        "usernameKey": "PGUSER",
        "passwordKey": "PGPASSWORD",
    }
    assert values["extraSecretNamesForEnvFrom"] == ["pg-conn"]
    assert "auth" not in values
    # no object store: artifacts on a shared volume every replica mounts
    (pvc,) = of_type(resources, "kubernetes:core/v1:PersistentVolumeClaim")
    assert pvc.inputs["spec"]["accessModes"] == ["ReadWriteMany"]
    assert values["artifactRoot"]["defaultArtifactsDestination"] == "/mlartifacts"


def test_mlflow_on_a_managed_database_requires_tls_and_stores_auth_users_there() -> None:
    db = mlflow_k8s.MlflowDatabase(host="db.internal", password=pulumi.Output.secret("pw-unit-test"))
    resources = _mlflow(mlflow_k8s.MlflowArgs(database=db, object_store="gs", artifact_bucket="models-bkt", replicas=3))
    (rel,) = of_type(resources, "kubernetes:helm.sh/v3:Release")
    values = rel.inputs["values"]
    assert values["extraEnvVars"]["PGSSLMODE"] == "require"
    assert values["auth"]["postgres"]["enabled"] is True and values["auth"]["postgres"]["host"] == "db.internal"
    assert values["auth"]["postgres"]["existingSecret"]["name"] == mlflow_k8s.DB_SECRET
    assert values["artifactRoot"]["gcs"] == {"enabled": True, "bucket": "models-bkt", "path": "mlflow"}
    assert "pw-unit-test" not in json.dumps([r.inputs for r in resources])
    (pdb,) = of_type(resources, "kubernetes:policy/v1:PodDisruptionBudget")
    assert pdb.inputs["spec"]["selector"]["matchLabels"] == mlflow_k8s.selector_labels()


# ---- Feast -------------------------------------------------------------------------------------


def _feast(args: feast_k8s.FeastArgs) -> tuple[list[RecordedResource], dict[str, Any]]:
    def program() -> None:
        feast_k8s.Feast("feast", args, opts=pulumi.ResourceOptions(provider=k8s.Provider("k")))
        pulumi.export("yaml", pulumi.Output.unsecret(feast_k8s.feature_store_yaml(args)))

    return run(program)


def test_feature_store_yaml_for_a_lake_registry_and_a_tls_redis() -> None:
    args = feast_k8s.FeastArgs(
        project="ml_platform",
        provider="aws",
        online_store=feast_k8s.FeastRedis(host="master.redis", port=6379, password=pulumi.Output.secret("tok123")),
        registry="s3://features-bkt/feast/registry.db",
    )
    resources, outputs = _feast(args)
    doc = yaml.safe_load(outputs["yaml"])
    assert doc["registry"]["path"] == "s3://features-bkt/feast/registry.db"
    assert doc["online_store"] == {
        "type": "redis",
        "redis_type": "redis",
        "connection_string": "master.redis:6379,ssl=true,password=tok123",
    }
    assert doc["offline_store"]["type"] == "file" and doc["provider"] == "aws"
    (secret,) = [
        r for r in of_type(resources, "kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == feast_k8s.CONFIG_SECRET
    ]
    assert SECRET in json.dumps(secret.inputs["stringData"])
    assert "tok123" not in json.dumps([r.inputs for r in resources])
    assert not of_type(resources, "kubernetes:batch/v1:Job")


def test_sql_registry_gets_its_own_database_created_by_an_idempotent_job() -> None:
    reg = feast_k8s.FeastSqlRegistry(host="pg.internal", password=pulumi.Output.secret("pgpw9"), bootstrap_database="mlflow")
    args = feast_k8s.FeastArgs(project="p", online_store=feast_k8s.FeastRedis(host="r", password=None, tls=False), registry=reg)
    resources, outputs = _feast(args)
    doc = yaml.safe_load(outputs["yaml"])
    assert doc["registry"]["registry_type"] == "sql"
    assert doc["registry"]["path"] == "postgresql+psycopg://mlflow:pgpw9@pg.internal:5432/feast_registry?sslmode=require"
    assert doc["online_store"]["connection_string"] == "r:6379"
    (job,) = of_type(resources, "kubernetes:batch/v1:Job")
    container = job.inputs["spec"]["template"]["spec"]["containers"][0]
    script = container["command"][-1]
    assert "CREATE DATABASE feast_registry" in script and "pg_database" in script  # only when missing
    env = {e["name"]: e for e in container["env"]}
    assert env["PGDATABASE"]["value"] == "mlflow" and env["PGSSLMODE"]["value"] == "require"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == feast_k8s.REGISTRY_DB_SECRET
    assert "pgpw9" not in json.dumps([r.inputs for r in resources])


def test_feast_service_account_carries_the_workload_identity() -> None:
    args = feast_k8s.FeastArgs(
        project="p",
        online_store=feast_k8s.FeastRedis(host="r"),
        registry="gs://f/feast/registry.db",
        service_account_annotations={"iam.gke.io/gcp-service-account": "feast@p.iam.gserviceaccount.com"},
        replicas=2,
    )
    resources, _ = _feast(args)
    (sa,) = of_type(resources, "kubernetes:core/v1:ServiceAccount")
    assert sa.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "feast@p.iam.gserviceaccount.com"}
    (rel,) = of_type(resources, "kubernetes:helm.sh/v3:Release")
    assert rel.inputs["values"]["serviceAccount"]["name"] == sa.inputs["metadata"]["name"]
    assert rel.inputs["values"]["commandArgs"][:3] == ["feast", "-c", feast_k8s.REPO_DIR]
    assert len(of_type(resources, "kubernetes:policy/v1:PodDisruptionBudget")) == 1


@pytest.mark.parametrize(
    ("instance_class", "insights"), [("db.t4g.small", False), ("db.t4g.micro", False), ("db.r6g.large", True)]
)
def test_performance_insights_only_where_rds_offers_it(instance_class: str, insights: bool) -> None:
    def program() -> None:
        PostgresDatabase(
            "db",
            PostgresDatabaseArgs(**PG, instance_class=instance_class),
            opts=pulumi.ResourceOptions(provider=aws.Provider("main", region="eu-west-1")),
        )

    (db,) = of_type(run(program)[0], "aws:rds/instance:Instance")
    assert db.inputs["performanceInsightsEnabled"] is insights
    assert (db.inputs.get("performanceInsightsKmsKeyId") == "arn:kms:main") is insights


def test_a_private_redis_ca_is_shipped_with_the_config_and_trusted() -> None:
    args = feast_k8s.FeastArgs(
        project="p",
        provider="gcp",
        online_store=feast_k8s.FeastRedis(
            host="10.0.0.4", port=6378, password=pulumi.Output.secret("t"), ca_certificate="PEM-CA"
        ),
        registry="gs://f/feast/registry.db",
    )
    resources, outputs = _feast(args)
    conn = yaml.safe_load(outputs["yaml"])["online_store"]["connection_string"]
    assert conn == f"10.0.0.4:6378,ssl=true,ssl_ca_certs={feast_k8s.REPO_DIR}/{feast_k8s.CA_FILE},password=t"
    (secret,) = [
        r for r in of_type(resources, "kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == feast_k8s.CONFIG_SECRET
    ]
    data = secret.inputs["stringData"]
    assert data == SECRET or data[feast_k8s.CA_FILE] == "PEM-CA"


def test_sql_registry_url_keeps_a_password_with_url_characters_intact() -> None:
    """RDS passwords may hold ``%``, ``#``, ``?``, ``:`` and ``$``; SQLAlchemy percent-decodes the password."""
    from urllib.parse import unquote

    password = "a%41b#c?d:e$HOME{f}"
    reg = feast_k8s.FeastSqlRegistry(host="pg.internal", password=pulumi.Output.secret(password))
    args = feast_k8s.FeastArgs(project="p", online_store=feast_k8s.FeastRedis(host="r", tls=False), registry=reg)
    _, outputs = _feast(args)
    url = yaml.safe_load(outputs["yaml"])["registry"]["path"]
    credentials, _, rest = url.removeprefix("postgresql+psycopg://").rpartition("@")
    user, _, encoded = credentials.partition(":")
    assert (unquote(user), unquote(encoded)) == ("mlflow", password)
    assert rest == "pg.internal:5432/feast_registry?sslmode=require"
    assert re.fullmatch(r"[A-Za-z0-9._~-]*(%[0-9A-F]{2}[A-Za-z0-9._~-]*)*", encoded), encoded  # no raw URL syntax


# ---- team MLflow users ---------------------------------------------------------------------------


class _FakeMlflowAuth:
    """MLflow's basic-auth user API as the Job uses it: GET /api/2.0/mlflow/users/get (404 if unknown), POST
    /api/2.0/mlflow/users/create (JSON body; 400 RESOURCE_ALREADY_EXISTS if taken), 401 without the admin."""

    def __init__(self, admin: tuple[str, str]) -> None:
        import base64
        import http.server
        import json as _json
        import threading
        import urllib.parse

        self.users: dict[str, str] = {}
        self.creates = 0
        expected = "Basic " + base64.b64encode(f"{admin[0]}:{admin[1]}".encode()).decode()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: dict[str, object]) -> None:
                data = _json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != expected:
                    return self._reply(401, {"error_code": "UNAUTHENTICATED"})
                url = urllib.parse.urlparse(self.path)
                user = urllib.parse.parse_qs(url.query).get("username", [""])[0]
                if url.path == "/api/2.0/mlflow/users/get" and user in fake.users:
                    return self._reply(200, {"user": {"username": user}})
                return self._reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})

            def do_POST(self) -> None:
                if self.headers.get("Authorization") != expected:
                    return self._reply(401, {"error_code": "UNAUTHENTICATED"})
                body = _json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/api/2.0/mlflow/users/create" or not body.get("password"):
                    return self._reply(400, {"error_code": "INVALID_PARAMETER_VALUE"})
                if body["username"] in fake.users:
                    return self._reply(400, {"error_code": "RESOURCE_ALREADY_EXISTS"})
                fake.users[body["username"]] = body["password"]
                fake.creates += 1
                return self._reply(200, {"user": {"username": body["username"]}})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.skipif(shutil.which("wget") is None or shutil.which("base64") is None, reason="needs wget and base64")
def test_the_team_user_job_creates_each_team_user_once(tmp_path: Path) -> None:
    """The Job's script against a stand-in of MLflow's user API: every team user is created with its password, as
    the admin; a second run (the Job re-run for a new team) changes nothing; a wrong admin password fails it."""
    import subprocess

    fake = _FakeMlflowAuth(("admin", "s3cr3t"))
    try:
        users = tmp_path / "users"
        users.write_text("team-recsys pw1\nteam-research pw2\n")
        admin = tmp_path / "admin"
        admin.mkdir()
        (admin / "username").write_text("admin")
        script = mlflow_k8s.USERS_SCRIPT.replace("/etc/mlflow-users/users", str(users)).replace("/etc/mlflow-admin", str(admin))

        def run(password: str) -> subprocess.CompletedProcess[str]:
            (admin / "password").write_text(password)  # the Secret's keys, mounted as files
            env = {"PATH": os.environ["PATH"], "MLFLOW_TRACKING_URI": fake.url}
            return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)

        first = run("s3cr3t")
        assert first.returncode == 0, first.stderr
        assert fake.users == {"team-recsys": "pw1", "team-research": "pw2"}
        assert run("s3cr3t").returncode == 0 and fake.creates == 2  # idempotent
        assert run("wrong").returncode != 0
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def test_each_team_gets_mlflow_credentials_by_reference(plan_of: Callable[[str], engine.Plan]) -> None:
    """With mlflow.auth, every team namespace holds its MLflow user's credentials as a Secret (secret data), the Job
    creating the users waits for the server, and the templates / notebooks take them by secretKeyRef only."""
    from components.k8s import jupyterhub as jh
    from infra import workload

    plan = plan_of("dev")
    teams = {t.name for t in plan.config.teams}
    creds = [
        r for r in plan.by_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == mlflow_k8s.TEAM_CREDENTIALS_SECRET
    ]
    assert {r.inputs["metadata"]["namespace"] for r in creds} == teams
    for secret in creds:
        assert secret.inputs["stringData"] == "[secret]" or "stringData" in secret.additional_secret_outputs
    (job,) = [r for r in plan.by_type("kubernetes:batch/v1:Job") if r.name == "mlflow-team-users"]
    (release,) = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == mlflow_k8s.RELEASE]
    assert release.urn in job.dependencies
    pod = job.inputs["spec"]["template"]["spec"]
    assert not [e for e in pod["containers"][0]["env"] if "PASSWORD" in e["name"]], "the admin password only as a mounted file"
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {
        mlflow_k8s.ADMIN_SECRET,
        mlflow_k8s.TEAM_USERS_SECRET,
    }
    for kind in ("training", "training-jobset", "batch"):
        text = str(workload.load_template(kind))
        assert "'secretKeyRef': {'name': 'mlflow-credentials', 'key': 'MLFLOW_TRACKING_PASSWORD', 'optional': True}" in text, kind
    values = jh.helm_values(
        jh.JupyterHubArgs(
            oidc=jh.Oidc(
                client_id="c",
                authorize_url="https://a",
                token_url="https://t",
                userdata_url="https://u",
                callback_url="https://c",
            ),
            client_secret="x",
            profiles=[jh.Profile(slug="cpu", display_name="CPU", description="", cpu=1, memory="1Gi")],
            teams={"research": "g"},
            storage_class="s",
            mlflow_tracking_uri="http://mlflow",
            mlflow_credentials_secret=mlflow_k8s.TEAM_CREDENTIALS_SECRET,
        )
    )
    ref = values["singleuser"]["extraEnv"]["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == mlflow_k8s.TEAM_CREDENTIALS_SECRET
