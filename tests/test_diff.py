"""``python -m infra diff``: real plan pairs from the sample stacks with edited configs.

Each pair is planned once (dev ~1 s, prod a few seconds); expected cost deltas are computed here from
the two plans' ``cost`` sections, not by the diff code.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import replace_on_changes
from infra import cli
from infra.plan import diff, engine
from tests.helpers import ROOT, plan_stack

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"


def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def head_plan(write_stack: Any, base: str, **overrides: Any) -> dict[str, Any]:
    return engine.plan(base, stack_path=write_stack(base, **overrides)).to_json()


def name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def expected_cost(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Deltas straight from the two cost sections."""
    b, h = base["cost"], head["cost"]
    out = {
        "ceiling": round(h["monthly_usd"] - b["monthly_usd"], 2),
        "idle": round(h["monthly_usd_idle"] - b["monthly_usd_idle"], 2),
    }
    for key, ceiling in (("by_team", "monthly_usd"), ("by_pool", "ceiling")):
        names = set(b[key]) | set(h[key])
        deltas = {n: round(h[key].get(n, {}).get(ceiling, 0.0) - b[key].get(n, {}).get(ceiling, 0.0), 2) for n in names}
        out[key] = {n: d for n, d in deltas.items() if d}
    return out


def assert_cost(d: dict[str, Any], base: dict[str, Any], head: dict[str, Any]) -> None:
    want = expected_cost(base, head)
    assert d["cost"]["total"]["ceiling"]["delta"] == pytest.approx(want["ceiling"], abs=0.01)
    assert d["cost"]["total"]["idle"]["delta"] == pytest.approx(want["idle"], abs=0.01)
    for key in ("by_team", "by_pool"):
        got = {n: e["ceiling"]["delta"] for n, e in d["cost"][key].items() if e["ceiling"]["delta"]}
        assert got == pytest.approx(want[key], abs=0.01), key


# ---------------------------------------------------------------- real plan pairs


def test_two_plans_of_the_same_config_give_an_empty_diff(write_stack: Any, tmp_path: Path) -> None:
    base = plan_stack("dev").to_json()
    head = head_plan(write_stack, "dev")
    d = diff.diff(base, head)
    assert d["empty"] and not (d["added"] or d["deleted"] or d["changed"] or d["protected"])
    assert d["summary"] == {"added": 0, "changed": 0, "replaced": 0, "deleted": 0}
    md = diff.markdown(d)
    assert "no change" in md and len(md.strip().splitlines()) == 1
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    rc = cli.main(["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--fail-on", "replace-protected"])
    assert rc == 0


def test_adding_a_team(write_stack: Any) -> None:
    base = plan_stack("dev").to_json()
    team = {"name": "nlp", "owners": "nlp-devs", "costCenter": "CC-5001", "email": "nlp@example.com", "budgetUsd": 1000,
            "quotas": {"cpu": 8, "memory": "32Gi", "gpu": 0}}  # fmt: skip
    head = head_plan(write_stack, "dev", teams=[*stack_config("dev")["ml-platform:teams"], team])
    d = diff.diff(base, head)
    # exactly the new team's resources are added; nothing else changes
    new_urns = {r["urn"] for r in head["resources"]} - {r["urn"] for r in base["resources"]}
    assert new_urns and all("nlp" in name_of(u) for u in new_urns)
    assert {a["urn"] for a in d["added"]} == new_urns
    assert {name_of(a["urn"]) for a in d["added"] if a["type"] == "kubernetes:core/v1:Namespace"} == {"team-nlp-ns"}
    assert d["deleted"] == [] and d["protected"] == []
    # the changes elsewhere: Alertmanager routes the new team's alerts to its e-mail (the monitoring release)
    # and its budget becomes alert rules (the monitoring rules), both updated in place; the Job creating the teams'
    # MLflow users runs again (replaced: a Job's template is immutable) to create the new team's user; all name the team
    assert sorted(name_of(c["urn"]) for c in d["changed"]) == ["mlflow-team-users", "monitoring-rules", "monitoring-stack"]
    assert all("nlp" in json.dumps(c) for c in d["changed"])
    assert [name_of(c["urn"]) for c in d["changed"] if c.get("replace")] in ([], ["mlflow-team-users"])
    assert d["summary"]["added"] == sum(1 for r in head["resources"] if r["urn"] in new_urns and r["custom"])
    assert d["cost"]["by_team"]["nlp"]["status"] == "added"
    assert_cost(d, base, head)
    assert diff.headline(d).startswith(f"+{d['summary']['added']} ~3 -0, ")
    assert f"<details><summary>Added ({d['summary']['added']})</summary>" in diff.markdown(d)  # as many as the headline


