"""Team IAM on AWS: the IRSA role of each team reaches its own lake prefix and provably nothing of
another team's (the policy JSON is evaluated by a small IAM evaluator below), budgets and the EKS
access entries of the teams' humans."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.aws import access_entries, budgets, team_iam
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.helpers import raw_config, stack_doc

OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:GetObjectAcl",
    "s3:PutObjectAcl",
    "s3:RestoreObject",
)
BUCKET_ACTIONS = ("s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning")
ACCOUNT = "123456789012"


# ---- a small IAM policy evaluator (identity policies: Allow/Deny, Action, Resource, Condition) ------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            value = context.get(key)
            values = [str(v) for v in _list(wanted)]
            if operator == "StringEquals":
                ok = value is not None and value in values
            elif operator == "StringLike":
                ok = value is not None and any(_like(v, value) for v in values)
            elif operator == "StringNotEquals":
                ok = value is None or value not in values
            elif operator == "StringNotLike":
                ok = value is None or not any(_like(v, value) for v in values)
            else:
                raise AssertionError(f"the evaluator does not know condition operator {operator}")
            if not ok:
                return False
    return True


def allowed(policy: dict[str, Any], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether ``policy`` allows ``action`` on ``resource``: some Allow matches and no Deny does."""
    context = context or {}
    verdict = False
    for st in policy["Statement"]:
        assert "NotAction" not in st, "NotAction grants everything else"
        if not any(_like(a.lower(), action.lower()) for a in _list(st["Action"])):
            continue
        if "Resource" in st and not any(_like(r, resource) for r in _list(st["Resource"])):
            continue
        if "NotResource" in st and any(_like(r, resource) for r in _list(st["NotResource"])):
            continue
        if not _condition_holds(st.get("Condition", {}), context):
            continue
        if st["Effect"] == "Deny":
            return False
        verdict = True
    return verdict


