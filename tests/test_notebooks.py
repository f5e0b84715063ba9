"""JupyterHub (issue 21): values against the pinned chart schema, profiles from the pools, team charging."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import yaml

from catalog import conventions as cv
from components.k8s import jupyterhub as jh
from infra import config
from infra.layers import k8s_notebooks
from infra.plan import engine
from tests.chart_values import assert_keys_exist, missing_keys
from tests.helpers import plan_stack
from tests.test_workloads import _pool_nodes, _tolerated

CLIENT_SECRET = "s3cr3t-client-value-never-in-values"
OIDC = {
    "clientId": "jupyterhub",
    "clientSecret": CLIENT_SECRET,
    "authorizeUrl": "https://login.example.com/oauth2/authorize",
    "tokenUrl": "https://login.example.com/oauth2/token",
    "userdataUrl": "https://login.example.com/oauth2/userInfo",
    "callbackUrl": "https://notebooks.example.com/hub/oauth_callback",
}
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod", "onprem"]


def _cfg(stack: str, **notebooks: Any) -> config.PlatformConfig:
    """The stack with notebooks configured (enabled where the config allows it: aws so far)."""
    raw, _ = config.read_stack_file(config.stack_file(stack))
    raw["notebooks"] = {"enabled": raw["cloud"] == "aws", "oidc": dict(OIDC), **notebooks}
    return config.parse(raw)


def _values(cfg: config.PlatformConfig) -> dict[str, Any]:
    return jh.helm_values(k8s_notebooks.jupyterhub_args(cfg, mlflow_tracking_uri="http://mlflow.mlflow.svc.cluster.local:80"))


def _merged(defaults: Any, ours: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(ours, dict):
        out = dict(defaults)
        for k, v in ours.items():
            out[k] = _merged(defaults.get(k), v) if k in defaults else v
        return out
    return copy.deepcopy(ours)


def _schema_errors(upstream: Path, values: dict[str, Any]) -> list[str]:
    defaults = yaml.safe_load((upstream / "jupyterhub" / "values.yaml").read_text())
    schema = yaml.safe_load((upstream / "jupyterhub" / "values.schema.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_merged(defaults, values))]


FREE_FORM = (
    "hub.config",
    "hub.extraConfig",
    "hub.extraEnv",
    "singleuser.extraEnv",
    "singleuser.extraLabels",
    "singleuser.profileList",
)


@pytest.mark.parametrize("stack", STACKS)
def test_values_validate_against_the_chart_schema_merged_with_its_defaults(stack: str, upstream: Path) -> None:
    values = _values(_cfg(stack))
    assert _schema_errors(upstream, values) == []
    assert_keys_exist(values, upstream / "jupyterhub" / "values.yaml", free_form=FREE_FORM)
    assert yaml.safe_load((upstream / "jupyterhub" / "Chart.yaml").read_text())["name"] == jh.CHART


def test_the_schema_checks_catch_bad_values(upstream: Path) -> None:
    values = _values(_cfg("dev"))
    values["cull"]["timeout"] = "an hour"
    assert _schema_errors(upstream, values)
    values = _values(_cfg("dev"))
    values["singleuser"]["storage"]["dynamic"]["storageClassName"] = "x"  # the chart's key is storageClass
    assert missing_keys(values, upstream / "jupyterhub" / "values.yaml", free_form=FREE_FORM)


def test_notebooks_in_team_namespaces_reach_the_hub_by_its_full_name() -> None:
    values = _values(_cfg("dev"))
    url = values["hub"]["config"]["JupyterHub"]["hub_connect_url"]
    assert url == f"http://hub.{jh.NAMESPACE}.svc.cluster.local:{jh.HUB_PORT}"
    port = values["hub"]["networkPolicy"]["ingress"][0]["ports"][0]["port"]
    assert port == jh.HUB_PORT


def test_the_hub_is_not_published_by_a_public_load_balancer(upstream: Path) -> None:
    defaults = yaml.safe_load((upstream / "jupyterhub" / "values.yaml").read_text())
    assert defaults["proxy"]["service"]["type"] == "LoadBalancer", "the chart's default (what this guards against)"
    assert _values(_cfg("dev"))["proxy"]["service"]["type"] == "ClusterIP"


def test_idle_culler_home_volumes_and_mlflow_are_configured() -> None:
    values = _values(_cfg("dev", idleTimeoutMinutes=30, homeSizeGb=50))
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] == 1800
    assert values["singleuser"]["storage"]["dynamic"]["storageClass"] == k8s_notebooks.HOME_STORAGE_CLASS
    assert values["singleuser"]["storage"]["capacity"] == "50Gi"
    assert values["singleuser"]["extraEnv"]["MLFLOW_TRACKING_URI"].startswith("http://mlflow.")


@pytest.mark.parametrize("stack", STACKS)
def test_the_client_secret_is_never_in_the_values(stack: str) -> None:
    values = _values(_cfg(stack))
    assert CLIENT_SECRET not in yaml.safe_dump(values)
    ref = values["hub"]["extraEnv"]["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": jh.CLIENT_SECRET, "key": "client-secret"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "gcp-dev", "gcp-prod"])
def test_profiles_cover_every_pool_and_name_real_node_labels_and_quotas(
    stack: str, plan_of: Callable[[str], engine.Plan]
) -> None:
    plan = plan_of(stack)
    cfg = _cfg(stack)
    profiles = {p.pool: p for p in k8s_notebooks.profiles(cfg)}
    assert set(profiles) == {None, *(p.name for p in cfg.gpu_pools)}, "one profile per pool plus CPU only"
    quotas = {
        r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"]
        for r in plan.resources
        if r.type == "kubernetes:core/v1:ResourceQuota" and r.inputs["metadata"]["namespace"] in {t.name for t in cfg.teams}
    }
    assert set(quotas) == {t.name for t in cfg.teams}
    for pool, profile in profiles.items():
        if pool is None:
            assert not profile.node_selector and profile.resource is None
            continue
        labels, taints = _pool_nodes(plan, pool)
        assert profile.node_selector.items() <= labels.items(), f"{profile.slug}: selects no node of the pool"
        for taint in taints:
            assert _tolerated(taint, [dict(t) for t in profile.tolerations]), f"{profile.slug}: {taint} not tolerated"
        for team, hard in quotas.items():
            assert f"requests.{profile.resource}" in hard, f"{profile.slug}: {profile.resource} is not in {team}'s quota"
        rendered = profile.to_values(default=False)["kubespawner_override"]
        assert rendered["extra_resource_limits"] == {profile.resource: "1"}


def test_profile_kinds_follow_the_pool_shape() -> None:
    cfg = _cfg("prod")
    names = {p.pool: p.display_name for p in k8s_notebooks.profiles(cfg)}
    shapes = {p.name: p for p in cfg.gpu_pools}
    for pool, name in names.items():
        if pool is None:
            assert name == "CPU only"
        elif shapes[pool].mig_profile:
            assert "MIG slice" in name
        elif shapes[pool].time_slicing_replicas:
            assert "time-sliced share" in name
        else:
            assert "whole" in name


# ---- the spawn hook charges the user's team ---------------------------------------------------------


class _FakeKubeSpawner:
    """Stands in for kubespawner.KubeSpawner (not installed here): the hook subclasses it."""


def _load_hook(values: dict[str, Any]) -> SimpleNamespace:
    import sys
    import types

    c = SimpleNamespace(KubeSpawner=SimpleNamespace(), JupyterHub=SimpleNamespace())
    fake = types.ModuleType("kubespawner")
    fake.KubeSpawner = _FakeKubeSpawner  # type: ignore[attr-defined]
    saved = sys.modules.get("kubespawner")
    sys.modules["kubespawner"] = fake
    try:
        exec(values["hub"]["extraConfig"]["ml-platform-teams"], {"c": c})  # the hub runs this very code
    finally:
        if saved is None:
            sys.modules.pop("kubespawner")
        else:
            sys.modules["kubespawner"] = saved
    return c


def _run(coro: Any) -> Any:
    import asyncio

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the loop the Pulumi mock tests use
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _run_hook(values: dict[str, Any], user: str, groups: list[str]) -> SimpleNamespace:
    c = _load_hook(values)
    spawner = SimpleNamespace(
        user=SimpleNamespace(name=user, groups=[SimpleNamespace(name=g) for g in groups]),
        namespace="jupyterhub",
        service_account=None,
        extra_labels={},
    )
    _run(c.KubeSpawner.pre_spawn_hook(spawner))
    return spawner


def test_the_hub_watches_every_namespace_but_never_creates_one() -> None:
    cfg = _cfg("dev")
    c = _load_hook(_values(cfg))
    assert c.KubeSpawner.enable_user_namespaces is True
    spawner_class = c.JupyterHub.spawner_class
    assert issubclass(spawner_class, _FakeKubeSpawner)
    calls: list[str] = []

    class Api:
        def __init__(self, labels: dict[str, str]) -> None:
            self.labels = labels

        async def read_namespace(self, name: str) -> Any:
            calls.append(name)
            return SimpleNamespace(metadata=SimpleNamespace(labels=self.labels))

        async def create_namespace(self, ns: Any) -> None:  # pragma: no cover - must never be called
            raise AssertionError("the hub created a namespace")

    spawner = spawner_class()
    spawner.namespace, spawner.api = "research", Api({cv.TEAM_LABEL: "research"})
    _run(spawner._ensure_namespace())
    spawner.namespace, spawner.api = "kube-system", Api({})
    with pytest.raises(RuntimeError, match="not a team namespace"):
        _run(spawner._ensure_namespace())
    assert calls == ["research", "kube-system"]


def test_a_users_team_decides_namespace_identity_queue_and_labels() -> None:
    cfg = _cfg("dev", users={"carol@example.com": "recsys"})
    values = _values(cfg)
    research = next(t for t in cfg.teams if t.name == "research")
    s = _run_hook(values, "alice@example.com", ["unrelated", research.owners])
    assert s.namespace == "research" and s.service_account == "research-workloads"
    assert s.extra_labels[cv.TEAM_LABEL] == "research"
    assert s.extra_labels[jh.QUEUE_LABEL] == "default"
    assert s.extra_labels[jh.USER_LABEL] == "alice-40example-2ecom"  # a valid label value: [a-z0-9-]
    s = _run_hook(values, "carol@example.com", [])
    assert s.namespace == "recsys" and s.service_account == "recsys-workloads"
    import re

    for odd in ("Ünïcode.User+x@example.com", "a" * 80 + "@example.com", "-lead-"):
        label = _run_hook(values, odd, [research.owners]).extra_labels[jh.USER_LABEL]
        assert len(label) <= 63 and re.fullmatch(config.LABEL_VALUE, label) and label, (odd, label)
    with pytest.raises(RuntimeError, match="belongs to no team"):
        _run_hook(values, "mallory@example.com", ["someone-else"])
    auth = values["hub"]["config"]["GenericOAuthenticator"]
    assert sorted(auth["allowed_groups"]) == sorted(t.owners for t in cfg.teams)
    assert values["hub"]["config"]["Authenticator"]["allowed_users"] == ["carol@example.com"]


# ---- config --------------------------------------------------------------------------------------------


def _problems(stack: str, notebooks: dict[str, Any], *, secret_keys: list[str] | None = None) -> list[tuple[str, str]]:
    raw, _ = config.read_stack_file(config.stack_file(stack))
    raw["notebooks"] = notebooks
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw, secret_keys=secret_keys)
    return err.value.problems


def test_bad_notebook_config_names_the_key_and_what_is_allowed() -> None:
    (p,) = _problems("dev", {"enabled": True})
    assert p[0] == "ml-platform:notebooks.oidc" and "required" in p[1]
    (p,) = _problems("dev", {"enabled": True, "oidc": OIDC, "users": {"eve": "nope"}})
    assert p[0] == "ml-platform:notebooks.users.eve" and "allowed: research, recsys" in p[1]
    (p,) = _problems("dev", {"enabled": True, "oidc": {k: v for k, v in OIDC.items() if k != "clientSecret"}})
    assert p[0] == "ml-platform:notebooks.oidc.clientSecret"
    (p,) = _problems("dev", {"enabled": True, "oidc": {**OIDC, "tokenUrl": "http://plain.example.com/token"}})
    assert p[0] == "ml-platform:notebooks.oidc.tokenUrl"
    (p,) = _problems("dev", {"enabled": True, "idleTimeoutMinutes": 1, "oidc": OIDC})
    assert p[0] == "ml-platform:notebooks.idleTimeoutMinutes"


def test_home_volumes_on_a_cluster_you_bring_need_its_encrypted_storage_class_and_serving_a_lake() -> None:
    problems = _problems("onprem", {"enabled": True, "oidc": OIDC})
    assert [p for p, _ in problems] == ["ml-platform:notebooks.storageClass"], problems
    assert "required on cloud 'existing'" in problems[0][1]
    problems = _problems("dev", {"enabled": True, "oidc": OIDC, "storageClass": "gp3"})
    assert [p for p, _ in problems] == ["ml-platform:notebooks.storageClass"], problems  # aws makes its own, with our key
    raw, _ = config.read_stack_file(config.stack_file("onprem"))
    raw["serving"] = {"enabled": True}
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert "ml-platform:serving.enabled" in [p for p, _ in err.value.problems]


def test_on_a_cluster_you_bring_the_hub_uses_the_admins_encrypted_storage_class() -> None:
    """onprem ships notebooks: the homes use the configured StorageClass; the platform creates none there."""
    plan = plan_stack("onprem")
    assert not plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass")
    (rel,) = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == jh.CHART]
    assert (
        rel.inputs["values"]["singleuser"]["storage"]["dynamic"]["storageClass"]
        == plan.config.notebooks.storage_class
        == "ceph-rbd-encrypted"
    )
    profiles = {p["slug"] for p in rel.inputs["values"]["singleuser"]["profileList"]}
    assert profiles == {"cpu", *(f"gpu-{p.name}" for p in plan.config.gpu_pools)}


def test_on_gke_home_disks_use_our_key_and_serving_its_own_workload_identity() -> None:
    """gcp-dev ships notebooks and serving: the home StorageClass is GKE's PD CSI driver with the platform's regional
    `volumes` key (the Compute Engine service agent may use it, and the class waits for that grant); each team's
    <team>-serving account is bound by Workload Identity to a Google account that only reads the registry's
    artifacts and the team's prefix of the models bucket; the control plane reaches KServe's and KEDA's ports."""
    import json as _json

    from components.k8s import kserve

    plan = plan_stack("gcp-dev")
    (sc,) = plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["provisioner"] == "pd.csi.storage.gke.io"
    key = sc.inputs["parameters"]["disk-encryption-kms-key"]
    (crypto,) = [r for r in plan.by_type("gcp:kms/cryptoKey:CryptoKey") if r.inputs["name"] == "volumes"]
    assert key.endswith("/cryptoKeys/volumes") and f"/locations/{plan.config.region}/" in key
    (grant,) = [r for r in plan.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") if r.name == "kms-volumes-compute"]
    assert grant.inputs["member"].endswith("@compute-system.iam.gserviceaccount.com")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert {grant.urn, crypto.urn} <= set(sc.dependencies), "the class takes the key once the agent may use it"
    teams = {t.name for t in plan.config.teams}
    accounts = {
        r.inputs["metadata"]["namespace"]: r
        for r in plan.by_type("kubernetes:core/v1:ServiceAccount")
        if r.inputs["metadata"]["name"].endswith("-serving")
    }
    assert set(accounts) == teams
    for team, sa in accounts.items():
        assert sa.inputs["metadata"]["name"] == kserve.serving_service_account(team)
        email = sa.inputs["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        grants = [
            r for r in plan.by_type("gcp:storage/bucketIAMMember:BucketIAMMember") if r.name.startswith(f"team-{team}-serving-")
        ]
        assert {g.inputs["role"] for g in grants} == {"roles/storage.objectViewer"}, "read only"
        assert all(g.inputs["member"] == f"serviceAccount:{email}" for g in grants)
        prefixes = sorted(_json.dumps(g.inputs["condition"]["expression"]).split("/objects/")[1].split('\\"')[0] for g in grants)
        assert prefixes == ["mlflow/", f"teams/{team}/"]
        (wi,) = [r for r in plan.by_type("gcp:serviceaccount/iAMMember:IAMMember") if r.name.startswith(f"team-{team}-serving")]
        assert wi.inputs["member"].endswith(f"[{team}/{team}-serving]")
    (firewall,) = [r for r in plan.by_type("gcp:compute/firewall:Firewall") if r.name == "gke-control-plane"]
    assert {str(p) for p in kserve.CONTROL_PLANE_PORTS} <= set(firewall.inputs["allows"][0]["ports"])
    assert not [v for v in plan.violations if "serving" in v.urn or "jupyterhub" in v.urn]


def test_a_plain_text_client_secret_is_refused() -> None:
    problems = _problems("dev", {"enabled": True, "oidc": OIDC}, secret_keys=[])
    assert [p for p, _ in problems] == ["ml-platform:notebooks.oidc.clientSecret"]
    assert CLIENT_SECRET not in str(problems)


# ---- in the plan (staging with notebooks on) --------------------------------------------------------------


@pytest.fixture(scope="module")
def hub_plan() -> engine.Plan:
    """The shipped staging stack: notebooks and serving on, the client secret held as a Pulumi secret (``secure:``)."""
    plan = plan_stack("staging")
    assert plan.config.notebooks.enabled and plan.config.serving.enabled
    return plan


def test_the_hub_in_the_plan(hub_plan: engine.Plan, upstream: Path) -> None:
    plan = hub_plan
    assert plan.config.notebooks.enabled
    mine = [r for r in plan.resources if r.parent and "JupyterHub" in r.parent]
    by_type: dict[str, list[Any]] = {}
    for r in mine:
        by_type.setdefault(r.type, []).append(r)
    (rel,) = by_type["kubernetes:helm.sh/v3:Release"]
    assert rel.inputs["chart"] == jh.CHART and rel.inputs["version"] == jh.CHART_VERSION
    assert rel.inputs["repositoryOpts"]["repo"] == jh.REPO
    assert _schema_errors(upstream, rel.inputs["values"]) == []
    # the client secret: a Secret whose data is secret, referenced (never inlined) by the values
    (secret,) = by_type["kubernetes:core/v1:Secret"]
    assert secret.inputs["stringData"] == "[secret]" or "stringData" in secret.additional_secret_outputs
    # every team namespace: spawn rights and the network path hub <-> notebook
    teams = {t.name for t in plan.config.teams}
    assert {r.inputs["metadata"]["namespace"] for r in by_type["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"]} == teams
    assert {r.inputs["metadata"]["namespace"] for r in by_type["kubernetes:networking.k8s.io/v1:NetworkPolicy"]} == teams
    team_ns = {
        r.urn for r in plan.resources if r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] in teams
    }
    for r in by_type["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"]:
        assert set(r.dependencies) & team_ns, f"{r.name} does not wait for its namespace"
    # cluster-wide the hub only reads (its pod watch spans namespaces); it never creates namespaces
    for role in by_type["kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"]:
        for rule in role.inputs["rules"]:
            assert not ("namespaces" in rule["resources"] and set(rule["verbs"]) - {"get", "list", "watch"}), role.name
    (crb,) = by_type["kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"]
    (watch,) = [r for r in by_type["kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"] if r.name == crb.name]
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in watch.inputs["rules"])
    # home volumes encrypted with the platform key
    (sc,) = by_type["kubernetes:storage.k8s.io/v1:StorageClass"]
    assert sc.inputs["metadata"]["name"] == k8s_notebooks.HOME_STORAGE_CLASS
    assert sc.inputs["parameters"]["encrypted"] == "true" and sc.inputs["parameters"]["kmsKeyId"]
    key = sc.inputs["parameters"]["kmsKeyId"]
    (platform_key,) = [r.urn for r in plan.resources if r.type == "aws:kms/key:Key" and r.name == "platform-key"]
    assert platform_key in sc.dependencies, "the StorageClass takes the platform key's ARN"
    # the EBS CSI driver (which creates the volumes) may use that key
    ebs_policy = [r for r in plan.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == "eks-ebs-csi"]
    assert ebs_policy and key in str(ebs_policy[0].inputs["policy"])
    assert not [v for v in plan.violations if "jupyterhub" in v.urn]
    assert CLIENT_SECRET not in str([r.inputs for r in plan.resources])


