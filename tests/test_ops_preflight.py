"""``python -m infra ops preflight`` on AWS: moto for STS, IAM and S3.

moto does not implement Service Quotas for EC2 (only a few VPC codes) nor
``iam:SimulatePrincipalPolicy``: the quota client is a botocore ``Stubber`` and the simulation is
answered by a botocore ``before-call`` hook on the otherwise moto-backed IAM client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra import cli, config
from infra.ops import preflight, preflight_aws
from infra.ops.aws import Clients
from tests.helpers import fake_aws_credentials, plan_stack

REGION = "us-east-1"
AWS_STACKS = ["dev", "staging", "prod"]


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch, REGION)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def quota_stub(clients: Clients, values: dict[str, float | None]) -> Stubber:
    """Answer get_service_quota per code in the order the preflight asks (sorted by family, purchase);
    ``None``: the account never changed it (NoSuchResourceException, then the AWS default)."""
    sq = clients.client("service-quotas", REGION)
    stub = Stubber(sq)
    for code, value in values.items():
        req = {"ServiceCode": "ec2", "QuotaCode": code}
        if value is None:
            stub.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=req)
            stub.add_response("get_aws_default_service_quota", {"Quota": {"QuotaCode": code, "Value": 0.0}}, req)
        else:
            stub.add_response("get_service_quota", {"Quota": {"QuotaCode": code, "Value": value}}, req)
    stub.activate()
    return stub


def answer_simulation(clients: Clients, decisions: dict[str, str] | None) -> list[dict[str, Any]]:
    """Hook SimulatePrincipalPolicy on the moto IAM client; ``None`` leaves it to moto (unimplemented)."""
    calls: list[dict[str, Any]] = []
    if decisions is None:
        return calls

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    def respond(**_: Any) -> tuple[Any, dict[str, Any]]:
        actions = calls[-1]["ActionNames"]
        results = [{"EvalActionName": a, "EvalResourceName": "*", "EvalDecision": decisions.get(a, "allowed")} for a in actions]
        from botocore.awsrequest import AWSResponse

        http = AWSResponse("https://iam.amazonaws.com/", 200, {}, None)
        return http, {"EvaluationResults": results, "IsTruncated": False, "ResponseMetadata": {"HTTPStatusCode": 200}}

    events = clients.iam().meta.events
    events.register("before-parameter-build.iam.SimulatePrincipalPolicy", capture)
    events.register("before-call.iam.SimulatePrincipalPolicy", respond)
    return calls


def deployer(role: str = "deployer") -> Clients:
    """Clients acting as an assumed deploy role (moto STS)."""
    iam = boto3.client("iam", region_name=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=role, Path="/ci/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=arn, RoleSessionName="gha")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    return Clients(session=session)


def state_bucket(name: str = "mlp-state", versioned: bool = True) -> str:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return f"s3://{name}?region={REGION}"


def run_cli(capsys: pytest.CaptureFixture[str], clients: Clients, *argv: str) -> tuple[int, list[str]]:
    from infra.ops import cli as ops_cli

    args = cli.build_parser().parse_args(["ops", "preflight", *argv])
    code = ops_cli.run(args, clients)
    out = capsys.readouterr()
    return code, out.out.splitlines() + out.err.splitlines()


# ---- the GPU vCPU ceiling is what the NodePools allow --------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_gpu_vcpu_demand_equals_the_nodepool_cpu_limits(stack: str) -> None:
    """The preflight counts exactly the vCPUs Karpenter may launch: the sum of the NodePools' CPU
    limits per quota (a spot-with-fallback pool counts against the spot and the on-demand quota)."""
    plan = plan_stack(stack)
    cfg = plan.config
    want: dict[tuple[str, str], int] = {}
    for nodepool in plan.by_type("kubernetes:karpenter.sh/v1:NodePool"):
        spec = nodepool.inputs["spec"]
        reqs = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        [cls] = {preflight_aws.family_class(t) for t in reqs["node.kubernetes.io/instance-type"]}
        if cls is None:
            continue  # no EC2 GPU quota class (Trainium / Inferentia): the preflight counts it nowhere
        for purchase in reqs["karpenter.sh/capacity-type"]:
            want[(cls, purchase)] = want.get((cls, purchase), 0) + int(spec["limits"]["cpu"])
    for group in plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        if group.inputs.get("nodeGroupName") == "system":
            continue
        types = group.inputs["instanceTypes"]
        [pool] = [p for p in cfg.gpu_pools if p.mode == "managed" and {n.name for n in cfg.pool_node_types(p)} == set(types)]
        [cls] = {preflight_aws.family_class(t) for t in types}
        if cls is None:
            continue
        vcpu = max(n.vcpu for n in cfg.pool_node_types(pool))
        purchase = "spot" if group.inputs["capacityType"] == "SPOT" else "on-demand"
        want[(cls, purchase)] = want.get((cls, purchase), 0) + group.inputs["scalingConfig"]["maxSize"] * vcpu
    assert preflight_aws.gpu_vcpu_demand(cfg) == want
    assert want


def test_family_classes_follow_the_ec2_quota_buckets() -> None:
    assert [
        preflight_aws.family_class(t)
        for t in ("g6.xlarge", "g5g.2xlarge", "vt1.3xlarge", "p4d.24xlarge", "p5.48xlarge", "m6i.large")
    ] == [
        "G/VT",
        "G/VT",
        "G/VT",
        "P",
        "P",
        None,
    ]
    assert {code for code, _ in preflight_aws.QUOTAS.values()} == {
        "L-DB2E81BA",
        "L-417A185B",
        "L-3819A6DF",
        "L-7212CCBC",
        "L-1216C47A",
    }


# ---- the command ---------------------------------------------------------------------------------


def test_a_ready_account_passes_every_check(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    clients = deployer()
    url = state_bucket()
    # dev: G/VT spot (272 vCPUs) and the system nodes (4 x m6i.large = 8 vCPUs), in sorted order
    stub = quota_stub(clients, {"L-3819A6DF": 512.0, "L-1216C47A": 32.0})
    calls = answer_simulation(clients, {})
    code, lines = run_cli(capsys, clients, "--stack", "dev", "--backend-url", url)
    assert code == 0, "\n".join(lines)
    stub.assert_no_pending_responses()
    text = "\n".join(lines)
    assert "MISSING" not in text and "ready for the first deploy" in text
    assert "ok      quota.L-3819A6DF: All G and VT Spot Instance Requests in us-east-1: 512 vCPUs >= 272" in text
    assert (
        "ok      quota.L-1216C47A: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances in us-east-1: 32 vCPUs >= 8 the system nodes"
        in text
    )
    assert "AWSServiceRoleForAutoScaling: missing; the stack creates it (create)" in text
    # the assumed role is simulated under its IAM ARN, path included
    assert calls and calls[0]["PolicySourceArn"] == "arn:aws:iam::123456789012:role/ci/deployer"
    assert set(preflight_aws.DEPLOY_ACTIONS) == set(calls[0]["ActionNames"])
    assert (
        f"ok      permissions: arn:aws:iam::123456789012:role/ci/deployer may make the {len(preflight_aws.DEPLOY_ACTIONS)} kinds"
        in text
    )


def test_everything_missing_is_reported_one_line_each_and_exits_1(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clients = deployer()
    boto3.client("iam", region_name=REGION).create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    # staging: G-VT on-demand, P on-demand, P spot, Standard (system nodes), asked in sorted order
    quota_stub(clients, {"L-DB2E81BA": 768.0, "L-417A185B": 96.0, "L-7212CCBC": None, "L-1216C47A": 5.0})
    answer_simulation(clients, {"eks:CreateCluster": "explicitDeny", "kms:CreateKey": "implicitDeny"})
    out = tmp_path / "preflight.json"
    code, lines = run_cli(
        capsys, clients, "--stack", "staging", "--backend-url", "s3://no-such-state?region=us-east-1", "--json", str(out)
    )
    assert code == 1
    missing = [line for line in lines if line.strip().startswith("MISSING")]
    text = "\n".join(missing)
    assert len(missing) == 6, "\n".join(lines)
    assert "quota.L-417A185B: Running On-Demand P instances in us-east-1: 96 vCPUs < 192" in text
    assert "--quota-code L-417A185B --desired-value 192" in text
    assert "quota.L-7212CCBC: All P Spot Instance Requests in us-east-1: 0 vCPUs < 192" in text  # the AWS default
    assert "quota.L-1216C47A: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances in us-east-1: 5 vCPUs < 8" in text
    assert "lower cluster.systemNodes.maxNodes" in text
    assert "slr.autoscaling: AWSServiceRoleForAutoScaling exists" in text and "autoscalingServiceLinkedRole: existing" in text
    assert "backend: state bucket no-such-state does not exist" in text
    assert "permissions:" in text and "eks:CreateCluster, kms:CreateKey" in text
    report = json.loads(out.read_text())
    assert report["ok"] is False and {f["check"] for f in report["findings"] if not f["ok"]} == {
        "quota.L-417A185B",
        "quota.L-7212CCBC",
        "quota.L-1216C47A",
        "slr.autoscaling",
        "backend",
        "permissions",
    }
    assert "Traceback" not in "\n".join(lines)


def test_existing_mode_needs_the_role_and_an_unversioned_backend_is_missing(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clients = deployer()
    url = state_bucket("plain-state", versioned=False)
    raw = config.read_stack_file(config.stack_file("dev"))[0]
    raw["aws"] = {"autoscalingServiceLinkedRole": "existing"}
    (tmp_path / "Pulumi.dev.yaml").write_text(json.dumps({"config": {f"ml-platform:{k}": v for k, v in raw.items()}}))
    quota_stub(clients, {"L-3819A6DF": 512.0, "L-1216C47A": 32.0})
    answer_simulation(clients, {})
    code, lines = run_cli(capsys, clients, "--stack", "dev", "--stacks-dir", str(tmp_path), "--backend-url", url)
    text = "\n".join(lines)
    assert code == 1
    assert "MISSING slr.autoscaling: AWSServiceRoleForAutoScaling is missing" in text
    assert "MISSING backend: state bucket plain-state is not versioned" in text


def test_without_simulation_rights_permissions_are_reported_as_not_checked(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = deployer()
    monkeypatch.setenv("PULUMI_BACKEND_URL", state_bucket())
    quota_stub(clients, {"L-3819A6DF": 512.0, "L-1216C47A": 32.0})
    answer_simulation(clients, None)  # moto: not implemented, like a caller without iam:SimulatePrincipalPolicy
    code, lines = run_cli(capsys, clients, "--stack", "dev")
    text = "\n".join(lines)
    assert code == 0, text
    assert "ok      permissions: not checked: cannot simulate arn:aws:iam::123456789012:role/ci/deployer" in text


def test_no_credentials_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, lines = run_cli(capsys, Clients(), "--stack", "dev", "--backend-url", "s3://x")
    assert code == 1
    assert any("MISSING identity: cannot call AWS: no AWS credentials found" in line for line in lines), lines


def test_bad_stack_exits_2_and_other_clouds_dispatch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  ml-platform:cloud: azure\n  ml-platform:environment: dev\n")
    code, lines = run_cli(capsys, Clients(), "--stack", "bad", "--stacks-dir", str(tmp_path))
    assert code == 2 and any("ml-platform:cloud" in line for line in lines), lines
    [finding] = preflight.run(config.load_stack("onprem"))
    assert finding.ok and "existing" in finding.message
    assert preflight.format_line(preflight.Finding("x", False, "y")) == "MISSING x: y"


def test_a_lustre_stack_checks_the_fsx_calls_and_the_fsx_s3_role_as_the_docs_require(aws: None) -> None:
    """Linking the lake to Lustre, FSx creates its S3 role with the caller's rights (FSx for Lustre user guide,
    "Adding permissions to use data repositories in Amazon S3"): the preflight simulates those calls on that
    role's path, and the FSx calls, for a stack with dataLake.lustre only."""
    from tests.helpers import raw_config

    clients = deployer()
    caller = clients.sts(REGION).get_caller_identity()["Arn"]
    raw = raw_config("prod")
    raw["dataLake"] = {
        **raw["dataLake"],
        "lustre": {"zones": ["curated"], "availabilityZone": "us-east-1a", "storageGb": 2400, "throughputMbPerTib": 250},
    }
    cfg = config.parse(raw)
    assert set(preflight_aws.LUSTRE_ACTIONS) <= set(preflight_aws.deploy_actions(cfg))
    assert not set(preflight_aws.LUSTRE_ACTIONS) & set(preflight_aws.deploy_actions(config.parse(raw_config("prod"))))
    calls = answer_simulation(clients, {"iam:PutRolePolicy": "implicitDeny"})
    [finding] = preflight_aws.check_lustre_role_permissions(cfg, clients, caller, "123456789012")
    assert not finding.ok and finding.check == "permissions.fsx-s3-role" and "iam:PutRolePolicy" in finding.message
    [call] = calls
    assert set(call["ActionNames"]) == set(preflight_aws.FSX_S3_ROLE_ACTIONS)
    assert call["ResourceArns"][0].startswith(
        "arn:aws:iam::123456789012:role/aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/"
    )
    assert preflight_aws.check_lustre_role_permissions(config.parse(raw_config("prod")), clients, caller, "123456789012") == []