def test_evaluator_itself() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"},
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": "a/*"}},
            },
        ]
    }
    assert allowed(policy, "s3:GetObject", "arn:aws:s3:::b/x")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::b/secret/x")
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::b/x")
    assert allowed(policy, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "a/1"})
    assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "c/"})
    assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::b")


# ---- the prod plan ------------------------------------------------------------------------------


def _team_policy(plan: engine.Plan, team: str) -> dict[str, Any]:
    [pol] = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"team-{team}"]
    assert pol.parent.endswith(f"ml-platform:aws:TeamIam$ml-platform:aws:IrsaRole::team-{team}"), pol.parent
    return json.loads(pol.inputs["policy"])


def _lake(plan: engine.Plan) -> dict[str, str]:
    return {zone: f"arn:aws:s3:::{name}" for zone, name in plan.outputs["lakeBuckets"].items()}


def _kms_arn(plan: engine.Plan) -> str:
    return plan.outputs["kmsKeyArn"]


_POD_IDENTITY: dict[str, engine.Plan] = {}


@pytest.fixture(params=["irsa", "podIdentity"])
def team_plan(request: pytest.FixtureRequest, plan_of, tmp_path_factory: pytest.TempPathFactory) -> engine.Plan:
    """The prod plan with ``cluster.workloadIdentity`` irsa (the stack's) and podIdentity (planned once)."""
    if request.param == "irsa":
        plan = plan_of("prod")
        assert plan.config.cluster.workload_identity == "irsa"
        return plan
    if "prod" not in _POD_IDENTITY:
        import yaml

        doc = stack_doc("prod")
        doc["config"]["ml-platform:cluster"]["workloadIdentity"] = "podIdentity"
        path = tmp_path_factory.mktemp("pod-identity") / "Pulumi.prod-pod.yaml"
        path.write_text(yaml.safe_dump(doc))
        _POD_IDENTITY["prod"] = engine.plan("prod-pod", stack_path=path)
    return _POD_IDENTITY["prod"]


def test_every_team_role_is_assumable_only_by_its_service_account(team_plan: engine.Plan) -> None:
    plan = team_plan
    roles = {r.name: r for r in plan.by_type("aws:iam/role:Role")}
    for team in plan.config.teams:
        trust = json.loads(roles[f"team-{team.name}"].inputs["assumeRolePolicy"])
        [stmt] = trust["Statement"]
        if plan.config.cluster.workload_identity == "podIdentity":
            assert stmt["Principal"] == {"Service": "pods.eks.amazonaws.com"}
            assert sorted(stmt["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
            assert stmt["Condition"] == {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-name": plan.config.cluster_name,
                    "aws:RequestTag/kubernetes-namespace": team.name,
                    "aws:RequestTag/kubernetes-service-account": f"{team.name}-workloads",
                }
            }
            continue
        assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
        conditions = stmt["Condition"]["StringEquals"]
        subs = [v for k, v in conditions.items() if k.endswith(":sub")]
        auds = [v for k, v in conditions.items() if k.endswith(":aud")]
        assert subs == [f"system:serviceaccount:{team.name}:{team.name}-workloads"]
        assert auds == ["sts.amazonaws.com"]
        assert set(stmt["Condition"]) == {"StringEquals"}  # exact match, no wildcard sub


def test_every_team_reaches_its_own_prefix_in_every_lake_bucket(team_plan: engine.Plan) -> None:
    plan = team_plan
    lake = _lake(plan)
    assert set(lake) == set(plan.config.data_lake.zones)
    for team in plan.config.teams:
        policy = _team_policy(plan, team.name)
        for arn in lake.values():
            obj = f"{arn}/teams/{team.name}/datasets/part-0001.parquet"
            for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion", "s3:DeleteObjectVersion"):
                assert allowed(policy, action, obj), (team.name, action, obj)
            assert allowed(policy, "s3:ListBucket", arn, {"s3:prefix": f"teams/{team.name}/"})
            assert allowed(policy, "s3:ListBucket", arn, {"s3:prefix": f"teams/{team.name}/runs/"})


def test_no_team_reaches_anything_of_another_team(team_plan: engine.Plan) -> None:
    plan = team_plan
    lake = _lake(plan)
    names = [t.name for t in plan.config.teams]
    assert len(names) >= 3
    checked = 0
    for team in names:
        policy = _team_policy(plan, team)
        for other in (n for n in names if n != team):
            for arn in lake.values():
                for key in (f"teams/{other}/x", f"teams/{other}/deep/model.bin", f"teams/{other}/"):
                    for action in OBJECT_ACTIONS:
                        assert not allowed(policy, action, f"{arn}/{key}"), (team, action, arn, key)
                        checked += 1
                for prefix in (f"teams/{other}/", f"teams/{other}/sub/", f"teams/{other}"):
                    assert not allowed(policy, "s3:ListBucket", arn, {"s3:prefix": prefix}), (team, arn, prefix)
    assert checked > 1000


def test_shared_zones_are_read_only_and_the_others_are_private(team_plan: engine.Plan) -> None:
    plan = team_plan
    lake = _lake(plan)
    shared = set(plan.config.data_lake.shared_zones)
    assert shared == {"curated"}
    for team in plan.config.teams:
        policy = _team_policy(plan, team.name)
        for zone, arn in lake.items():
            obj = f"{arn}/datasets/clicks/2025/part-0.parquet"
            assert allowed(policy, "s3:GetObject", obj) is (zone in shared), (team.name, zone)
            assert not allowed(policy, "s3:PutObject", obj)
            assert not allowed(policy, "s3:DeleteObject", obj)
            assert allowed(policy, "s3:ListBucket", arn, {"s3:prefix": "datasets/"}) is (zone in shared)
            for action in BUCKET_ACTIONS:
                assert not allowed(policy, action, arn)


def test_the_lake_key_is_usable_only_through_s3(team_plan: engine.Plan) -> None:
    plan = team_plan
    key = _kms_arn(plan)
    via_s3 = {"kms:ViaService": f"s3.{plan.config.region}.amazonaws.com"}
    for team in plan.config.teams:
        policy = _team_policy(plan, team.name)
        assert allowed(policy, "kms:Decrypt", key, via_s3)
        assert allowed(policy, "kms:GenerateDataKey", key, via_s3)
        assert not allowed(policy, "kms:Decrypt", key)  # direct use
        assert not allowed(policy, "kms:Decrypt", key, {"kms:ViaService": "s3.us-west-2.amazonaws.com"})
        assert not allowed(policy, "kms:Decrypt", key, {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"})
        assert not allowed(policy, "kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/other", via_s3)
        for action in ("kms:CreateGrant", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:Encrypt"):
            assert not allowed(policy, action, key, via_s3)


def test_no_team_policy_has_a_wildcard_action(team_plan: engine.Plan) -> None:
    plan = team_plan
    for team in plan.config.teams:
        for st in _team_policy(plan, team.name)["Statement"]:
            assert "NotAction" not in st and "NotResource" not in st
            for action in _list(st["Action"]):
                assert "*" not in action and "?" not in action, (team.name, action)
                assert action.split(":")[0] in ("s3", "kms")


def test_service_accounts_carry_their_team_role(team_plan: engine.Plan) -> None:
    plan = team_plan
    sas = {
        r.inputs["metadata"]["namespace"]: r
        for r in plan.by_type("kubernetes:core/v1:ServiceAccount")
        if r.name.endswith("-workloads")
    }
    associations = {r.inputs["namespace"]: r for r in plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    addons = {r.inputs["addonName"] for r in plan.by_type("aws:eks/addon:Addon")}
    pod_identity = plan.config.cluster.workload_identity == "podIdentity"
    assert ("eks-pod-identity-agent" in addons) is pod_identity
    if pod_identity:  # the platform services get associations too (their charts' service accounts)
        assert {"mlflow", "feast"} <= set(associations)
    for team in plan.config.teams:
        sa = sas[team.name]
        assert sa.inputs["metadata"]["name"] == f"{team.name}-workloads"
        if pod_identity:
            assoc = associations[team.name]
            assert assoc.inputs["serviceAccount"] == f"{team.name}-workloads"
            assert assoc.inputs["clusterName"] == plan.config.cluster_name
            assert re.fullmatch(rf"arn:aws:iam::{ACCOUNT}:role/team-{team.name}-[0-9a-f]+", assoc.inputs["roleArn"])
            assert "eks.amazonaws.com/role-arn" not in (sa.inputs["metadata"].get("annotations") or {})
            continue
        arn = sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(rf"arn:aws:iam::{ACCOUNT}:role/team-{team.name}-[0-9a-f]+", arn), arn


# ---- component-level: name prefixes, shared zones, validation -----------------------------------


LAKE = {"raw": "arn:aws:s3:::lake-raw", "curated": "arn:aws:s3:::lake-curated"}
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


@pytest.mark.parametrize(("team", "other"), [("ml", "ml-ops"), ("ml-ops", "ml"), ("a", "ab")])
def test_a_team_whose_name_prefixes_another_gets_nothing_of_it(team: str, other: str) -> None:
    policy = json.loads(
        team_iam.team_policy(team, LAKE, shared_zones=["curated"], other_teams=[other], kms_key_arn=KEY, region="eu-west-1")
    )
    for arn in LAKE.values():
        assert allowed(policy, "s3:GetObject", f"{arn}/teams/{team}/x")
        assert not allowed(policy, "s3:GetObject", f"{arn}/teams/{other}/x")
        assert not allowed(policy, "s3:PutObject", f"{arn}/teams/{other}/x")
        assert not allowed(policy, "s3:ListBucket", arn, {"s3:prefix": f"teams/{other}/"})


def test_listing_under_teams_in_a_shared_zone_is_denied_even_for_unknown_teams() -> None:
    policy = json.loads(team_iam.team_policy("ml", LAKE, shared_zones=["curated"], kms_key_arn=KEY, region="eu-west-1"))
    curated = LAKE["curated"]
    assert allowed(policy, "s3:ListBucket", curated, {"s3:prefix": "datasets/"})
    assert allowed(policy, "s3:ListBucket", curated, {"s3:prefix": "teams/ml/"})
    for prefix in ("teams/", "teams/newteam/", "teams"):
        assert not allowed(policy, "s3:ListBucket", curated, {"s3:prefix": prefix})


def test_without_shared_zones_nothing_outside_the_prefix_is_readable() -> None:
    policy = json.loads(team_iam.team_policy("ml", LAKE, kms_key_arn=KEY, region="eu-west-1"))
    for arn in LAKE.values():
        assert not allowed(policy, "s3:GetObject", f"{arn}/datasets/x")
        assert not allowed(policy, "s3:ListBucket", arn, {"s3:prefix": ""})
        assert not allowed(policy, "s3:ListBucket", arn)


def _run(build: Any) -> list[RecordedResource]:
    def program() -> None:
        build(aws.Provider("p", region="eu-west-1"))

    resources, _ = engine.run_program("unit", {}, [], program=program)
    return resources


def test_team_iam_rejects_bad_arguments() -> None:
    common: dict[str, Any] = {
        "bucket_arns": LAKE,
        "kms_key_arn": KEY,
        "region": "eu-west-1",
        "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/x",
        "oidc_issuer": "x",
    }
    with pytest.raises(ValueError, match="not a DNS label"):
        team_iam.TeamIamArgs(team="Bad_Name", **common)
    with pytest.raises(ValueError, match="not lake zones"):
        team_iam.TeamIamArgs(team="ml", shared_zones=["gold"], **common)
    with pytest.raises(ValueError, match="region is required"):
        team_iam.TeamIamArgs(team="ml", **{**common, "region": ""})
    team_iam.TeamIamArgs(team="ml", shared_zones=list(LAKE)[:1], **common)  # the good case passes


# ---- budgets -------------------------------------------------------------------------------------


def test_no_team_budget_on_a_tag_that_never_carries_the_teams_gpu_spend_and_the_platform_budget_alerts(plan_of) -> None:
    # a budget on user:team$<team> would see ~$0 (GPU nodes carry team=platform): team budgets are
    # chargeback alerts instead (tests/test_monitoring.py)
    plan = plan_of("prod")
    found = {r.name: r.inputs for r in plan.by_type("aws:budgets/budget:Budget")}
    assert all(not b.get("costFilters") for b in found.values()), "a team-tag budget that can never fire"
    platform = found["budget-platform"]
    assert float(platform["limitAmount"]) == plan.config.budget.monthly_usd
    assert "costFilters" not in platform or not platform["costFilters"]
    for n in platform["notifications"]:
        assert n["subscriberEmailAddresses"] == plan.config.budget.alert_emails
    names = [b["name"] for b in found.values()]
    assert len(set(names)) == len(names) and all(n.startswith("mlp-prod-") for n in names)


def test_a_team_without_email_alerts_the_platform_addresses() -> None:
    raw = raw_config("dev")
    del raw["teams"][0]["email"]
    from infra import config

    cfg = config.parse(raw)
    from infra.layers import aws_teams

    assert aws_teams.budget_emails(cfg, cfg.teams[0]) == raw["budget"]["alertEmails"]


def test_budget_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="limit_usd"):
        budgets.CostBudgetArgs(budget_name="x", limit_usd=0)
    with pytest.raises(ValueError, match="e-mail"):
        budgets.CostBudgetArgs(budget_name="x", limit_usd=5, emails=["nope"])
    with pytest.raises(ValueError, match="budget_name"):
        budgets.CostBudgetArgs(budget_name="a:b", limit_usd=5)
    with pytest.raises(ValueError, match="at most 10"):
        budgets.CostBudgetArgs(budget_name="x", limit_usd=5, emails=[f"a{i}@x.io" for i in range(11)])
    with pytest.raises(ValueError, match="key and a value"):
        budgets.CostBudgetArgs(budget_name="x", limit_usd=5, tag=("team", ""))
    with pytest.raises(ValueError, match="kind"):
        budgets.Alert(80, "SOMETIMES")


# ---- EKS access entries for the teams' humans ----------------------------------------------------


OWNER_ROLE = "arn:aws:iam::123456789012:role/AWSReservedSSO_MLEngineers_abc"
VIEWER_ROLE = "arn:aws:iam::123456789012:role/AWSReservedSSO_Analysts_def"


def test_team_roles_become_access_entries_mapped_to_the_team_groups_only() -> None:
    raw = raw_config("prod")
    raw["teams"][0]["ownerRoleArns"] = [OWNER_ROLE]
    raw["teams"][0]["viewerRoleArns"] = [VIEWER_ROLE]
    raw["teams"][1]["ownerRoleArns"] = [OWNER_ROLE]  # one principal owning two teams: one entry, two groups
    resources, _ = engine.run_program("prod", raw, [])
    entries = {r.inputs["principalArn"]: r.inputs for r in resources if r.type == "aws:eks/accessEntry:AccessEntry"}
    assert sorted(entries[OWNER_ROLE]["kubernetesGroups"]) == sorted([raw["teams"][0]["owners"], raw["teams"][1]["owners"]])
    assert entries[VIEWER_ROLE]["kubernetesGroups"] == [raw["teams"][0]["viewers"]]
    assert entries[OWNER_ROLE]["type"] == "STANDARD"
    # no cluster-wide policy for them: access comes only from the namespace RoleBindings
    team_principals = {OWNER_ROLE, VIEWER_ROLE}
    for r in resources:
        if r.type == "aws:eks/accessPolicyAssociation:AccessPolicyAssociation":
            assert r.inputs["principalArn"] not in team_principals


def test_access_entries_reject_system_groups() -> None:
    with pytest.raises(ValueError, match="system:"):
        access_entries.GroupAccessEntriesArgs(cluster_name="c", groups_by_principal={OWNER_ROLE: ["system:masters"]})
    with pytest.raises(ValueError, match="not an IAM role or user ARN"):
        access_entries.GroupAccessEntriesArgs(cluster_name="c", groups_by_principal={"arn:aws:iam::1:role/x": ["g"]})
    with pytest.raises(ValueError, match="has no groups"):
        access_entries.GroupAccessEntriesArgs(cluster_name="c", groups_by_principal={OWNER_ROLE: []})

    def build(p: aws.Provider) -> None:
        access_entries.GroupAccessEntries(
            "a",
            access_entries.GroupAccessEntriesArgs(cluster_name="c", groups_by_principal={OWNER_ROLE: ["ml-owners"]}),
            pulumi.ResourceOptions(provider=p),
        )

    [entry] = [r for r in _run(build) if r.type == "aws:eks/accessEntry:AccessEntry"]
    assert entry.inputs["kubernetesGroups"] == ["ml-owners"] and "pulumi:providers:aws::p::" in entry.provider


def test_pod_identity_is_eks_only_and_names_what_is_allowed() -> None:
    from infra import config

    raw = raw_config("gcp-dev")
    raw.setdefault("cluster", {})["workloadIdentity"] = "podIdentity"
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert any(p == "ml-platform:cluster.workloadIdentity" and "allows: irsa" in r for p, r in err.value.problems), (
        err.value.problems
    )
    raw = raw_config("prod")
    raw["cluster"]["workloadIdentity"] = "oidc"
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert any(p == "ml-platform:cluster.workloadIdentity" and "podIdentity" in r for p, r in err.value.problems), (
        err.value.problems
    )
