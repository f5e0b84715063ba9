"""``python -m infra ops bootstrap-backend`` against moto: settings, idempotency, error messages."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra import cli
from infra.ops import bootstrap
from infra.ops.aws import Clients
from tests.helpers import fake_aws_credentials

REGION, DR = "us-east-1", "us-west-2"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch, REGION)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _state(region: str) -> dict[str, object]:
    s3 = boto3.client("s3", region_name=region)
    kms = boto3.client("kms", region_name=region)
    return {
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
        "keys": sorted(k["KeyId"] for k in kms.list_keys()["Keys"]),
        "aliases": sorted(a["AliasName"] for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/mlp")),
    }


@mock_aws
def test_bootstrap_creates_hardened_replicated_backend_and_is_idempotent(capsys, tmp_path) -> None:
    code, first_out, err = _run(
        capsys, "ops", "bootstrap-backend", "--region", REGION, "--dr-region", DR, "--json", str(tmp_path / "b.json")
    )
    assert code == 0, err
    before = (_state(REGION), _state(DR))
    # drift between the runs (someone suspended versioning, removed the public access block): the re-run repairs it
    drifted = json.loads((tmp_path / "b.json").read_text())["bucket"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=drifted, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket=drifted)
    code, second_out, err = _run(capsys, "ops", "bootstrap-backend", "--region", REGION, "--dr-region", DR)
    assert code == 0, err
    assert (_state(REGION), _state(DR)) == before  # nothing new the second time
    assert "created bucket" in first_out and "created bucket" not in second_out

    info = json.loads((tmp_path / "b.json").read_text())
    bucket, replica = info["bucket"], info["replica_bucket"]
    assert before[0]["buckets"] == sorted([bucket, replica])  # one account-wide bucket list
    kms = boto3.client("kms", region_name=REGION)
    key = kms.describe_key(KeyId=bootstrap.DEFAULT_ALIAS)["KeyMetadata"]
    assert key["MultiRegion"] and key["KeyManager"] == "CUSTOMER"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]

    # the printed login and secrets provider point at exactly this bucket and key
    assert f"pulumi login 's3://{bucket}?region={REGION}'" in second_out
    assert f"--secrets-provider 'awskms://{bootstrap.DEFAULT_ALIAS}?region={REGION}'" in second_out

    for name, region, key_arn in ((bucket, REGION, key["Arn"]), (replica, DR, None)):
        client = boto3.client("s3", region_name=region)
        loc = client.get_bucket_location(Bucket=name)["LocationConstraint"] or "us-east-1"
        assert loc == region
        assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        rule = client.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        sse = rule["ApplyServerSideEncryptionByDefault"]
        assert sse["SSEAlgorithm"] == "aws:kms"
        used = boto3.client("kms", region_name=region).describe_key(KeyId=sse["KMSMasterKeyID"])["KeyMetadata"]
        assert used["KeyId"] == key["KeyId"]  # our multi-Region key (its replica in the DR region)
        assert used["Arn"].split(":")[3] == region
        if key_arn:
            assert sse["KMSMasterKeyID"] == key_arn
        block = client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
        policy = json.loads(client.get_bucket_policy(Bucket=name)["Policy"])
        deny = [st for st in policy["Statement"] if st["Effect"] == "Deny"]
        assert any(st["Condition"]["Bool"]["aws:SecureTransport"] == "false" and st["Action"] == "s3:*" for st in deny)

    rep = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    (rule,) = rep["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{replica}"
    assert rule["DeleteMarkerReplication"]["Status"] == "Disabled"
    role = boto3.client("iam").get_role(RoleName=rep["Role"].rsplit("/", 1)[-1])["Role"]
    assert "s3.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])


@mock_aws
def test_bootstrap_without_dr_region_has_no_replica(capsys) -> None:
    code, out, err = _run(capsys, "ops", "bootstrap-backend", "--region", "eu-west-1", "--name", "acme-state")
    assert code == 0, err
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["acme-state"]
    assert "pulumi login 's3://acme-state?region=eu-west-1'" in out
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_replication(Bucket="acme-state")


@mock_aws
def test_bootstrap_rejects_same_dr_region(capsys) -> None:
    code, _, err = _run(capsys, "ops", "bootstrap-backend", "--region", REGION, "--dr-region", REGION)
    assert code == 1
    assert "primary region" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("code", "http", "expected"),
    [
        ("ThrottlingException", 400, "throttled"),
        ("AccessDeniedException", 400, "access denied"),
    ],
)
def test_bootstrap_aws_errors_are_one_line_and_exit_1(capsys, code, http, expected) -> None:
    sts = boto3.client("sts", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    clients = Clients()
    clients._cache[("sts", REGION)] = sts
    clients._cache[("kms", REGION)] = kms
    with Stubber(sts) as sts_stub, Stubber(kms) as kms_stub:
        sts_stub.add_response(
            "get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/x", "UserId": "x"}
        )
        kms_stub.add_client_error("describe_key", service_error_code=code, service_message="no", http_status_code=http)
        args = cli.build_parser().parse_args(["ops", "bootstrap-backend", "--region", REGION])
        from infra.ops import cli as ops_cli

        assert ops_cli.run(args, clients) == 1
    err = capsys.readouterr().err
    assert expected in err and "DescribeKey" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bootstrap_without_credentials_is_a_clear_error(capsys, monkeypatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = _run(capsys, "ops", "bootstrap-backend", "--region", REGION)
    assert code == 1
    assert "no AWS credentials" in err and "Traceback" not in err
