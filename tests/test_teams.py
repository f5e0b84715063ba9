"""Team namespaces on every stack: Pod Security, quotas equal to the config, default limits,
default-deny network isolation, RBAC bound only inside the team's namespace; config mistakes
exit 2 naming the key."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from catalog import conventions as cv
from catalog import gpus as catalog
from components.k8s import jupyterhub as jh
from components.k8s import team as team_mod
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.helpers import STACKS, raw_config, run_cli, stack_doc

NS = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
TEAM_STACKS = [s for s in STACKS if raw_config(s).get("teams")]


def _in_ns(plan: engine.Plan, type_: str, ns: str) -> list[RecordedResource]:
    return [r for r in plan.by_type(type_) if (r.inputs.get("metadata") or {}).get("namespace") == ns]


def _namespace(plan: engine.Plan, name: str) -> RecordedResource:
    [ns] = [r for r in plan.by_type(NS) if r.inputs["metadata"]["name"] == name]
    return ns


def _strategy(plan: engine.Plan) -> str:
    return "single" if plan.config.cloud == "gcp" else plan.config.gpu_operator.mig_strategy


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_every_team_has_a_labelled_namespace_with_pod_security(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    for team in plan.config.teams:
        labels = _namespace(plan, team.name).inputs["metadata"]["labels"]
        assert labels[cv.TEAM_LABEL] == team.name
        assert labels[cv.COST_CENTER_LABEL] == team.cost_center
        assert labels["pod-security.kubernetes.io/enforce"] == team.pod_security
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert any(t.pod_security == "restricted" for t in plan_of("prod").config.teams)


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_quota_matches_the_config(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    profiles = {p.mig_profile for p in plan.config.gpu_pools if p.mig_profile}
    for team in plan.config.teams:
        [quota] = _in_ns(plan, QUOTA, team.name)
        hard = quota.inputs["spec"]["hard"]
        borrow = team.gpu_borrowing_limit
        q = team.quotas
        assert hard["requests.cpu"] == str(q.cpu)
        assert hard["requests.memory"] == hard["limits.memory"] == q.memory
        assert hard["pods"] == str(q.pods)
        assert hard["requests.storage"] == q.storage
        if _strategy(plan) == "mixed":
            assert int(hard["requests.nvidia.com/gpu"]) == q.gpu + borrow
            for profile in profiles:  # every MIG resource the cluster offers is limited, 0 when not granted
                assert int(hard[f"requests.{catalog.mig_resource_name(profile)}"]) == q.mig.get(profile, 0) + borrow
        else:  # GKE: MIG slices are nvidia.com/gpu
            assert int(hard["requests.nvidia.com/gpu"]) == q.gpu + sum(q.mig.values()) + borrow
            assert not [k for k in hard if "mig-" in k]


def test_prod_gpu_quotas_equal_the_configured_numbers(plan_of) -> None:
    """Spelled out for prod: teams without borrowing get exactly their configured GPUs."""
    plan = plan_of("prod")
    gpu = {
        r.inputs["metadata"]["namespace"]: int(r.inputs["spec"]["hard"]["requests.nvidia.com/gpu"]) for r in plan.by_type(QUOTA)
    }
    cfg = {t.name: t for t in plan.config.teams}
    assert gpu["recsys"] == cfg["recsys"].quotas.gpu == 12
    assert gpu["analytics"] == 0
    assert gpu["llm"] == cfg["llm"].quotas.gpu + cfg["llm"].gpu_borrowing_limit == 40


_SUFFIX = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_SUFFIX.update({f"{k}i": 1024 ** (i + 1) for i, k in enumerate("KMGTPE")})


def _qty(value: str | int) -> float:
    """A Kubernetes quantity as a number (``500m`` -> 0.5, ``512Mi`` -> 536870912)."""
    text = str(value)
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_limit_range_gives_pods_without_requests_defaults(plan_of, stack: str) -> None:
    """A quota on requests/limits refuses pods that do not set them; the LimitRange defaults every
    dimension the quota counts, with a valid limit >= request, and such a pod fits the quota."""
    plan = plan_of(stack)
    for team in plan.config.teams:
        [lr] = _in_ns(plan, LIMITS, team.name)
        [container] = [limit for limit in lr.inputs["spec"]["limits"] if limit["type"] == "Container"]
        [quota] = _in_ns(plan, QUOTA, team.name)
        hard = quota.inputs["spec"]["hard"]
        counted = [
            (kind, res)
            for kind, _, res in (k.partition(".") for k in hard)
            if kind in ("requests", "limits") and res in ("cpu", "memory")
        ]
        assert len(counted) == 4, counted
        for kind, resource in counted:
            default = container["defaultRequest" if kind == "requests" else "default"][resource]
            assert _qty(default) <= _qty(hard[f"{kind}.{resource}"]), (team.name, kind, resource)
        for resource in ("cpu", "memory"):
            assert _qty(container["defaultRequest"][resource]) <= _qty(container["default"][resource])


def test_quantity_parser() -> None:
    assert _qty("500m") == 0.5 and _qty("512Mi") == 512 * 2**20 and _qty("4Ti") == 4 * 2**40 and _qty(8) == 8


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_default_deny_and_no_ingress_from_other_namespaces(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    for team in plan.config.teams:
        policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in _in_ns(plan, NETPOL, team.name)}
        deny = policies["default-deny"]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        dns = policies["allow-dns"]["egress"][0]
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
        for name, spec in policies.items():
            for rule in spec.get("ingress", []):
                for peer in rule.get("from", []):
                    if "namespaceSelector" in peer and name == "allow-jupyterhub":
                        # JupyterHub's proxy / hub reach only the notebook servers, only on the notebook port
                        assert peer["namespaceSelector"] == {"matchLabels": {team_mod.NS_NAME_LABEL: jh.NAMESPACE}}
                        assert spec["podSelector"] == {"matchLabels": {"component": "singleuser-server"}}
                        assert rule["ports"] == [{"port": jh.SINGLEUSER_PORT, "protocol": "TCP"}]
                    elif "namespaceSelector" in peer:  # else only the metrics scraper may come from outside
                        assert peer["namespaceSelector"] == {"matchLabels": {team_mod.NS_NAME_LABEL: cv.NS_MONITORING}}
                    else:
                        assert set(peer) == {"podSelector"}
                    assert "ipBlock" not in peer
        # the platform services are reachable
        platform = policies.get("allow-platform-services")  # absent with no platform service (a fleet manager)
        targets = (
            [peer["namespaceSelector"]["matchLabels"][team_mod.NS_NAME_LABEL] for peer in platform["egress"][0]["to"]]
            if platform
            else []
        )
        assert cv.NS_MLFLOW in targets or not plan.config.mlflow.enabled
        assert cv.NS_FEAST in targets or not plan.config.feast.enabled
        # public egress other than HTTPS only where the config allows; never to private ranges
        assert ("allow-internet-egress" in policies) is team.internet_egress
        # the one private destination: the cloud's credential endpoint (GKE metadata server), one
        # address and one port
        for rule in policies.get("allow-cloud-identity", {}).get("egress", []):
            assert [p["ipBlock"]["cidr"].endswith("/32") for p in rule["to"]] == [True] and len(rule["ports"]) == 1
        blocks = [
            peer["ipBlock"]
            for name, spec in policies.items()
            if name != "allow-cloud-identity"
            for rule in spec.get("egress", [])
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        for spec in policies.values():  # any rule without a destination would reach every address
            assert all(rule.get("to") for rule in spec.get("egress", [])), (team.name, spec)
        assert blocks, f"{team.name}: public egress (HTTPS at least) goes through ipBlock peers"
        for block in blocks:
            assert set(team_mod.PRIVATE_RANGES) <= set(block["except"]), (team.name, block)


def test_internet_egress_only_for_teams_that_ask(plan_of) -> None:
    plan = plan_of("prod")
    with_internet = {
        p.inputs["metadata"]["namespace"] for p in plan.by_type(NETPOL) if p.inputs["metadata"]["name"] == "allow-internet-egress"
    }
    assert with_internet == {t.name for t in plan.config.teams if t.internet_egress} == {"analytics"}


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_rbac_bindings_only_in_the_team_namespace(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    groups = {t.owners for t in plan.config.teams} | {t.viewers for t in plan.config.teams if t.viewers}
    for crb in plan.by_type(CLUSTER_ROLE_BINDING):
        assert not {s.get("name") for s in crb.inputs.get("subjects", [])} & groups, crb.urn
    for team in plan.config.teams:
        bindings = {b.inputs["roleRef"]["name"]: b.inputs for b in _in_ns(plan, ROLE_BINDING, team.name)}
        assert bindings["edit"]["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": team.owners}]
        assert bindings["edit"]["roleRef"]["kind"] == "ClusterRole"
        if team.viewers:
            assert bindings["view"]["subjects"][0]["name"] == team.viewers
        else:
            assert "view" not in bindings
    # each group is bound nowhere else
    for b in plan.by_type(ROLE_BINDING):
        for subject in b.inputs["subjects"]:
            owners_of = [t.name for t in plan.config.teams if subject["name"] in (t.owners, t.viewers)]
            if owners_of:
                assert b.inputs["metadata"]["namespace"] in owners_of


def test_service_account_annotations_follow_the_cloud(plan_of) -> None:
    for stack, key in (("prod", "eks.amazonaws.com/role-arn"), ("gcp-dev", "iam.gke.io/gcp-service-account"), ("onprem", None)):
        plan = plan_of(stack)
        for team in plan.config.teams:
            [sa] = [
                r
                for r in _in_ns(plan, "kubernetes:core/v1:ServiceAccount", team.name)
                if r.inputs["metadata"]["name"] == f"{team.name}-workloads"
            ]
            annotations = sa.inputs["metadata"].get("annotations") or {}
            assert (list(annotations) == [key]) if key else not annotations, (stack, annotations)


def test_team_resources_are_children_of_the_team_component_with_the_cluster_provider(plan_of) -> None:
    plan = plan_of("prod")
    teams = {t.name for t in plan.config.teams}
    for type_ in (NS, QUOTA, LIMITS, NETPOL, ROLE_BINDING):
        seen = set()
        for r in plan.by_type(type_):
            ns = r.inputs["metadata"].get("namespace") or r.inputs["metadata"]["name"]
            if ns in teams:
                seen.add(ns)
                assert r.parent.endswith(f"ml-platform:k8s:Team::team-{ns}"), r.urn
                assert r.provider and "pulumi:providers:kubernetes" in r.provider
        assert seen == teams, (type_, teams - seen)


# ---- the component's own validation ---------------------------------------------------------------


def _args(**changes: Any) -> team_mod.TeamArgs:
    base: dict[str, Any] = {"name": "ml", "cost_center": "CC-1", "cpu": 8, "memory": "32Gi", "owners": "ml-devs"}
    return team_mod.TeamArgs(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "ML"}, "DNS label"),
        ({"memory": "lots"}, "quantity"),
        ({"accelerators": {"nvidia.com/gpu": -1}}, "integer >= 0"),
        ({"accelerators": {"gpu": 1}}, "extended resource"),
        ({"owners": "system:masters"}, "not allowed"),
        ({"cost_center": "CC 1"}, "label value"),
    ],
)
def test_team_args_are_validated(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _args(**changes)  # validated on construction


def test_quota_hard_limits_cpu_at_the_ratio() -> None:
    hard = team_mod.quota_hard(_args(cpu="1500m", accelerators={"nvidia.com/gpu": 2}))
    assert hard["requests.cpu"] == "1500m" and hard["limits.cpu"] == "3000m"
    assert hard["requests.nvidia.com/gpu"] == "2"


def test_team_component_alone_under_the_mock_engine() -> None:
    def program() -> None:
        provider = k8s.Provider("k", kubeconfig="{}")
        team_mod.Team("team-ml", _args(viewers="ml-viewers", internet_egress=True), pulumi.ResourceOptions(provider=provider))

    resources, _ = engine.run_program("unit", {}, [], program=program)
    types = [r.type for r in resources if r.custom and not r.type.startswith("pulumi:providers")]
    assert types.count(NETPOL) == 7
    assert types.count(ROLE_BINDING) == 2
    for r in resources:
        if r.custom and r.type != NS and not r.type.startswith("pulumi:providers"):
            assert r.inputs["metadata"]["namespace"] == "ml"


# ---- config mistakes exit 2 naming the key ----------------------------------------------------------


def _cli_with_teams(tmp_path, mutate) -> Any:
    doc = stack_doc("prod")
    mutate(doc["config"])
    (tmp_path / "Pulumi.case.yaml").write_text(yaml.safe_dump(doc))
    return run_cli("plan", "--stack", "case", "--stacks-dir", str(tmp_path))


def test_duplicate_team_names_exit_2(tmp_path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["ml-platform:teams"][1]["name"] = cfg["ml-platform:teams"][0]["name"]

    out = _cli_with_teams(tmp_path, mutate)
    assert out.returncode == 2, out.stderr
    assert "ml-platform:teams[1].name" in out.stderr + out.stdout and "duplicate" in out.stderr + out.stdout


def test_team_name_not_a_dns_label_exits_2(tmp_path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["ml-platform:teams"][2]["name"] = "Rec_Sys"

    out = _cli_with_teams(tmp_path, mutate)
    assert out.returncode == 2, out.stderr
    assert "ml-platform:teams[2].name" in out.stderr + out.stdout


def test_gpu_quotas_above_the_ceiling_exit_2(tmp_path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["ml-platform:teams"][0]["quotas"]["gpu"] = 10_000

    out = _cli_with_teams(tmp_path, mutate)
    assert out.returncode == 2, out.stderr
    text = out.stderr + out.stdout
    assert "ml-platform:teams[*].quotas.gpu" in text and "gpuOvercommit" in text


def _capacity_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    from infra import config

    with pytest.raises(config.ConfigError) as exc:
        config.parse(raw)
    return exc.value.problems


def _pool_gpus(raw: dict[str, Any], pool: dict[str, Any]) -> tuple[int, str]:
    """(GPU ceiling, GPU model) of a stack pool, from its gpuLimit or maxNodes x the catalog's GPUs per node."""
    cloud = "gcp" if raw.get("cloud") == "gcp" else "aws"
    shapes = (
        [catalog.node_type(cloud, n) for n in pool["instanceTypes"]]
        if pool.get("instanceTypes")
        else catalog.node_types(cloud, gpu=pool["gpu"])
    )
    ceiling = pool.get("gpuLimit", pool["maxNodes"] * max(n.gpus for n in shapes))
    return ceiling, shapes[0].gpu


