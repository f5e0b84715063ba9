"""Disaster recovery against moto: the drill runs against a ``moto_server`` process the test starts
(and stops by its PID); status, prepare, failover and error cases also run in-process (``mock_aws``).

The drill account is prod-like: lake buckets with objects (some written before replication was
turned on), replication rules, a stale replica object, replica-only objects, an MLflow database
with automated backups, and look-alike buckets the tooling must leave alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from catalog import conventions as cv
from infra import cli, config
from infra.ops import cli as ops_cli
from infra.ops.aws import Clients
from infra.plan import engine
from tests.helpers import fake_aws_credentials

ROOT = Path(__file__).resolve().parent.parent

PRIMARY, DR = "us-east-1", "us-west-2"
ZONES = ("raw", "curated", "features", "models")
DB_ID = "mlflow-prod"

Factory = Callable[[str, str], Any]
"""(service, region) -> boto3 client."""


ACCOUNT = "123456789012"  # moto's account


def bucket_names(zone: str) -> tuple[str, str]:
    """The AWS foundation's names: ``mlp-<env>-<zone>-<account>-<region>``."""
    return f"mlp-prod-{zone}-{ACCOUNT}-{PRIMARY}", f"mlp-prod-{zone}-{ACCOUNT}-{DR}"


def _tags(environment: str, zone: str, role: str) -> dict[str, Any]:
    tags = {cv.TAG_PROJECT: cv.PROJECT, cv.TAG_ENVIRONMENT: environment, cv.TAG_LAKE_ZONE: zone, cv.TAG_LAKE_ROLE: role}
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _bucket(client: Callable[[str, str], Any], name: str, region: str, tagging: dict[str, Any] | None) -> Any:
    s3 = client("s3", region)
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if tagging:
        s3.put_bucket_tagging(Bucket=name, Tagging=tagging)
    return s3


def build_account(client: Factory) -> dict[str, Any]:
    """Create the account; return what a drill needs to check afterwards."""
    expected: dict[str, dict[str, bytes]] = {}
    stale: dict[str, str] = {}
    for zone in ZONES:
        primary, replica = bucket_names(zone)
        ps3 = _bucket(client, primary, PRIMARY, _tags("prod", zone, "primary"))
        rs3 = _bucket(client, replica, DR, _tags("prod", zone, "replica"))
        objects = {}
        # written before replication was enabled: S3 never replicates these
        for i in range(3):
            key = f"{zone}/before/part-{i}.parquet"
            objects[key] = f"{zone}-old-{i}-".encode() * (50 + i)
            ps3.put_object(
                Bucket=primary, Key=key, Body=objects[key], ContentType="application/octet-stream", Metadata={"owner": "llm"}
            )
        ps3.put_bucket_replication(
            Bucket=primary,
            ReplicationConfiguration={
                "Role": "arn:aws:iam::123456789012:role/lake-replication",
                "Rules": [
                    {
                        "ID": "dr",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {
                            "Bucket": f"arn:aws:s3:::{replica}",
                            "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                            "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
                        },
                    }
                ],
            },
        )
        # written after: S3 replicated them (moto does not replicate, so the drill copies them)
        for i in range(2):
            key = f"{zone}/after/part-{i}.parquet"
            objects[key] = f"{zone}-new-{i}-".encode() * 40
            ps3.put_object(Bucket=primary, Key=key, Body=objects[key])
            rs3.put_object(Bucket=replica, Key=key, Body=objects[key])
        # a replica that went stale (same key, different bytes): replication FAILED for the update
        key = f"{zone}/after/stale.json"
        objects[key] = b'{"version": 2, "rows": 1000}'
        ps3.put_object(Bucket=primary, Key=key, Body=objects[key])
        rs3.put_object(Bucket=replica, Key=key, Body=b'{"version": 1}')
        stale[zone] = key
        # only in the replica: must never be deleted
        rs3.put_object(Bucket=replica, Key=f"{zone}/replica-only/keep.txt", Body=b"keep me")
        expected[zone] = objects
    # look-alikes the tooling must not touch
    for region in (PRIMARY, DR):
        _bucket(client, f"mlp-prod-access-logs-{ACCOUNT}-{region}", region, _tags("prod", "access-logs", "logs"))
    s3 = _bucket(client, "acme-mlp-staging-raw", PRIMARY, _tags("staging", "raw", "primary"))
    s3.put_object(Bucket="acme-mlp-staging-raw", Key="x", Body=b"staging")
    _bucket(client, "someone-elses-bucket", PRIMARY, None)

    kms = client("kms", PRIMARY)
    db_key = kms.create_key(Description="rds")["KeyMetadata"]["Arn"]
    dr_key = client("kms", DR).create_key(Description="rds dr")["KeyMetadata"]["Arn"]
    client("rds", PRIMARY).create_db_instance(
        DBInstanceIdentifier=DB_ID,
        DBInstanceClass="db.r6g.large",
        Engine="postgres",
        AllocatedStorage=200,
        MasterUsername="mlflow",
        MasterUserPassword="not-a-real-password-1",
        BackupRetentionPeriod=14,
        StorageEncrypted=True,
        KmsKeyId=db_key,
        Tags=[
            {"Key": cv.TAG_ROLE, "Value": cv.ROLE_MLFLOW_DB},
            {"Key": cv.TAG_PROJECT, "Value": cv.PROJECT},
            {"Key": cv.TAG_ENVIRONMENT, "Value": "prod"},
        ],
    )
    return {"expected": expected, "stale": stale, "dr_key": dr_key}


