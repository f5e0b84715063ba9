"""The offline plan: what it records, its JSON contract, its reports and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest
import yaml

from infra import config
from infra.plan import engine, report
from tests.helpers import STACKS, run_cli

PLAN_KEYS = {"project", "stack", "config", "resources", "violations", "cost"}
RESOURCE_KEYS = {"urn", "type", "name", "custom", "parent", "provider", "protect", "retain_on_delete", "dependencies", "inputs"}


def _sample_program() -> None:
    prov = aws.Provider("aws", region="eu-west-1")
    keep = aws.s3.Bucket("keep", opts=pulumi.ResourceOptions(provider=prov, protect=True, retain_on_delete=True))
    pw = random.RandomPassword("pw", length=24, special=False)
    aws.s3.Bucket("tagged", tags={"token": pw.result}, opts=pulumi.ResourceOptions(provider=prov, depends_on=[keep]))
    kp = k8s.Provider("k")
    k8s.core.v1.Namespace("ns", metadata={"name": "team-a"}, opts=pulumi.ResourceOptions(provider=kp))
    k8s.helm.v3.Release(
        "rel",
        name="demo",
        chart="demo",
        version="1.2.3",
        namespace="team-a",
        repository_opts={"repo": "https://charts.example.com"},
        values={"replicas": 2},
        opts=pulumi.ResourceOptions(provider=kp),
    )
    pulumi.export("password", pw.result)
    pulumi.export("bucket", keep.bucket)


@pytest.fixture(scope="module")
def sample() -> engine.Plan:
    resources, outputs = engine.run_program("sample", {}, [], program=_sample_program)
    cfg = config.load_stack("dev")
    return engine.Plan(project="ml-platform", stack="sample", config=cfg, resources=resources, outputs=outputs)


def _res(plan: engine.Plan, name: str) -> engine.RecordedResource:
    return next(r for r in plan.resources if r.name == name)


def test_registration_options_are_recorded(sample: engine.Plan) -> None:
    keep, tagged = _res(sample, "keep"), _res(sample, "tagged")
    assert keep.protect and keep.retain_on_delete
    assert not tagged.protect and not tagged.retain_on_delete
    assert keep.urn in tagged.dependencies
    assert tagged.provider.startswith(_res(sample, "aws").urn + "::")
    assert keep.urn == "urn:pulumi:sample::ml-platform::aws:s3/bucket:Bucket::keep"


def test_secrets_never_appear_in_plain_text(sample: engine.Plan) -> None:
    assert _res(sample, "tagged").inputs["tags"]["token"] == "[secret]"
    assert sample.outputs["password"] == "[secret]"
    assert sample.outputs["bucket"].startswith("keep-")
    assert "plan" + "pw" not in json.dumps(sample.to_json())  # the mock password's text


def test_unknown_invoke_is_an_error_not_an_empty_result() -> None:
    def program() -> None:
        aws.ec2.get_ami_output(owners=["amazon"], most_recent=True)

    with pytest.raises(engine.PlanError, match="aws:ec2/getAmi:getAmi"):
        engine.run_program("bad", {}, [], program=program)


def test_known_invoke_is_answered_per_region() -> None:
    seen: dict[str, list[str]] = {}

    def program() -> None:
        for region in ("us-east-1", "eu-central-1"):
            p = aws.Provider(f"p-{region}", region=region)
            azs = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(provider=p))
            azs.names.apply(lambda names, r=region: seen.setdefault(r, names))

    engine.run_program("azs", {}, [], program=program)
    assert seen["eu-central-1"][0] == "eu-central-1a"
    assert seen["us-east-1"][0] == "us-east-1a"


def test_manifests_one_file_per_object(sample: engine.Plan, tmp_path: Path) -> None:
    files = report.write_manifests(sample, tmp_path)
    docs = {p.name: yaml.safe_load(p.read_text()) for p in files}
    assert docs["namespace-cluster-team-a.yaml"]["kind"] == "Namespace"
    assert docs["namespace-cluster-team-a.yaml"]["apiVersion"] == "v1"
    helm = docs["helmrelease-team-a-demo.yaml"]
    assert (helm["chart"], helm["version"], helm["repo"], helm["values"]) == (
        "demo",
        "1.2.3",
        "https://charts.example.com",
        {"replicas": 2},
    )


def test_markdown_has_summary_violations_and_cost(sample: engine.Plan) -> None:
    sample.violations = [engine.Violation("security", "MLP-SEC-001", "mandatory", _res(sample, "keep").urn, "not encrypted")]
    md = report.markdown(sample)
    sample.violations = []
    assert "## ml-platform plan: `sample`" in md
    assert "| `(stack)` | `aws:s3/bucket:Bucket` | 2 |" in md
    assert "MLP-SEC-001" in md and "1 mandatory" in md
    assert "### Cost by team" in md and "### Cost by GPU pool" in md


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_plans_and_json_keeps_the_contract(stack: str, plan_of) -> None:
    plan = plan_of(stack)
    doc = json.loads(json.dumps(plan.to_json()))
    assert PLAN_KEYS <= set(doc)
    assert doc["stack"] == stack and doc["project"] == "ml-platform"
    assert doc["config"]["environment"] in ("dev", "staging", "prod")
    assert set(doc["cost"]) >= {"monthly_usd", "by_team", "by_item"}
    assert doc["resources"], "a stack plans to at least one resource"
    for res in doc["resources"]:
        assert RESOURCE_KEYS <= set(res)
    for v in doc["violations"]:
        assert set(v) >= {"pack", "policy", "enforcement", "urn", "message"}


def test_cli_plan_writes_json_markdown_and_manifests(tmp_path: Path, plan_of) -> None:
    out = run_cli(
        "plan",
        "--stack",
        "dev",
        "--json",
        str(tmp_path / "p.json"),
        "--markdown",
        str(tmp_path / "p.md"),
        "--manifests",
        str(tmp_path / "m"),
    )
    # exit 1 exactly when the plan fails (mandatory violations or deploy-lifecycle problems)
    assert out.returncode == (1 if plan_of("dev").failed else 0), out.stdout + out.stderr
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["stack"] == "dev" and PLAN_KEYS <= set(doc)
    # an independent run of the same config gives the same JSON, order included (clean PR diffs)
    assert doc == json.loads(json.dumps(plan_of("dev").to_json()))
    assert (tmp_path / "p.md").read_text().startswith("## ml-platform plan: `dev`")
    assert "dev" in out.stdout


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c.__setitem__("ml-platform:gpuPool", []), "ml-platform:gpuPool"),
        (lambda c: c["ml-platform:gpuPools"][0].__setitem__("migProfile", "1g.5gb"), "ml-platform:gpuPools[0].migProfile"),
        (lambda c: c["ml-platform:gpuPools"][2].__setitem__("capacity", "spot"), "ml-platform:gpuPools[2].capacity"),
    ],
    ids=["unknown-key", "mig-the-gpu-lacks", "spot-serving-prod"],
)
def test_cli_bad_config_exits_2_naming_the_key(tmp_path: Path, mutate, key: str) -> None:
    doc = yaml.safe_load((Path(__file__).parent.parent / "stacks" / "Pulumi.prod.yaml").read_text())
    mutate(doc["config"])
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))
    out = run_cli("plan", "--stack", "bad", "--stacks-dir", str(tmp_path))
    assert out.returncode == 2
    # one line per mistake, however long: the key, then the reason (allowed values included)
    (line,) = [ln for ln in out.stderr.splitlines() if key in ln]
    assert line.strip().startswith(key + ":") and len(line.split(":", 2)[-1].strip()) > 10, line
    if "unknown" in line:
        assert "allowed:" in line and line.rstrip().endswith("teams"), line
    assert "Traceback" not in out.stderr + out.stdout


def test_cli_usage_error_exits_2() -> None:
    out = run_cli("plan")
    assert out.returncode == 2 and "--stack" in out.stderr and "Traceback" not in out.stderr


def test_cli_missing_stack_file_exits_2() -> None:
    out = run_cli("plan", "--stack", "no-such-stack")
    assert out.returncode == 2 and "no such stack file" in out.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_helm_release_is_pinned_and_atomic(stack: str, plan_of) -> None:
    """A chart without a version follows upstream on every `pulumi up`; a non-atomic release that
    fails half-way leaves a broken add-on behind."""
    releases = plan_of(stack).by_type("kubernetes:helm.sh/v3:Release")
    assert releases
    for rel in releases:
        inputs = rel.inputs
        assert inputs.get("version"), f"{rel.urn}: chart {inputs.get('chart')} has no pinned version"
        assert inputs.get("atomic") is True and inputs.get("cleanupOnFail") is True, rel.urn
        assert inputs["chart"].startswith("oci://") or inputs.get("repositoryOpts", {}).get("repo"), rel.urn


def test_the_engine_entry_runs_the_program_not_the_cli() -> None:
    """`pulumi up` runs the `main: infra/` directory as a script (``runpy.run_path``) under a live
    engine: the entry must build the stack there (the CLI would exit instead)."""
    import runpy

    from tests.helpers import raw_config

    root = Path(__file__).resolve().parent.parent
    recorded, outputs = engine.run_program(
        "onprem", raw_config("onprem"), [], program=lambda: runpy.run_path(str(root / "infra"), run_name="__main__")
    )
    types = {r.type for r in recorded}
    assert "kubernetes:helm.sh/v3:Release" in types and "ml-platform:k8s:Team" in types
    assert outputs, "the program's stack outputs are exported"


def test_the_entry_directory_runs_as_a_script_from_anywhere(tmp_path: Path) -> None:
    """Run as the engine does (the directory as a script, so only ``infra/`` is on sys.path): the
    entry puts the project root on the path itself."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(root / "infra"), "plan", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "--stack" in out.stdout