def test_raising_a_pools_max_nodes(write_stack: Any) -> None:
    base = plan_stack("dev").to_json()
    pools = [
        dict(p, maxNodes=8, gpuLimit=8) if p["name"] == "train-l4" else p for p in stack_config("dev")["ml-platform:gpuPools"]
    ]
    head = head_plan(write_stack, "dev", gpuPools=pools)
    d = diff.diff(base, head)
    assert d["added"] == [] and d["deleted"] == [] and d["protected"] == []
    by_name = {name_of(c["urn"]): c for c in d["changed"]}
    pool = by_name["karpenter-pool-train-l4"]
    assert pool["type"] == NODEPOOL and pool["replace"] is False  # limits are updated in place
    assert {c["path"]: (c["old"], c["new"]) for c in pool["changes"]} == {
        "metadata.annotations.ml-platform.io/max-nodes": ("4", "8"),
        "spec.limits.nodes": (4, 8),
        "spec.limits.nvidia.com/gpu": (4, 8),
        "spec.limits.cpu": (256, 512),
    }
    # the other pool is untouched; only Kueue quotas may follow the new GPU ceiling
    assert "karpenter-pool-notebooks" not in by_name
    assert {c["type"] for c in d["changed"]} <= {NODEPOOL, "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"}
    assert_cost(d, base, head)
    assert d["cost"]["by_pool"]["train-l4"]["ceiling"]["delta"] > 0
    assert diff.headline(d).endswith(f"+${d['cost']['total']['ceiling']['delta']:,.0f}/month at ceiling")


def test_removing_a_pool(write_stack: Any) -> None:
    base = plan_stack("dev").to_json()
    pools = [p for p in stack_config("dev")["ml-platform:gpuPools"] if p["name"] != "notebooks"]
    head = head_plan(write_stack, "dev", gpuPools=pools, gpuOvercommit=1.5)  # the teams' GPU quotas still fit
    d = diff.diff(base, head)
    assert {(d_["type"], name_of(d_["urn"])) for d_ in d["deleted"]} == {
        (NODEPOOL, "karpenter-pool-notebooks"),
        ("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor", "kueue-queues-flavor-gpu-notebooks"),
    }
    assert d["added"] == [] and d["protected"] == []
    cm = next(c for c in d["changed"] if name_of(c["urn"]) == "gpu-operator-device-plugin-config")
    assert [(c["path"], c["new"]) for c in cm["changes"]] == [("data.notebooks", None)]  # its time-slicing config goes
    assert d["cost"]["by_pool"]["notebooks"]["status"] == "removed"
    assert d["cost"]["by_pool"]["notebooks"]["ceiling"]["delta"] == -base["cost"]["by_pool"]["notebooks"]["ceiling"]
    assert_cost(d, base, head)
    assert diff.headline(d).startswith(f"+0 ~{d['summary']['changed'] + d['summary']['replaced']} -2, -$")


