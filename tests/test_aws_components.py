"""Unit tests of the AWS foundation components, each run alone under the mock engine."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from components.aws import irsa
from infra.plan import engine
from infra.plan.recorder import RecordedResource

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def _run(build: Any) -> list[RecordedResource]:
    def program() -> None:
        build(aws.Provider("p", region="eu-west-1"))

    resources, _ = engine.run_program("unit", {}, [], program=program)
    return resources


def _one(resources: list[RecordedResource], type_: str, name: str | None = None) -> RecordedResource:
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


# ---- IrsaRole ---------------------------------------------------------------------------------


def test_irsa_trust_policy_admits_exactly_one_service_account() -> None:
    res = _run(
        lambda p: irsa.IrsaRole(
            "mlflow",
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer="https://" + ISSUER,  # a full URL is tolerated
            namespace="mlflow",
            service_account="mlflow-server",
            policy_document=json.dumps({"Version": "2012-10-17", "Statement": []}),
            provider=p,
        )
    )
    role = _one(res, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    [stmt] = trust["Statement"]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"] == {"Federated": OIDC_ARN}
    assert stmt["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:mlflow:mlflow-server",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }
    policy = _one(res, "aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"].startswith("mlflow-")  # the role's (auto-named) id
    assert role.parent.endswith("ml-platform:aws:IrsaRole::mlflow")
    assert role.provider.startswith(_one(res, "pulumi:providers:aws").urn)


def test_irsa_annotations_carry_the_role_arn() -> None:
    seen: dict[str, str] = {}

    def build(p: aws.Provider) -> None:
        role = irsa.IrsaRole(
            "ebs",
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer=ISSUER,
            namespace="kube-system",
            service_account="ebs-csi-controller-sa",
            managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
            provider=p,
        )
        role.annotations[irsa.ROLE_ARN_ANNOTATION].apply(lambda v: seen.setdefault("arn", v))

    res = _run(build)
    assert seen["arn"].startswith("arn:aws:iam::123456789012:role/")
    attach = _one(res, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attach.inputs["policyArn"].endswith("AmazonEBSCSIDriverPolicy")
    assert not [r for r in res if r.type == "aws:iam/rolePolicy:RolePolicy"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"namespace": "Bad_NS"}, "namespace"),
        ({"service_account": ""}, "service_account"),
        ({"policy_document": None}, "policy_document or managed_policy_arns"),
    ],
)
def test_irsa_rejects_bad_args_eagerly(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "oidc_provider_arn": OIDC_ARN,
        "oidc_issuer": ISSUER,
        "namespace": "team-a",
        "service_account": "workloads",
        "policy_document": "{}",
        "provider": object(),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        irsa.IrsaRole("x", **args)