def test_kserve_in_the_plan_standard_mode_in_order(hub_plan: engine.Plan) -> None:
    from components.k8s import kserve

    rels = [r for r in hub_plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.parent and "KServe" in r.parent]
    by_name = {r.inputs["name"]: r for r in rels}
    order = [name for name, *_ in kserve.releases()]
    assert set(by_name) == set(order)
    for (name, chart, repo, version, namespace, _), prev in zip(kserve.releases(), [None, *order[:-1]], strict=True):
        rel = by_name[name]
        assert rel.inputs["chart"] == chart and rel.inputs["version"] == version and rel.inputs["namespace"] == namespace
        assert (rel.inputs.get("repositoryOpts") or {}).get("repo") == repo
        if prev is not None:  # each release waits for the one before (CRDs, then the webhook that admits them)
            assert by_name[prev].urn in rel.dependencies, f"{name} does not wait for {prev}"
    assert by_name["kserve-resources"].inputs["values"]["kserve"]["controller"]["deploymentMode"] == "Standard"
    assert by_name["cert-manager"].inputs["values"]["crds"]["enabled"] is True
    assert not [v for v in hub_plan.violations if "kserve" in v.urn or "cert-manager" in v.urn]


def test_the_serving_template_asks_for_the_mode_the_controller_runs() -> None:
    from components.k8s import kserve
    from infra import workload

    isvc = workload.load_template("serving")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == kserve.DEPLOYMENT_MODE