def test_renaming_the_prod_lake_buckets_replaces_protected_resources(write_stack: Any, tmp_path: Path) -> None:
    """Moving prod to another region renames every lake bucket: S3 names force a new bucket."""
    base = plan_stack("prod").to_json()
    head = head_plan(write_stack, "prod", region="us-east-2")
    d = diff.diff(base, head)
    buckets = {
        name_of(r["urn"]): r for r in base["resources"]
        if r["type"] == "aws:s3/bucket:Bucket" and r["protect"] and r["inputs"]["bucket"].endswith("-us-east-1")
    }  # fmt: skip
    assert len(buckets) == 6  # the four zones, the access logs and the audit trail; the DR replicas keep their us-west-2 names
    replaced = {name_of(p["urn"]): p for p in d["protected"] if p["type"] == "aws:s3/bucket:Bucket"}
    assert set(replaced) == set(buckets)
    for name, p in replaced.items():
        assert p["action"] == "replace" and p["paths"] == ["bucket"]
        change = next(c for c in d["changed"] if c["urn"] == p["urn"])
        bucket = next(x for x in change["changes"] if x["path"] == "bucket")
        old = buckets[name]["inputs"]["bucket"]
        assert old.endswith("-123456789012-us-east-1") and bucket == {
            "path": "bucket", "old": old, "new": old.replace("us-east-1", "us-east-2"), "replace": True,
        }  # fmt: skip
    # every protected entry is a protected resource of the base, replaced by a replace-on-change property
    by_urn = {r["urn"]: r for r in base["resources"]}
    assert all(by_urn[p["urn"]]["protect"] and p["paths"] for p in d["protected"])
    assert {name_of(p["urn"]) for p in d["protected"]} - set(buckets) == {"mlflow-db", "feast-online"}  # their KMS key ARNs move
    assert_cost(d, base, head)
    md = diff.markdown(d)
    assert md.index("[!CAUTION]") < md.index("<details")  # called out before anything else
    assert all(f"`aws:s3/bucket:Bucket::{n}` (forced by `bucket`)" in md for n in buckets)
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    args = ["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--json", str(tmp_path / "d.json")]
    assert cli.main(args) == 0
    assert cli.main([*args, "--fail-on", "replace-protected"]) == 1
    assert json.loads((tmp_path / "d.json").read_text())["protected"] == d["protected"]


# ---------------------------------------------------------------- replace table, secrets, violations, lifecycle


def test_every_emitted_resource_type_has_a_sourced_replace_entry(any_plan: engine.Plan) -> None:
    table = replace_on_changes.table()
    assert {"hashicorp/terraform-provider-google", "pulumi/pulumi-kubernetes"} <= set(table["sources"])
    for src in ("hashicorp/terraform-provider-google", "pulumi/pulumi-kubernetes"):
        assert len(table["sources"][src]["commit"]) == 40
    for res in any_plan.resources:
        if res.custom and not res.type.startswith("pulumi:providers:"):
            assert replace_on_changes.known(res.type), res.type
            assert table["types"][res.type]["source"], res.type


@pytest.mark.parametrize(
    ("type_", "prop"),
    [
        ("aws:rds/instance:Instance", "engine"),
        ("aws:s3/bucket:Bucket", "bucket"),
        ("aws:eks/cluster:Cluster", "name"),
        ("gcp:storage/bucket:Bucket", "name"),
        ("gcp:container/cluster:Cluster", "name"),
        ("kubernetes:core/v1:Namespace", "metadata.name"),
        ("kubernetes:core/v1:ConfigMap", "metadata.namespace"),
        ("kubernetes:helm.sh/v3:Release", "namespace"),
    ],
)
def test_identity_properties_force_replacement(type_: str, prop: str) -> None:
    assert prop in replace_on_changes.properties(type_)


def _plan(resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"project": "ml-platform", "stack": "dev", "resources": resources, "violations": [], "cost": {}, **extra}


def _res(urn: str, type_: str, inputs: dict[str, Any], protect: bool = False) -> dict[str, Any]:
    return {"urn": urn, "type": type_, "custom": True, "protect": protect, "retain_on_delete": False, "inputs": inputs}