def read_bucket(client: Factory, bucket: str, region: str) -> dict[str, bytes]:
    s3 = client("s3", region)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def versions(client: Factory, bucket: str, region: str, key: str) -> int:
    listing = client("s3", region).list_object_versions(Bucket=bucket, Prefix=key)
    return len([v for v in listing.get("Versions", []) if v["Key"] == key])


def check_drill(client: Factory, account: dict[str, Any]) -> None:
    """Every primary object is in its replica with equal bytes, nothing was deleted anywhere."""
    for zone, objects in account["expected"].items():
        primary, replica = bucket_names(zone)
        assert read_bucket(client, primary, PRIMARY) == objects  # the primary is untouched
        copied = read_bucket(client, replica, DR)
        for key, body in objects.items():
            assert copied.get(key) == body, f"{replica}/{key}"
        assert copied[f"{zone}/replica-only/keep.txt"] == b"keep me"
        assert set(copied) == set(objects) | {f"{zone}/replica-only/keep.txt"}
        # the stale replica was overwritten by a new version; the old version is still there
        assert versions(client, replica, DR, account["stale"][zone]) == 2
        head = client("s3", DR).head_object(Bucket=replica, Key=f"{zone}/before/part-0.parquet")
        assert head["Metadata"]["owner"] == "llm" and head["ContentType"] == "application/octet-stream"
    assert read_bucket(client, "acme-mlp-staging-raw", PRIMARY) == {"x": b"staging"}


_PLANS: dict[str, engine.Plan] = {}
_REAL_PLAN = engine.plan


def plan_prepared(stack: str, stacks_dir: Path | None = None) -> engine.Plan:
    """Offline plan of a prepared stack file, cached by its config (prepared files differ only in the header)."""
    import yaml

    assert stacks_dir is not None
    doc = yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text())
    key = json.dumps([stack, doc], sort_keys=True)
    if key not in _PLANS:
        _PLANS[key] = _REAL_PLAN(stack, stacks_dir=stacks_dir)
    return _PLANS[key]


def check_adoption(doc: dict[str, Any], out: str, stacks_dir: Path) -> None:
    """The import file adopts exactly the old replicas (and replica access logs) as prod-dr's buckets."""
    plan = plan_prepared("prod-dr", stacks_dir)
    by_name = {r["name"]: r for r in doc["resources"]}
    buckets = [r for r in doc["resources"] if r["type"] == "aws:s3/bucket:Bucket"]
    expected = {bucket_names(z)[1] for z in ZONES} | {f"mlp-prod-access-logs-{ACCOUNT}-{DR}"}
    assert {b["id"] for b in buckets} == expected
    for b in buckets:
        planned = next(r for r in plan.resources if r.type == b["type"] and r.name == b["logicalName"])
        assert planned.inputs["bucket"] == b["id"]  # the stack would create exactly this name
        assert doc["nameTable"][b["provider"]] == planned.provider_urn
        provider = plan.get(planned.provider_urn)
        assert provider is not None and provider.inputs["region"] == DR
        parent = by_name[b["parent"]]
        parent_res = plan.get(planned.parent)
        assert parent["component"] and parent_res is not None and parent_res.name == parent["logicalName"]
        assert f"pulumi up --stack prod-dr --yes --target '{planned.provider_urn}'" in out
    assert "pulumi import --stack prod-dr --file" in out


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch, PRIMARY)


_LOADER = botocore.loaders.create_loader()


@pytest.fixture(autouse=True)
def _shared_aws_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """One botocore data loader for every session of this module.

    Each ``python -m infra ops`` run builds its own boto3 session, which re-parses the AWS service
    models and ``endpoints.json`` (most of a command's time in these tests). The parsed JSON is
    read-only, so sharing it changes nothing the commands do; credentials stay per session.
    """
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_a, **_k: _LOADER)