def test_mig_partitioned_pools_do_not_back_whole_gpu_quotas() -> None:
    """Whole-GPU quotas that fit all pools together but not the pools without migProfile are refused."""
    raw = raw_config("prod")
    whole = sum(_pool_gpus(raw, p)[0] for p in raw["gpuPools"] if not p.get("migProfile"))
    mig = sum(_pool_gpus(raw, p)[0] for p in raw["gpuPools"] if p.get("migProfile"))
    assert mig > 0
    over = raw["gpuOvercommit"]
    others = sum(t["quotas"].get("gpu", 0) for t in raw["teams"][1:])
    raw["teams"][0]["quotas"]["gpu"] = int(whole * over) - others + 1  # fits (whole + mig) x overcommit
    assert others + raw["teams"][0]["quotas"]["gpu"] <= int((whole + mig) * over)
    [(key, reason)] = _capacity_problems(raw)
    assert key == "ml-platform:teams[*].quotas.gpu" and f"ceiling {whole} " in reason and "gpuOvercommit" in reason


def test_mig_quotas_above_the_slices_the_pools_hold_exit_2_naming_the_profile(tmp_path) -> None:
    from infra import config

    raw = raw_config("prod")
    [pool] = [p for p in raw["gpuPools"] if p.get("migProfile")]
    profile = pool["migProfile"]
    gpus, model = _pool_gpus(raw, pool)
    slices = gpus * catalog.gpu_model(model).mig_profiles[profile]
    allowed = int(slices * raw["gpuOvercommit"])
    holders = [t for t in raw["teams"] if profile in t["quotas"].get("mig", {})]
    others = sum(t["quotas"]["mig"][profile] for t in holders[1:])
    holders[0]["quotas"]["mig"][profile] = allowed - others
    config.parse(raw)  # exactly at the ceiling x overcommit: fine
    holders[0]["quotas"]["mig"][profile] += 1
    [(key, reason)] = _capacity_problems(raw)
    assert key == f"ml-platform:teams[*].quotas.mig.{profile}"
    assert f"{allowed + 1} slices" in reason and f"{slices} {profile} slices" in reason

    def mutate(cfg: dict[str, Any]) -> None:
        for team in cfg["ml-platform:teams"]:
            if profile in team["quotas"].get("mig", {}):
                team["quotas"]["mig"][profile] = 10_000

    out = _cli_with_teams(tmp_path, mutate)
    assert out.returncode == 2, out.stderr
    assert f"ml-platform:teams[*].quotas.mig.{profile}" in out.stderr + out.stdout and "Traceback" not in out.stderr


