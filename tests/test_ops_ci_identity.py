"""``python -m infra ops bootstrap-ci`` against moto: GitHub OIDC trust restricted to one repository, its main / deploy environments, its pull requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import cli
from infra.ops import ci_identity
from tests.helpers import fake_aws_credentials

REPO = "acme/ml-platform"
HOST = "token.actions.githubusercontent.com"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch, "us-east-1")


def _trust(role: str) -> dict[str, Any]:
    doc = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def _conditions(role: str) -> dict[str, Any]:
    (stmt,) = _trust(role)["Statement"]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"]["Federated"].endswith(f":oidc-provider/{HOST}")
    assert set(stmt["Condition"]) == {"StringEquals"}, "exact matches only (no StringLike wildcards)"
    return stmt["Condition"]["StringEquals"]


@mock_aws
def test_roles_trust_only_this_repository_and_are_converged_on_rerun(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    iam = boto3.client("iam")
    doc = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::x"}]}
    )
    deploy_policy, preview_policy = (
        iam.create_policy(PolicyName=n, PolicyDocument=doc)["Policy"]["Arn"] for n in ("deploy", "preview")
    )
    code = cli.main(
        [
            "ops",
            "bootstrap-ci",
            "--repo",
            REPO,
            "--deploy-policy-arn",
            deploy_policy,
            "--preview-policy-arn",
            preview_policy,
            "--json",
            str(tmp_path / "ci.json"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    deploy, preview = _conditions("mlp-ci-deploy"), _conditions("mlp-ci-preview")
    assert deploy[f"{HOST}:aud"] == preview[f"{HOST}:aud"] == "sts.amazonaws.com"
    assert sorted(deploy[f"{HOST}:sub"]) == sorted(
        [
            f"repo:{REPO}:ref:refs/heads/main",
            f"repo:{REPO}:environment:development",
            f"repo:{REPO}:environment:staging",
            f"repo:{REPO}:environment:production",
        ]
    )
    assert preview[f"{HOST}:sub"] in ([f"repo:{REPO}:pull_request"], f"repo:{REPO}:pull_request")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert "sts.amazonaws.com" in iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])["ClientIDList"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="mlp-ci-preview")["AttachedPolicies"]]
    assert attached == [preview_policy]
    # someone widens the deploy trust to every branch of every repo; the re-run narrows it again
    wide = ci_identity.trust_policy(account_id="123456789012", subjects=["repo:acme/other:ref:refs/heads/main"])
    wide["Statement"][0]["Condition"] = {"StringLike": {f"{HOST}:sub": "repo:*"}}
    iam.update_assume_role_policy(RoleName="mlp-ci-deploy", PolicyDocument=json.dumps(wide))
    assert cli.main(["ops", "bootstrap-ci", "--repo", REPO]) == 0
    assert f"repo:{REPO}:environment:production" in _conditions("mlp-ci-deploy")[f"{HOST}:sub"]
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
    out = json.loads((tmp_path / "ci.json").read_text())
    assert out["deploy_role_arn"].endswith(":role/mlp-ci-deploy") and out["preview_role_arn"].endswith(":role/mlp-ci-preview")


def test_gcp_provider_condition_and_bindings_name_the_repository_and_exact_subjects() -> None:
    deploy, preview = ci_identity.deploy_subjects(REPO, ["production"]), ci_identity.preview_subjects(REPO)
    cmds = ci_identity.gcp_commands(
        repo=REPO,
        project="acme-ml",
        project_number="42",
        pool="github",
        deploy_sa="deploy@acme-ml.iam.gserviceaccount.com",
        preview_sa="preview@acme-ml.iam.gserviceaccount.com",
        deploy=deploy,
        preview=preview,
    )
    provider = next(c for c in cmds if "create-oidc" in c)
    assert f"assertion.repository == '{REPO}'" in provider and f"'repo:{REPO}:pull_request'" in provider
    bindings = [c for c in cmds if "add-iam-policy-binding" in c]
    assert sum("deploy@" in c for c in bindings) == 2 and sum("preview@" in c for c in bindings) == 1
    assert all("/subject/repo:acme/ml-platform:" in c and "principalSet" not in c for c in bindings)
    preview_binding = next(c for c in bindings if "preview@" in c)
    assert preview_binding.endswith(f"subject/repo:{REPO}:pull_request")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--repo", "https://github.com/acme/ml-platform"], "owner/name"),
        (["--repo", "acme/*"], "owner/name"),
        (["--repo", REPO, "--deploy-environment", "prod*"], "no wildcard"),
        (["--repo", REPO, "--gcp-project", "acme-ml"], "--gcp-project needs --gcp-project-number"),
    ],
)
def test_bad_input_exits_2_before_anything_is_created(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        assert cli.main(["ops", "bootstrap-ci", *argv]) == 2
        assert boto3.client("iam").list_roles()["Roles"] == []
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_trust_policy_refuses_wildcards() -> None:
    with pytest.raises(ValueError, match="exact subjects"):
        ci_identity.trust_policy(account_id="1", subjects=["repo:acme/*"])