def _boto(endpoint: str | None = None) -> Factory:
    """A (service, region) -> client factory that reuses its clients (building one is slow)."""
    cache: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = boto3.client(service, region_name=region, endpoint_url=endpoint)
        return cache[(service, region)]

    return client


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def stacks_dir(tmp_path: Path) -> Path:
    d = tmp_path / "stacks"
    d.mkdir()
    shutil.copy(ROOT / "stacks" / "Pulumi.prod.yaml", d)
    return d


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def _moto_process() -> Iterator[str]:
    """One ``moto_server`` per module on 127.0.0.1 and a free port; stopped by its PID (only that process)."""
    port = _free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):  # wait until it accepts connections
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("moto_server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def moto_server(_moto_process: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's ``moto_server``, emptied, with every boto3 client of the test pointed at it."""
    urllib.request.urlopen(urllib.request.Request(f"{_moto_process}/moto-api/reset", method="POST"), timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_process)
    return _moto_process


def _cli_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m infra`` in its own process (exit code and stderr as an operator sees them)."""
    return subprocess.run([sys.executable, "-m", "infra", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)


# ---- the drill, against a moto_server process --------------------------------------------------


def test_dr_drill(moto_server, capsys, stacks_dir, tmp_path, monkeypatch) -> None:
    """The runbook end to end against a real HTTP endpoint (the ``moto_server`` process)."""
    monkeypatch.setattr(engine, "plan", plan_prepared)  # failover's adoption plan, shared with the checks
    client = _boto(moto_server)
    account = build_account(client)
    sd = ["--stack", "prod", "--stacks-dir", str(stacks_dir)]
    assert _cli(capsys, "ops", "bootstrap-backend", "--region", PRIMARY, "--dr-region", DR)[0] == 0

    # status: lake and state replication are healthy, but nothing of the DB is restorable in the DR region yet
    code, out, _ = _cli(capsys, "ops", "dr", "status", *sd, "--json", str(tmp_path / "status.json"))
    status = json.loads((tmp_path / "status.json").read_text())
    assert code == 1 and not status["healthy"] and status["rpo_minutes"] is None
    checks = {c["what"]: c for c in status["checks"]}
    assert {f"lake zone {z}" for z in ZONES} <= set(checks)  # found by tags; logs/staging/untagged ignored
    assert all(checks[f"lake zone {z}"]["ok"] and checks[f"lake zone {z}"]["rpo_minutes"] == 15 for z in ZONES)
    assert checks["pulumi state"]["ok"]
    assert not checks[f"mlflow database {DB_ID}"]["ok"] and "nothing restorable" in checks[f"mlflow database {DB_ID}"]["detail"]
    assert "RPO estimate: unbounded" in out

    # verify finds what S3 replication never copied
    code, out, _ = _cli(capsys, "ops", "dr", "verify", *sd, "--json", str(tmp_path / "verify.json"))
    report = json.loads((tmp_path / "verify.json").read_text())
    assert code == 1 and not report["in_sync"] and "not in sync: run `ops dr backfill`" in out
    assert sorted(p["label"] for p in report["pairs"]) == sorted(f"zone {z}" for z in ZONES)
    for pair in report["pairs"]:
        before = pair["before"]
        zone = pair["label"].split()[-1]
        old = {k: v for k, v in account["expected"][zone].items() if "/before/" in k}
        assert before["missing"] == 3 and before["missing_bytes"] == sum(len(v) for v in old.values())
        assert before["different"] == 1 and before["only_in_replica"] == 1 and before["equal"] == 2

    # backfill, interrupted after one object per bucket, then resumed
    code, out, _ = _cli(capsys, "ops", "dr", "backfill", *sd, "--limit", "1", "--json", str(tmp_path / "b1.json"))
    first = json.loads((tmp_path / "b1.json").read_text())
    assert code == 1 and all(
        p["backfill"]["copied"] == 1 and p["after"]["missing"] + p["after"]["different"] == 3 for p in first["pairs"]
    )
    code, out, _ = _cli(capsys, "ops", "dr", "backfill", *sd, "--json", str(tmp_path / "b2.json"))
    second = json.loads((tmp_path / "b2.json").read_text())
    assert code == 0 and second["in_sync"] and out.strip().endswith("in sync")
    assert all(p["backfill"]["copied"] == 3 and p["after"]["equal"] == 6 for p in second["pairs"])
    copied_bytes = sum(p["backfill"]["copied_bytes"] for p in first["pairs"] + second["pairs"])
    assert copied_bytes == sum(
        len(b) for z in ZONES for k, b in account["expected"][z].items() if "/before/" in k or "stale" in k
    )
    # a third run has nothing to do
    code, out, _ = _cli(capsys, "ops", "dr", "backfill", *sd, "--zone", "raw")
    assert code == 0 and "copied" not in out and "in sync" in out
    assert _cli(capsys, "ops", "dr", "verify", *sd)[0] == 0
    check_drill(client, account)

    # prepare the stack for the DR region
    code, out, err = _cli(
        capsys, "ops", "dr", "prepare", "--from", "prod", "--region", DR, "--stack", "prod-dr", "--stacks-dir", str(stacks_dir)
    )
    assert code == 0, err
    assert (stacks_dir / "Pulumi.prod-dr.yaml").is_file()

    # failover: restore the MLflow DB in the DR region; the new stack adopts the replica buckets
    imports = tmp_path / "import.json"
    code, out, err = _cli(
        capsys,
        "ops",
        "dr",
        "failover",
        *sd,
        "--kms-key-id",
        account["dr_key"],
        "--json",
        str(tmp_path / "f.json"),
        "--import-file",
        str(imports),
    )
    assert code == 0, err
    check_adoption(json.loads(imports.read_text()), out, stacks_dir)
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["method"] == f"snapshot copied from {PRIMARY}, then restored"
    restored = client("rds", DR).describe_db_instances(DBInstanceIdentifier=f"{DB_ID}-{DR}")["DBInstances"][0]
    assert restored["DBInstanceClass"] == "db.r6g.large" and restored["StorageEncrypted"]
    assert restored["KmsKeyId"] == account["dr_key"]
    assert f"pulumi stack select --create prod-dr --secrets-provider 'awskms://alias/mlp-pulumi-state?region={DR}'" in out
    assert "pulumi up --stack prod-dr --policy-pack policies/tagging" in out
    # the login is the state bucket's replica that bootstrap-backend made in the DR region
    (state_replica,) = [
        b
        for b in client("s3", DR).list_buckets()["Buckets"]
        if b["Name"].startswith("mlp-pulumi-state-") and b["Name"].endswith(DR)
    ]
    assert f"pulumi login 's3://{state_replica['Name']}?region={DR}'" in out and "<state-bucket>" not in out
    assert client("rds", PRIMARY).describe_db_instances(DBInstanceIdentifier=DB_ID)["DBInstances"]  # source untouched

    # failover again: idempotent (a new-stack name without a stack file: prints `dr prepare` first)
    code, out, _ = _cli(capsys, "ops", "dr", "failover", *sd, "--kms-key-id", account["dr_key"], "--new-stack", "prod-dr2")
    assert code == 0 and "already restored" in out
    assert f"ops dr prepare --from prod --region {DR} --stack prod-dr2" in out and "ops dr adopt --stack prod-dr2" in out
    # status is now healthy with a finite RPO
    code, out, _ = _cli(capsys, "ops", "dr", "status", *sd, "--json", str(tmp_path / "status2.json"))
    status = json.loads((tmp_path / "status2.json").read_text())
    assert code == 0 and status["healthy"] and status["rpo_minutes"] is not None and status["rpo_minutes"] >= 15
    check_drill(client, account)  # still: nothing was deleted by prepare, failover or status

    # an operator's own process, pointed at the server by --endpoint-url: a missing bucket is one line, exit 1
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    missing = _cli_process(
        "ops",
        "dr",
        "verify",
        *sd,
        "--endpoint-url",
        moto_server,
        "--source-bucket",
        "no-such-bucket-xyz",
        "--dest-bucket",
        bucket_names("raw")[1],
    )
    assert missing.returncode == 1
    assert "no-such-bucket-xyz does not exist" in missing.stderr and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


# ---- prepare: the new stack is valid and plans with everything in the new region --------------


def _aws_regions(plan: engine.Plan) -> set[str | None]:
    providers = {r.urn: r for r in plan.resources if r.type == "pulumi:providers:aws"}
    assert providers, "the plan has no AWS provider"
    for res in plan.resources:
        if res.custom and res.type.startswith("aws:"):
            assert res.provider_urn in providers, f"{res.urn} does not use an explicit AWS provider"
    return {p.inputs.get("region") for p in providers.values()}


def test_prepare_moves_prod_to_the_dr_region_and_plans_there(stacks_dir, capsys, plan_of) -> None:
    code, _out, err = _cli(
        capsys, "ops", "dr", "prepare", "--from", "prod", "--region", DR, "--stack", "prod-dr", "--stacks-dir", str(stacks_dir)
    )
    assert code == 0, err
    plan = plan_prepared("prod-dr", stacks_dir)
    assert plan.config.region == DR and not plan.config.dr.enabled
    assert _aws_regions(plan) == {DR}
    assert not [
        r.urn for r in plan.resources if PRIMARY in json.dumps(r.inputs, default=str)
    ]  # no AZ, ARN or URL of the old region
    assert not plan.mandatory_violations
    prod = plan_of("prod")  # the same file as stacks_dir's copy

    # the same platform, moved: the in-cluster platform is identical, nothing new appears on AWS
    def counts(p: engine.Plan, prefix: str) -> Counter[str]:
        return Counter(r.type for r in p.resources if r.custom and r.type.startswith(prefix))

    assert counts(plan, "kubernetes:") == counts(prod, "kubernetes:")
    assert counts(plan, "aws:") <= counts(prod, "aws:")


def test_prepare_with_a_new_dr_region(stacks_dir, capsys) -> None:
    code, _, err = _cli(
        capsys,
        "ops",
        "dr",
        "prepare",
        "--from",
        "prod",
        "--region",
        DR,
        "--dr-region",
        "eu-west-1",
        "--stack",
        "prod-dr",
        "--stacks-dir",
        str(stacks_dir),
    )
    assert code == 0, err
    plan = engine.plan("prod-dr", stacks_dir=stacks_dir)
    assert plan.config.dr_region == "eu-west-1" and not plan.mandatory_violations
    regions = _aws_regions(plan)
    assert DR in regions and regions <= {DR, "eu-west-1"} and PRIMARY not in regions
    assert not [r.urn for r in plan.resources if PRIMARY in json.dumps(r.inputs, default=str)]
    # the rest of the config is prod's
    prod = config.load_stack("prod", stacks_dir)
    assert plan.config.model_dump(exclude={"region", "dr"}) == prod.model_dump(exclude={"region", "dr"})


def test_prepare_rejects_an_invalid_result_and_writes_nothing(stacks_dir, capsys) -> None:
    code, _, err = _cli(
        capsys,
        "ops",
        "dr",
        "prepare",
        "--from",
        "prod",
        "--region",
        DR,
        "--dr-region",
        DR,
        "--stack",
        "prod-dr",
        "--stacks-dir",
        str(stacks_dir),
    )
    assert code == 2 and "ml-platform:dr.region" in err and "Traceback" not in err
    assert not (stacks_dir / "Pulumi.prod-dr.yaml").exists()
    code, _, _ = _cli(
        capsys, "ops", "dr", "prepare", "--from", "prod", "--region", DR, "--stack", "prod-dr", "--stacks-dir", str(stacks_dir)
    )
    assert code == 0
    code, _, err = _cli(
        capsys, "ops", "dr", "prepare", "--from", "prod", "--region", DR, "--stack", "prod-dr", "--stacks-dir", str(stacks_dir)
    )
    assert code == 1 and "--force" in err  # never overwrites silently


def test_prepare_keeps_secrets_and_moves_the_kms_secrets_provider(stacks_dir, capsys) -> None:
    import yaml

    path = stacks_dir / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["secretsprovider"] = f"awskms://alias/mlp-pulumi-state?region={PRIMARY}"
    doc["encryptedkey"] = "AQICAHh0ZXN0"
    doc["config"]["ml-platform:tags"]["note"] = "kept"
    path.write_text(yaml.safe_dump(doc))
    assert (
        _cli(
            capsys,
            "ops",
            "dr",
            "prepare",
            "--from",
            "prod",
            "--region",
            DR,
            "--stack",
            "prod-dr",
            "--stacks-dir",
            str(stacks_dir),
        )[0]
        == 0
    )
    new = yaml.safe_load((stacks_dir / "Pulumi.prod-dr.yaml").read_text())
    assert new["secretsprovider"] == f"awskms://alias/mlp-pulumi-state?region={DR}"
    assert new["encryptedkey"] == "AQICAHh0ZXN0"
    assert new["config"]["ml-platform:tags"]["note"] == "kept"
    assert new["config"]["ml-platform:region"] == DR and new["config"]["ml-platform:dr"] == {"enabled": False}


# ---- status: the DB's newest restorable point in the DR region (Stubber: moto lacks backup replication)


@pytest.mark.parametrize("age_minutes", [7, 180])
@mock_aws
def test_status_reports_replicated_backups_and_their_age_as_the_rpo(age_minutes, stacks_dir, tmp_path, capsys) -> None:
    import datetime as dt

    primary, dr_rds = boto3.client("rds", region_name=PRIMARY), boto3.client("rds", region_name=DR)
    clients = Clients()
    clients._cache.update({("rds", PRIMARY): primary, ("rds", DR): dr_rds})
    source_arn = f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:{DB_ID}"
    latest = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=age_minutes)
    tags = [
        {"Key": cv.TAG_ROLE, "Value": cv.ROLE_MLFLOW_DB},
        {"Key": cv.TAG_PROJECT, "Value": cv.PROJECT},
        {"Key": cv.TAG_ENVIRONMENT, "Value": "prod"},
    ]
    db = {
        "DBInstanceIdentifier": DB_ID,
        "DBInstanceArn": source_arn,
        "BackupRetentionPeriod": 14,
        "TagList": tags,
        "DBInstanceAutomatedBackupsReplications": [
            {"DBInstanceAutomatedBackupsArn": f"arn:aws:rds:{DR}:{ACCOUNT}:auto-backup:ab-1"}
        ],
    }
    backup = {
        "DBInstanceArn": source_arn,
        "DBInstanceAutomatedBackupsArn": f"arn:aws:rds:{DR}:{ACCOUNT}:auto-backup:ab-1",
        "RestoreWindow": {"EarliestTime": latest - dt.timedelta(days=14), "LatestTime": latest},
    }
    # an older snapshot in the DR region must not win over the newer restorable time
    old_snapshot = {
        "DBSnapshotIdentifier": "old",
        "DBInstanceIdentifier": DB_ID,
        "Status": "available",
        "SnapshotCreateTime": latest - dt.timedelta(days=1),
    }
    with Stubber(primary) as p, Stubber(dr_rds) as d:
        p.add_response("describe_db_instances", {"DBInstances": [db]})
        d.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": [backup]})
        d.add_response("describe_db_snapshots", {"DBSnapshots": [old_snapshot]})
        args = cli.build_parser().parse_args(
            ["ops", "dr", "status", "--stack", "prod", "--stacks-dir", str(stacks_dir), "--json", str(tmp_path / "s.json")]
        )
        assert ops_cli.run(args, clients) == 1  # the (empty) account has no lake or state buckets
        d.assert_no_pending_responses()
    check = next(c for c in json.loads((tmp_path / "s.json").read_text())["checks"] if c["what"] == f"mlflow database {DB_ID}")
    assert check["ok"] and "backup replication on" in check["detail"] and latest.isoformat() in check["detail"]
    assert age_minutes <= check["rpo_minutes"] < age_minutes + 1  # the real age of the newest restorable point
    assert f"[RPO ~{check['rpo_minutes']:g} min]" in capsys.readouterr().out


# ---- failover from replicated automated backups (botocore Stubber: moto lacks the replication) --


def _expect_point_in_time_restore(stub: Stubber, backup_arn: str, *, tags: list[dict[str, str]] | None = None) -> None:
    """Expect failover's restore of the prod DB in the DR region from ``backup_arn``, as a prod
    instance (class, Multi-AZ, deletion protection), tagged with ``tags`` when given."""
    params: dict[str, Any] = {
        "SourceDBInstanceAutomatedBackupsArn": backup_arn,
        "TargetDBInstanceIdentifier": f"{DB_ID}-{DR}",
        "UseLatestRestorableTime": True,
        "DBInstanceClass": "db.r6g.large",
        "MultiAZ": True,
        "CopyTagsToSnapshot": True,
        "DeletionProtection": True,
    }
    if tags is not None:
        params["Tags"] = tags
    stub.add_response(
        "restore_db_instance_to_point_in_time",
        {"DBInstance": {"DBInstanceIdentifier": f"{DB_ID}-{DR}", "DBInstanceStatus": "creating"}},
        params,
    )


def test_failover_prefers_point_in_time_restore_from_replicated_backups(stacks_dir, capsys) -> None:
    import datetime as dt

    primary, dr_rds = boto3.client("rds", region_name=PRIMARY), boto3.client("rds", region_name=DR)
    clients = Clients()
    clients._cache.update({("rds", PRIMARY): primary, ("rds", DR): dr_rds})
    source_arn = f"arn:aws:rds:{PRIMARY}:123456789012:db:{DB_ID}"
    backup_arn = f"arn:aws:rds:{DR}:123456789012:auto-backup:ab-xyz"
    latest = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    tags = [
        {"Key": cv.TAG_ROLE, "Value": cv.ROLE_MLFLOW_DB},
        {"Key": cv.TAG_PROJECT, "Value": cv.PROJECT},
        {"Key": cv.TAG_ENVIRONMENT, "Value": "prod"},
    ]
    source_tags = [*tags, {"Key": "aws:cloudformation:stack-name", "Value": "x"}]
    with Stubber(primary) as p, Stubber(dr_rds) as d:
        p.add_response(
            "describe_db_instances",
            {"DBInstances": [{"DBInstanceIdentifier": DB_ID, "DBInstanceArn": source_arn, "TagList": source_tags}]},
        )
        d.add_client_error("describe_db_instances", service_error_code="DBInstanceNotFound", http_status_code=404)
        d.add_response(
            "describe_db_instance_automated_backups",
            {
                "DBInstanceAutomatedBackups": [
                    {
                        "DBInstanceArn": source_arn,
                        "DBInstanceAutomatedBackupsArn": backup_arn,
                        "RestoreWindow": {"EarliestTime": latest - dt.timedelta(days=14), "LatestTime": latest},
                    }
                ]
            },
        )
        _expect_point_in_time_restore(d, backup_arn, tags=tags)
        backend = ["--backend-url", f"s3://state-replica?region={DR}"]  # no S3 here: the login is given
        args = cli.build_parser().parse_args(
            ["ops", "dr", "failover", "--stack", "prod", "--stacks-dir", str(stacks_dir), *backend]
        )
        assert ops_cli.run(args, clients) == 0
        d.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert "point-in-time restore from replicated automated backups" in out and latest.isoformat() in out
    assert f"pulumi login 's3://state-replica?region={DR}'" in out


def test_failover_with_the_primary_region_down_restores_from_what_the_dr_region_holds(stacks_dir, capsys) -> None:
    import datetime as dt

    primary, dr_rds, sts = (boto3.client(s, region_name=r) for s, r in (("rds", PRIMARY), ("rds", DR), ("sts", DR)))
    clients = Clients()
    clients._cache.update({("rds", PRIMARY): primary, ("rds", DR): dr_rds, ("sts", DR): sts})
    source_arn = f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:{DB_ID}"
    backup_arn = f"arn:aws:rds:{DR}:{ACCOUNT}:auto-backup:ab-xyz"
    latest = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    with Stubber(primary) as p, Stubber(dr_rds) as d, Stubber(sts) as st:
        p.add_client_error("describe_db_instances", service_error_code="InternalFailure", http_status_code=503)
        st.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dr", "UserId": "dr"})
        d.add_client_error("describe_db_instances", service_error_code="DBInstanceNotFound", http_status_code=404)
        d.add_response(
            "describe_db_instance_automated_backups",
            {
                "DBInstanceAutomatedBackups": [
                    {"DBInstanceArn": f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:another-db", "DBInstanceAutomatedBackupsArn": "other"},
                    {
                        "DBInstanceArn": source_arn,
                        "DBInstanceAutomatedBackupsArn": backup_arn,
                        "RestoreWindow": {"LatestTime": latest},
                    },
                ]
            },
        )
        _expect_point_in_time_restore(d, backup_arn)  # the backups of this DB, found by its ARN
        argv = ["ops", "dr", "failover", "--stack", "prod", "--stacks-dir", str(stacks_dir), "--db-identifier", DB_ID]
        args = cli.build_parser().parse_args([*argv, "--backend-url", f"s3://state-replica?region={DR}"])
        assert ops_cli.run(args, clients) == 0
        d.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert f"primary region {PRIMARY} did not answer" in out
    assert "point-in-time restore from replicated automated backups" in out and latest.isoformat() in out


# ---- AWS errors: one line, exit 1, no traceback -----------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("SlowDown", "throttled ListObjectsV2"),
        ("AccessDenied", "access denied for ListObjectsV2"),
        ("NoSuchBucket", "does not exist"),
    ],
)
def test_verify_aws_errors_are_clear(code, expected, capsys) -> None:
    s3 = boto3.client("s3", region_name=PRIMARY)
    clients = Clients()
    clients._cache.update({("s3", None): s3, ("s3", PRIMARY): s3})
    with Stubber(s3) as stub:
        for _ in range(2):
            stub.add_response("get_bucket_location", {})
        stub.add_client_error("list_objects_v2", service_error_code=code, service_message="nope", http_status_code=403)
        args = cli.build_parser().parse_args(
            ["ops", "dr", "verify", "--stack", "prod", "--source-bucket", "a", "--dest-bucket", "b"]
        )
        assert ops_cli.run(args, clients) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@mock_aws
def test_status_of_an_account_without_the_platform_is_unhealthy_not_a_crash(capsys) -> None:
    code, out, err = _cli(capsys, "ops", "dr", "status", "--stack", "prod")
    assert code == 1 and "Traceback" not in err
    assert "no primary lake buckets" in out and "no RDS instance tagged" in out and "no state bucket" in out


def test_dr_tooling_refuses_non_aws_stacks(capsys) -> None:
    code, _, err = _cli(capsys, "ops", "dr", "status", "--stack", "gcp-dev")
    assert code == 1 and "not an AWS stack" in err
    code, _, err = _cli(capsys, "ops", "dr", "status", "--stack", "nope")
    assert code == 2 and "no such stack file" in err


@mock_aws
def test_status_flags_broken_replication(capsys, stacks_dir, tmp_path) -> None:
    client = _boto()
    build_account(client)
    _raw_primary, raw_replica = bucket_names("raw")
    # curated: the rule is disabled; raw: the destination bucket is gone
    s3 = client("s3", PRIMARY)
    conf = s3.get_bucket_replication(Bucket=bucket_names("curated")[0])["ReplicationConfiguration"]
    conf["Rules"][0]["Status"] = "Disabled"
    s3.put_bucket_replication(Bucket=bucket_names("curated")[0], ReplicationConfiguration=conf)
    # features: replicates into a bucket outside the DR region, and its source versioning was suspended
    elsewhere = f"mlp-prod-features-{ACCOUNT}-eu-west-1"
    _bucket(client, elsewhere, "eu-west-1", None)
    conf = s3.get_bucket_replication(Bucket=bucket_names("features")[0])["ReplicationConfiguration"]
    conf["Rules"][0]["Destination"]["Bucket"] = f"arn:aws:s3:::{elsewhere}"
    s3.put_bucket_replication(Bucket=bucket_names("features")[0], ReplicationConfiguration=conf)
    s3.put_bucket_versioning(Bucket=bucket_names("features")[0], VersioningConfiguration={"Status": "Suspended"})
    dr_s3 = client("s3", DR)
    for version in dr_s3.list_object_versions(Bucket=raw_replica).get("Versions", []):
        dr_s3.delete_object(Bucket=raw_replica, Key=version["Key"], VersionId=version["VersionId"])
    dr_s3.delete_bucket(Bucket=raw_replica)
    code, _out, _ = _cli(
        capsys, "ops", "dr", "status", "--stack", "prod", "--stacks-dir", str(stacks_dir), "--json", str(tmp_path / "s.json")
    )
    checks = {c["what"]: c for c in json.loads((tmp_path / "s.json").read_text())["checks"]}
    assert code == 1
    assert not checks["lake zone raw"]["ok"] and f"{raw_replica} does not exist" in checks["lake zone raw"]["detail"]
    assert not checks["lake zone curated"]["ok"] and "is Disabled" in checks["lake zone curated"]["detail"]
    features = checks["lake zone features"]
    assert not features["ok"] and features["rpo_minutes"] is None
    assert f"{elsewhere} is in eu-west-1, not the DR region {DR}" in features["detail"]
    assert "source versioning is not enabled" in features["detail"]
    assert checks["lake zone models"]["ok"]  # the healthy zone stays healthy
    assert "no state bucket" in checks["pulumi state"]["detail"]
    # verify names the zone whose replica is missing instead of crashing
    code, _, err = _cli(capsys, "ops", "dr", "verify", "--stack", "prod", "--stacks-dir", str(stacks_dir), "--zone", "raw")
    assert code == 1 and f"{raw_replica} does not exist" in err and "Traceback" not in err


def test_discovery_skips_buckets_it_may_not_read_but_not_all(capsys) -> None:
    s3 = boto3.client("s3", region_name=PRIMARY)
    clients = Clients()
    clients._cache.update({("s3", None): s3, ("s3", PRIMARY): s3})
    with Stubber(s3) as stub:
        stub.add_response("list_buckets", {"Buckets": [{"Name": "locked", "BucketRegion": PRIMARY}]})
        stub.add_client_error("get_bucket_tagging", service_error_code="AccessDenied", http_status_code=403)
        args = cli.build_parser().parse_args(["ops", "dr", "verify", "--stack", "prod"])
        assert ops_cli.run(args, clients) == 1
    err = capsys.readouterr().err
    assert "could not read the tags of 1 bucket(s)" in err and "s3:GetBucketTagging" in err


def test_ops_help_names_every_dr_subcommand(capsys) -> None:
    """``python -m infra ops --help`` lists each ``dr`` sub-command the parser really has."""

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return dict(action.choices)

    ops_parser = subcommands(cli.build_parser())["ops"]
    real = set(subcommands(subcommands(ops_parser)["dr"]))
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["ops", "--help"])
    listed = capsys.readouterr().out.split("disaster recovery:", 1)[1].split("\n\n", 1)[0]
    assert {name for name in real if name not in listed} == set()
