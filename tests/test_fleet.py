"""The hybrid fleet (issue 18): a MultiKueue manager stack and its worker stacks, planned together."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import conventions as cv
from components.k8s import kueue, multikueue
from infra import cli, policy_hook
from infra.layers import k8s_fleet
from infra.plan import engine, fleet, report
from tests import chart_values
from tests.helpers import ROOT

MANAGER = "fleet-manager"
WORKERS = ("onprem", "gcp-dev", "staging")
CRD_FILES = {
    "MultiKueueCluster": "kueue.x-k8s.io_multikueueclusters.yaml",
    "MultiKueueConfig": "kueue.x-k8s.io_multikueueconfigs.yaml",
    "AdmissionCheck": "kueue.x-k8s.io_admissionchecks.yaml",
    "ClusterQueue": "kueue.x-k8s.io_clusterqueues.yaml",
    "ResourceFlavor": "kueue.x-k8s.io_resourceflavors.yaml",
    "LocalQueue": "kueue.x-k8s.io_localqueues.yaml",
}


def _validator(path: Path) -> Any:
    """The CRD's v1beta2 schema; Go's ``^(?i)...`` patterns (AdmissionCheck's ``kind``) rewritten the way
    Python's ``re`` accepts them (flags first), meaning unchanged."""
    import jsonschema

    doc = yaml.safe_load(path.read_text())
    assert doc.get("kind") == "CustomResourceDefinition", path

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (("(?i)^" + v[len("^(?i)") :]) if k == "pattern" and isinstance(v, str) and v.startswith("^(?i)") else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    (version,) = [v for v in doc["spec"]["versions"] if v["name"] == "v1beta2"]
    return jsonschema.Draft7Validator(fix(version["schema"]["openAPIV3Schema"]))


def _kind(plan: engine.Plan, kind: str) -> list[Any]:
    return [r for r in plan.resources if r.type == f"kubernetes:{kueue.API_VERSION}:{kind}"]


def _manifest_text(plan: engine.Plan, tmp: Path) -> str:
    out = tmp / plan.stack
    report.write_manifests(plan, out)
    (tmp / f"{plan.stack}.json").write_text(json.dumps(plan.to_json()))
    (tmp / f"{plan.stack}.md").write_text(report.markdown(plan))
    return "\n".join(p.read_text() for p in [*out.rglob("*.yaml"), tmp / f"{plan.stack}.json", tmp / f"{plan.stack}.md"])


# ---- the fleet plans together -----------------------------------------------------------------------


def test_manager_and_workers_plan_together_in_a_deployable_order(plan_of) -> None:
    plans = {s: plan_of(s).to_json() for s in (MANAGER, *WORKERS)}
    assert fleet.order_problems(plans) == []
    order = fleet.deploy_order(plans)
    assert set(order) == set(plans)
    assert all(order.index(w) < order.index(MANAGER) for w in WORKERS)
    for stack in (MANAGER, *WORKERS):
        assert plan_of(stack).mandatory_violations == [], stack
    # the workers are the sample fleet's: on-prem first, then GKE spot, then EKS
    assert [w["stack"] for w in plans[MANAGER]["fleet"]["workers"]] == list(WORKERS)


def test_cross_stack_order_check_finds_a_missing_or_plain_output(plan_of) -> None:
    plans = {s: plan_of(s).to_json() for s in (MANAGER, *WORKERS)}
    plans["staging"] = {
        **plans["staging"],
        "outputs": {k: v for k, v in plans["staging"]["outputs"].items() if k != k8s_fleet.KUBECONFIG_OUTPUT},
    }
    plans["onprem"] = {
        **plans["onprem"],
        "outputs": {**plans["onprem"]["outputs"], k8s_fleet.KUBECONFIG_OUTPUT: "apiVersion: v1"},
    }
    checks = sorted(p["check"] for p in fleet.order_problems(plans))
    assert checks == ["fleet-output-exists", "fleet-output-secret"]
    del plans["gcp-dev"]
    assert "fleet-worker-planned" in {p["check"] for p in fleet.order_problems(plans)}


def test_every_multikueue_object_validates_against_the_pinned_crds(upstream: Path, plan_of) -> None:
    plan = plan_of(MANAGER)
    checked: defaultdict[str, int] = defaultdict(int)
    for kind, file in CRD_FILES.items():
        validator = _validator(upstream / "kueue" / "crds" / file)
        for obj in _kind(plan, kind):
            assert not chart_values.schema_errors(validator, obj.inputs), (kind, obj.name)
            checked[kind] += 1
    assert checked == {
        "MultiKueueCluster": 3,
        "MultiKueueConfig": 1,
        "AdmissionCheck": 1,
        "ClusterQueue": 2,
        "ResourceFlavor": 1,
        "LocalQueue": 2,
    }


def test_schema_check_catches_a_multikueue_cluster_without_its_source(upstream: Path, plan_of) -> None:
    validator = _validator(upstream / "kueue" / "crds" / CRD_FILES["MultiKueueCluster"])
    obj = json.loads(json.dumps(_kind(plan_of(MANAGER), "MultiKueueCluster")[0].inputs))
    del obj["spec"]["clusterSource"]
    assert chart_values.schema_errors(validator, obj)


def test_workers_are_dispatched_in_config_order_through_one_check_on_every_queue(plan_of) -> None:
    plan = plan_of(MANAGER)
    (config_obj,) = _kind(plan, "MultiKueueConfig")
    assert config_obj.inputs["spec"]["clusters"] == ["onprem", "gcp-dev", "aws-staging"]
    (check,) = _kind(plan, "AdmissionCheck")
    assert check.inputs["spec"]["controllerName"] == "kueue.x-k8s.io/multikueue"
    assert check.inputs["spec"]["parameters"] == {
        "apiGroup": "kueue.x-k8s.io",
        "kind": "MultiKueueConfig",
        "name": config_obj.inputs["metadata"]["name"],
    }
    clusters = {c.inputs["metadata"]["name"]: c for c in _kind(plan, "MultiKueueCluster")}
    assert set(clusters) == set(config_obj.inputs["spec"]["clusters"])
    for cq in _kind(plan, "ClusterQueue"):
        rules = cq.inputs["spec"]["admissionChecksStrategy"]["admissionChecks"]
        # one MultiKueue check, on every flavor: Kueue deactivates a queue with a per-flavor one (kueue#8987)
        assert rules == [{"name": check.inputs["metadata"]["name"]}]
        assert check.urn in cq.dependencies
    # the incremental dispatcher, one worker per round, nominating in MultiKueueConfig order
    (release,) = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "kueue"]
    manager_cfg = yaml.safe_load(release.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert manager_cfg["multiKueue"] == {
        "dispatcherName": "kueue.x-k8s.io/multikueue-dispatcher-incremental",
        "incrementalDispatcherConfig": {"stepSize": 1},
    }


def test_worker_kubeconfigs_are_secrets_in_kueues_namespace(plan_of) -> None:
    plan = plan_of(MANAGER)
    secrets = {r.urn: r for r in plan.resources if r.type == "kubernetes:core/v1:Secret"}
    for cluster in _kind(plan, "MultiKueueCluster"):
        source = cluster.inputs["spec"]["clusterSource"]["kubeConfig"]
        assert source["locationType"] == "Secret"
        (secret,) = [s for s in secrets.values() if s.inputs["metadata"]["name"] == source["location"]]
        assert secret.inputs["metadata"]["namespace"] == cv.NS_KUEUE
        data = secret.to_json()["inputs"]["stringData"]
        assert data == "[secret]" or data[multikueue.KUBECONFIG_KEY] == "[secret]"
        assert secret.urn in cluster.dependencies


def test_the_manager_quota_is_what_the_workers_admit_summed(plan_of) -> None:
    """Kueue's advice: the manager's quota equals the workers' total. Summed here from the workers' own
    ClusterQueues in their plans, independently of the code that computed the manager's."""
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stack in WORKERS:
        for cq in _kind(plan_of(stack), "ClusterQueue"):
            team = cq.inputs["metadata"]["name"]
            for group in cq.inputs["spec"]["resourceGroups"]:
                for flavor in group["flavors"]:
                    for res in flavor["resources"]:
                        value = res["nominalQuota"]
                        expected[team][res["name"]] += k8s_fleet.quantity_bytes(value) if res["name"] == "memory" else int(value)
    for cq in _kind(plan_of(MANAGER), "ClusterQueue"):
        team = cq.inputs["metadata"]["name"]
        (group,) = cq.inputs["spec"]["resourceGroups"]
        (flavor,) = group["flavors"]
        got = {
            r["name"]: (k8s_fleet.quantity_bytes(r["nominalQuota"]) if r["name"] == "memory" else int(r["nominalQuota"]))
            for r in flavor["resources"]
        }
        assert got == {k: v for k, v in expected[team].items()}, team
        assert all(r["borrowingLimit"] == 0 for r in flavor["resources"])


# ---- workers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", WORKERS)
def test_worker_gives_the_manager_a_least_privilege_identity_and_a_secret_kubeconfig(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    assert plan.outputs[k8s_fleet.KUBECONFIG_OUTPUT] == "[secret]"
    assert plan.outputs[k8s_fleet.TEAMS_OUTPUT] == [t.name for t in plan.config.teams]
    (role,) = [
        r
        for r in plan.resources
        if r.type == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole" and r.name == "multikueue-worker-role"
    ]
    for rule in role.inputs["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        assert not {"secrets", "roles", "rolebindings", "clusterroles", "clusterrolebindings", "nodes"} & set(
            rule["resources"]
        ), rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
    granted = {(g, r) for rule in role.inputs["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {
        ("batch", "jobs"),
        ("jobset.x-k8s.io", "jobsets"),
        ("kueue.x-k8s.io", "workloads"),
        ("kubeflow.org", "pytorchjobs"),
    } <= granted
    (token,) = [r for r in plan.resources if r.type == "kubernetes:core/v1:Secret" and r.name == "multikueue-worker-token"]
    assert token.inputs["type"] == "kubernetes.io/service-account-token"
    assert token.inputs["metadata"]["annotations"]["kubernetes.io/service-account.name"] == multikueue.SERVICE_ACCOUNT
    # the identity waits for Kueue (its namespace) and the cluster's nodes
    kueue_release = next(
        r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "kueue"
    )
    assert kueue_release.urn in role.dependencies or any(
        kueue_release.urn in plan.get(d).dependencies for d in role.dependencies if plan.get(d)
    )


def test_worker_kubeconfig_is_built_from_the_token_secret() -> None:
    text = multikueue.kubeconfig(cluster="c", server="https://api.example:6443", ca_b64="Q0E=", token="t0k")
    doc = yaml.safe_load(text)
    assert doc["clusters"][0]["cluster"] == {"server": "https://api.example:6443", "certificate-authority-data": "Q0E="}
    assert doc["users"][0]["user"] == {"token": "t0k"} and doc["current-context"] == "c"


def test_no_fleet_credential_leaks_into_plans_reports_or_manifests(plan_of, tmp_path: Path) -> None:
    """The worker's service-account token and the kubeconfig the manager reads never appear in clear."""
    import base64

    from infra.plan import mocks

    token = mocks._k8s_secret("multikueue-worker-token", {"type": "kubernetes.io/service-account-token"}, None)["data"]["token"]
    for stack in WORKERS:
        text = _manifest_text(plan_of(stack), tmp_path)
        assert token not in text and base64.b64decode(token).decode() not in text, stack
    manager_text = _manifest_text(plan_of(MANAGER), tmp_path)
    assert "kubeconfig output" not in manager_text
    # a kubeconfig (kind: Config), plain, indented or JSON-escaped; not a ConfigMap (the dashboards) nor a Kueue Configuration
    assert not re.search(r"kind: Config(?![A-Za-z])", manager_text)


# ---- cost -------------------------------------------------------------------------------------------


def test_plan_shows_per_worker_ceiling_and_burst_price(plan_of) -> None:
    summary = plan_of(MANAGER).fleet
    workers = {w["name"]: w for w in summary["workers"]}
    for name, stack in (("gcp-dev", "gcp-dev"), ("aws-staging", "staging")):
        peer = plan_of(stack)
        pools = [i for i in peer.cost["by_item"] if i.get("pool") and i.get("category") == "gpu"]
        assert workers[name]["gpu_ceiling"] == peer.config.gpu_ceiling
        assert workers[name]["monthly_usd_at_ceiling"] == pytest.approx(sum(i["monthly_usd"] for i in pools), abs=1.0)
        assert workers[name]["usd_per_gpu_hour"] == pytest.approx(
            workers[name]["monthly_usd_at_ceiling"] / (peer.config.gpu_ceiling * 730), abs=0.01
        )
    assert workers["onprem"]["monthly_usd_at_ceiling"] == 0.0
    md = report.markdown(plan_of(MANAGER))
    assert "### Fleet: 3 workers" in md and "| 3 | `aws-staging` | staging | aws |" in md


def test_cost_pack_caps_each_teams_burst_share(plan_of, monkeypatch: pytest.MonkeyPatch) -> None:
    import policies

    plan = plan_of(MANAGER)
    shares = plan.fleet["burst_share"]
    assert 0 < max(shares.values()) <= 0.5  # within the staging cap the pack config ships

    def burst(cap: float | None) -> list[Any]:
        if cap is not None:
            shipped = policies.pack_config
            monkeypatch.setattr(
                policies, "pack_config", lambda pack, env: {**shipped(pack, env), "mlp-cost-009": {"maxBurstShare": cap}}
            )
        return [v for v in policy_hook.evaluate_resources(plan.resources, "staging") if v.policy == "mlp-cost-009"]

    assert burst(None) == []
    tight = burst(0.3)
    assert sorted(v.message.split("'")[1] for v in tight) == sorted(t for t, s in shares.items() if s > 0.3)
    assert all("maxBurstShare 30%" in v.message and v.enforcement == "mandatory" for v in tight)


# ---- config mistakes: exit 2, one line, nothing planned -----------------------------------------------


def _fleet_dir(tmp_path: Path, edit: dict[str, Any]) -> Path:
    d = tmp_path / "stacks"
    d.mkdir()
    for stack in (MANAGER, *WORKERS):
        shutil.copy(ROOT / "stacks" / f"Pulumi.{stack}.yaml", d / f"Pulumi.{stack}.yaml")
    for stack, change in edit.items():
        path = d / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        change(doc["config"])
        path.write_text(yaml.safe_dump(doc))
    return d


def _drop_team(c: dict[str, Any]) -> None:
    c["ml-platform:teams"] = c["ml-platform:teams"][:1]


def _cost_center(c: dict[str, Any]) -> None:
    c["ml-platform:teams"][1]["costCenter"] = "CC-9999"


def _not_a_worker(c: dict[str, Any]) -> None:
    del c["ml-platform:fleet"]


def _plain_kubeconfig(c: dict[str, Any]) -> None:
    quotas = {"cpu": 8, "memory": "16Gi", "gpu": 1}
    c["ml-platform:fleet"]["workers"].append(
        {"name": "lab", "kubeconfig": "apiVersion: v1", "quotas": {"research": quotas, "recsys": quotas}}
    )


def _no_api_server(c: dict[str, Any]) -> None:
    del c["ml-platform:fleet"]["apiServer"]


def _both_sources(c: dict[str, Any]) -> None:
    c["ml-platform:fleet"]["workers"][0]["kubeconfig"] = {"secure": "v1:abc"}


CASES = [
    ("worker-teams-differ", MANAGER, {"staging": _drop_team}, "ml-platform:fleet.workers[2].stack", "same teams"),
    ("worker-cost-center-differs", "gcp-dev", {"gcp-dev": _cost_center}, "ml-platform:fleet.manager", "different costCenter"),
    ("not-a-worker", MANAGER, {"onprem": _not_a_worker}, "ml-platform:fleet.workers[0].stack", "fleet.role: worker"),
    ("plain-kubeconfig", MANAGER, {MANAGER: _plain_kubeconfig}, "ml-platform:fleet.workers[3].kubeconfig", "must be a secret"),
    ("existing-worker-no-api-server", "onprem", {"onprem": _no_api_server}, "ml-platform:fleet.apiServer", "https://"),
    ("stack-and-kubeconfig", MANAGER, {MANAGER: _both_sources}, "ml-platform:fleet.workers[0]", "exactly one of"),
]


@pytest.mark.parametrize(("case", "stack", "edit", "key", "why"), CASES, ids=[c[0] for c in CASES])
def test_fleet_mistakes_exit_2_with_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, stack: str, edit: dict[str, Any], key: str, why: str
) -> None:
    d = _fleet_dir(tmp_path, edit)
    code = cli.main(["plan", "--stack", stack, "--stacks-dir", str(d), "--json", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip().startswith("ml-platform:")]
    assert len(lines) == 1 and lines[0].strip().startswith(key) and why in lines[0], err
    assert not (tmp_path / "out.json").exists()
    assert "Traceback" not in err