def test_each_team_gets_a_serving_identity_that_only_reads_models(hub_plan: engine.Plan) -> None:
    import json

    from components.k8s import kserve

    teams = {t.name for t in hub_plan.config.teams}
    accounts = {
        r.inputs["metadata"]["namespace"]: r
        for r in hub_plan.resources
        if r.type == "kubernetes:core/v1:ServiceAccount" and r.inputs["metadata"]["name"].endswith("-serving")
    }
    assert set(accounts) == teams
    for team, sa in accounts.items():
        assert sa.inputs["metadata"]["name"] == kserve.serving_service_account(team)
        role_arn = sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert role_arn
        (policy,) = [
            r for r in hub_plan.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == f"team-{team}-serving"
        ]
        doc = json.loads(policy.inputs["policy"])
        actions = {a for st in doc["Statement"] for a in st["Action"]}
        assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"}, "read only"
        objects = [res for st in doc["Statement"] if st["Sid"] == "ReadModels" for res in st["Resource"]]
        assert all("-models-" in o for o in objects) and {o.split("/", 1)[1] for o in objects} == {"mlflow/*", f"teams/{team}/*"}
        # its trust policy names exactly <team>:<team>-serving
        (role,) = [r for r in hub_plan.resources if r.type == "aws:iam/role:Role" and r.name == f"team-{team}-serving"]
        assert f"system:serviceaccount:{team}:{team}-serving" in str(role.inputs["assumeRolePolicy"])


def test_notebooks_and_serving_have_a_clean_deploy_lifecycle(hub_plan: engine.Plan) -> None:
    """cert-manager, the KServe releases and JupyterHub wait for the system nodes and CoreDNS (their
    atomic installs wait for pods), and everything KServe / JupyterHub creates is ordered by the
    readiness facts (infra/plan/lifecycle_facts.yaml)."""
    assert hub_plan.lifecycle is not None
    ours = [
        (p.check, p.urn, p.message) for p in hub_plan.lifecycle.problems if "KServe" in p.urn or "jupyterhub" in p.urn.lower()
    ]
    assert ours == []
    releases = {str(r.inputs["chart"]).rsplit("/", 1)[-1] for r in hub_plan.by_type("kubernetes:helm.sh/v3:Release")}
    assert {"cert-manager", "kserve-crd", "kserve-resources", "kserve-runtime-configs", "jupyterhub"} <= releases