def test_replace_marker_only_on_replace_on_change_properties() -> None:
    db = "urn:pulumi:dev::ml-platform::aws:rds/instance:Instance::db"
    old = _plan([_res(db, "aws:rds/instance:Instance", {"engine": "postgres", "instanceClass": "db.t4g.small"}, protect=True)])
    new = copy.deepcopy(old)
    new["resources"][0]["inputs"]["instanceClass"] = "db.t4g.large"
    d = diff.diff(old, new)
    assert d["changed"][0]["replace"] is False and d["protected"] == []
    new["resources"][0]["inputs"]["engine"] = "mysql"
    d = diff.diff(old, new)
    assert d["changed"][0]["replace"] is True
    assert {c["path"]: c["replace"] for c in d["changed"][0]["changes"]} == {"engine": True, "instanceClass": False}
    assert d["protected"] == [
        {"urn": db, "type": "aws:rds/instance:Instance", "action": "replace", "retain_on_delete": False, "paths": ["engine"]}
    ]
    # a whole list that holds a replace-on-change field counts ([*] paths)
    job = "urn:pulumi:dev::ml-platform::kubernetes:batch/v1:Job::j"
    a = _plan([_res(job, "kubernetes:batch/v1:Job", {"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}})])
    b = copy.deepcopy(a)
    b["resources"][0]["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "b"
    assert diff.diff(a, b)["changed"][0]["replace"] is True


def test_deleting_a_protected_resource_is_called_out_and_fails_ci(tmp_path: Path) -> None:
    bucket = "urn:pulumi:dev::ml-platform::aws:s3/bucket:Bucket::lake-raw"
    policy = "urn:pulumi:dev::ml-platform::aws:s3/bucketPolicy:BucketPolicy::lake-raw"
    old = _plan(
        [
            _res(bucket, "aws:s3/bucket:Bucket", {"bucket": "b"}, protect=True),
            _res(policy, "aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b"}),
        ]
    )
    new = _plan([])
    d = diff.diff(old, new)
    assert d["protected"] == [
        {"urn": bucket, "type": "aws:s3/bucket:Bucket", "action": "delete", "retain_on_delete": False, "paths": []}
    ]
    assert diff.headline(d).startswith("+0 ~0 -2")
    md = diff.markdown(d)
    assert "> - **delete** `aws:s3/bucket:Bucket::lake-raw`" in md and "`aws:s3/bucket:Bucket::lake-raw` **(protected)**" in md
    (tmp_path / "b.json").write_text(json.dumps(old))
    (tmp_path / "h.json").write_text(json.dumps(new))
    assert cli.main(["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--fail-on", "replace-protected"]) == 1
    assert (
        cli.main(["diff", str(tmp_path / "h.json"), str(tmp_path / "b.json"), "--fail-on", "replace-protected"]) == 0
    )  # adding it back


def test_secrets_never_printed_even_if_one_side_is_plain() -> None:
    urn = "urn:pulumi:dev::ml-platform::kubernetes:core/v1:Secret::s"
    old = _plan([_res(urn, "kubernetes:core/v1:Secret", {"stringData": {"password": "[secret]"}, "extra": ["[secret]"]})])
    new = _plan([_res(urn, "kubernetes:core/v1:Secret", {"stringData": {"password": "hunter2"}, "extra": ["hunter3", "x"]})])
    d = diff.diff(old, new)
    text = json.dumps(d) + diff.markdown(d)
    assert "hunter" not in text
    assert {c["path"]: (c["old"], c["new"]) for c in d["changed"][0]["changes"]} == {
        "stringData.password": ("[secret]", "[secret]"),
        "extra": ("[secret]", "[secret]"),
    }


def test_violations_and_lifecycle_new_fixed_unchanged() -> None:
    def v(policy: str) -> dict[str, str]:
        return {"pack": "security", "policy": policy, "enforcement": "mandatory", "urn": "u", "message": f"{policy} broken"}

    def p(check: str) -> dict[str, str]:
        return {"check": check, "urn": "u", "message": f"{check} problem"}

    old = _plan(
        [], violations=[v("a"), v("b")], lifecycle={"create_waves": [], "destroy_waves": [], "problems": [p("x"), p("y")]}
    )
    new = _plan(
        [], violations=[v("b"), v("c")], lifecycle={"create_waves": [], "destroy_waves": [], "problems": [p("y"), p("z")]}
    )
    d = diff.diff(old, new)
    assert [x["policy"] for x in d["violations"]["new"]] == ["c"]
    assert [x["policy"] for x in d["violations"]["fixed"]] == ["a"]
    assert [x["policy"] for x in d["violations"]["unchanged"]] == ["b"]
    assert [x["check"] for x in d["lifecycle"]["new"]] == ["z"] and [x["check"] for x in d["lifecycle"]["fixed"]] == ["x"]
    assert not d["empty"]
    md = diff.markdown(d)
    assert "1 new policy violation(s)" in md and "1 new lifecycle problem(s)" in md
    # a plan without the lifecycle field (older plan JSON) on either side: nothing invented
    del old["lifecycle"]
    d = diff.diff(old, new)
    assert d["lifecycle"]["available"] == {"base": False, "head": True}
    assert [x["check"] for x in d["lifecycle"]["new"]] == ["y", "z"]
    assert "not in the base plan" in diff.markdown(d)


def test_markdown_headline_sections_and_team_chart() -> None:
    urn = "urn:pulumi:dev::ml-platform::aws:s3/bucket:Bucket::b"
    old = _plan([], cost={"monthly_usd": 100.0, "monthly_usd_idle": 10.0,
                          "by_team": {"a": {"monthly_usd": 60.0, "monthly_usd_idle": 0.0}}, "by_pool": {}, "by_item": []})  # fmt: skip
    new = _plan([_res(urn, "aws:s3/bucket:Bucket", {"bucket": "x"})],
                cost={"monthly_usd": 4220.0, "monthly_usd_idle": 10.0,
                      "by_team": {"a": {"monthly_usd": 4180.0, "monthly_usd_idle": 0.0}}, "by_pool": {}, "by_item": []})  # fmt: skip
    d = diff.diff(old, new)
    assert diff.headline(d) == "+1 ~0 -0, +$4,120/month at ceiling"
    md = diff.markdown(d)
    assert "**+1 ~0 -0, +$4,120/month at ceiling**" in md
    assert "<details><summary>Added (1)</summary>" in md
    assert "```mermaid\nxychart-beta" in md and 'x-axis ["a"]' in md and "bar [4120]" in md


def test_a_diff_too_long_for_a_github_comment_is_shortened() -> None:
    base = _plan(
        [
            _res(
                f"urn:pulumi:dev::ml-platform::aws:iam/role:Role::r{i}",
                "aws:iam/role:Role",
                {"name": f"r{i}", "path": "/a/" + "x" * 200},
            )
            for i in range(60)
        ]
    )
    head = copy.deepcopy(base)
    for r in head["resources"]:
        r["inputs"]["path"] = "/b/" + "y" * 200
        r["inputs"]["description"] = "z" * 200
    d = diff.diff(base, head)
    full = diff.markdown(d)
    assert "| `path` |" in full and len(full) > 20_000
    compact = diff.markdown(d, max_chars=20_000)  # changed paths without values
    assert len(compact) <= 20_000 and "**`aws:iam/role:Role::r59`**: `description`, `path` **(replace)**" in compact
    cut = diff.markdown(d, max_chars=3_000)
    assert len(cut) <= 3_000 and "artifact" in cut and cut.count("<details") == cut.count("</details>")
    assert cut.startswith("## ml-platform plan diff: `dev`\n\n**+0 ~60 -0, +$0/month at ceiling**")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a plan JSON"),
        ('{"project": "ml-platform", "stack": "dev"}', "'resources' missing"),
        ('{"project": "ml-platform", "stack": "prod", "resources": []}', "different stacks: 'dev' vs 'prod'"),
        ('{"project": "other", "stack": "dev", "resources": []}', "different projects"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_plan([])))
    head = tmp_path / "head.json"
    if content is not None:
        head.write_text(content)
    assert cli.main(["diff", str(base), str(head), "--markdown", str(tmp_path / "out.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "out.md").exists()  # nothing half-written


def test_an_unwritable_output_path_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_plan([])))
    assert cli.main(["diff", str(plan), str(plan), "--markdown", str(plan / "comment.md")]) == 2  # under a file
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot write {plan / 'comment.md'}")


def test_generator_reads_force_new_from_a_terraform_schema() -> None:
    """bench/gen_replace_on_changes.py: ForceNew fields, nested blocks (MaxItems 1 = object, else [*]), not Identity."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_roc", ROOT / "bench" / "gen_replace_on_changes.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    go = """
func ResourceThing() *schema.Resource {
	return &schema.Resource{
		Identity: &schema.ResourceIdentity{SchemaFunc: func() map[string]*schema.Schema {
			return map[string]*schema.Schema{"identity_only": {Type: schema.TypeString, ForceNew: true}}
		}},
		Schema: map[string]*schema.Schema{
			"name": {Type: schema.TypeString, Required: true, ForceNew: true, Description: `a "quoted" {brace}`},
			"labels": {Type: schema.TypeMap, Optional: true},
			"network_config": {
				Type: schema.TypeList, MaxItems: 1, Optional: true,
				Elem: &schema.Resource{Schema: map[string]*schema.Schema{
					"pod_range": {Type: schema.TypeString, ForceNew: true},
					"enable": {Type: schema.TypeBool},
				}},
			},
			"rule": {
				Type: schema.TypeList, Optional: true,
				Elem: &schema.Resource{Schema: map[string]*schema.Schema{
					"action_type": {Type: schema.TypeString, ForceNew: true},
				}},
			},
		},
	}
}
"""
    props = gen.schema_entries(go, gen.resource_schema_open(go, "ResourceThing"))
    assert sorted(props) == ["name", "networkConfig.podRange", "rule[*].actionType"]