def test_team_role_arns_must_be_iam_arns_exit_2(tmp_path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["ml-platform:teams"][0]["ownerRoleArns"] = ["ml-engineers"]

    out = _cli_with_teams(tmp_path, mutate)
    assert out.returncode == 2, out.stderr
    assert "ml-platform:teams[0].ownerRoleArns" in out.stderr + out.stdout


def test_team_role_arn_config_errors() -> None:
    from infra import config

    arn = "arn:aws:iam::123456789012:role/Ml"
    raw = raw_config("gcp-dev")
    raw["teams"][0]["ownerRoleArns"] = [arn]
    with pytest.raises(config.ConfigError, match=r"teams\[0\]\.ownerRoleArns: EKS access entries"):
        config.parse(raw)
    raw = raw_config("prod")
    raw["teams"][2]["viewerRoleArns"] = [arn]  # recsys has no viewers group
    with pytest.raises(config.ConfigError, match=r"teams\[2\]\.viewerRoleArns: needs viewers"):
        config.parse(raw)
    raw = raw_config("prod")
    raw["cluster"]["adminRoleArns"] = [arn]
    raw["teams"][0]["ownerRoleArns"] = [arn]
    with pytest.raises(config.ConfigError, match="already a cluster admin"):
        config.parse(raw)
