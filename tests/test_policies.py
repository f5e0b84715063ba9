"""The policy packs: their shape as real Pulumi packs, their config files, and each rule on fixtures."""

from __future__ import annotations

import ast
import json
import re
import runpy
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pulumi_policy
import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

import policies
from catalog import conventions as cv
from infra import policy_hook
from infra.plan import engine
from policies.common import taggable
from tests import policy_fixtures as fx
from tests.helpers import ROOT

PACK_NAME_RE = re.compile(r"^[a-zA-Z0-9-_.]{1,100}$")  # pulumi_policy's own rule for pack (and policy) names
ID_RE = {"tagging": r"^mlp-tag-\d{3}$", "security": r"^mlp-sec-\d{3}$", "cost": r"^mlp-cost-\d{3}$"}
ALL_POLICIES = [(pack, p) for pack in policies.PACKS for p in policies.load_pack(pack).POLICIES]
CASES = fx.cases()


# ---- packs as Pulumi sees them ------------------------------------------------------------------


@pytest.mark.parametrize("pack", policies.PACKS)
def test_pack_directory_is_a_python_policy_pack(pack: str) -> None:
    import yaml

    directory = ROOT / "policies" / pack
    project = yaml.safe_load((directory / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    reqs = (directory / "requirements.txt").read_text()
    pinned = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert f"pulumi-policy=={pinned['pulumi-policy']}" in reqs.splitlines()


@pytest.mark.parametrize("pack", policies.PACKS)
def test_pack_main_only_builds_the_policy_pack_from_the_rule_list(pack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []

    class FakePack:  # the real one starts a gRPC server and blocks
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePack)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT])  # as the CLI runs it
    runpy.run_path(str(ROOT / "policies" / pack / "__main__.py"), run_name="__main__")
    module = policies.load_pack(pack)
    assert len(built) == 1
    assert built[0]["name"] == module.NAME and PACK_NAME_RE.match(module.NAME)
    assert [p.name for p in built[0]["policies"]] == [p.name for p in module.POLICIES]
    assert built[0]["enforcement_level"] == EnforcementLevel.MANDATORY


def test_pack_mains_import_the_rules_from_outside_the_repo(tmp_path: Path) -> None:
    """As the CLI runs a pack: another working directory, the repo not on sys.path until __main__ adds it."""
    import os
    import subprocess

    script = (
        "import runpy, sys, pulumi_policy\n"
        "built = []\n"
        "pulumi_policy.PolicyPack = lambda **kw: built.append((kw['name'], len(kw['policies'])))\n"
        "assert 'policies' not in sys.modules\n"
        f"for pack in {list(policies.PACKS)!r}:\n"
        f"    runpy.run_path({str(ROOT / 'policies')!r} + '/' + pack + '/__main__.py', run_name='__main__')\n"
        "print(built)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-P", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    expected = [(policies.load_pack(p).NAME, len(policies.load_pack(p).POLICIES)) for p in policies.PACKS]
    assert result.stdout.strip() == repr(expected)


def test_policy_pack_is_constructed_only_in_pack_mains() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        # our sources only: no virtualenvs (.venv, .venv-checkov, .venv-lock), caches or build output
        if any(part in {"venv", "build", "tests"} or part.startswith(".") for part in path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "PolicyPack":
                if path.name != "__main__.py" or path.parent.parent != ROOT / "policies":
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_policy_ids_are_stable_unique_and_one_per_module() -> None:
    names = [p.name for _, p in ALL_POLICIES]
    assert len(names) == len(set(names))
    for pack, policy in ALL_POLICIES:
        assert re.match(ID_RE[pack], policy.name), policy.name
        assert PACK_NAME_RE.match(policy.name)
        assert policy.description and policy.severity is not None and policy.config_schema is not None
        assert isinstance(policy, (ResourceValidationPolicy, StackValidationPolicy))
    for pack in policies.PACKS:
        modules = [p for p in (ROOT / "policies" / pack).glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
        ids = []
        for mod in modules:
            tree = ast.parse(mod.read_text())
            assigned = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
            assert assigned.count("POLICY") == 1, mod
            doc = ast.get_docstring(tree) or ""
            ids.append(doc.split(":")[0].lower())
        assert sorted(ids) == sorted(p.name for p in policies.load_pack(pack).POLICIES)


def test_policies_import_neither_components_nor_infra() -> None:
    """Module-level imports (what a pack's own virtualenv must satisfy): stdlib, pulumi_policy, catalog, policies."""
    for path in (ROOT / "policies").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    top = name.split(".")[0]
                    assert top in {"__future__", "pulumi_policy", "catalog", "policies"} or top in sys.stdlib_module_names, (
                        path,
                        name,
                    )


# ---- pack config files ---------------------------------------------------------------------------


def _config_validator(policy: Any) -> jsonschema.Draft7Validator:
    props = dict(policy.config_schema.properties)
    props["enforcementLevel"] = {"enum": [e.value for e in EnforcementLevel]}
    return jsonschema.Draft7Validator({"type": "object", "properties": props, "additionalProperties": False})


@pytest.mark.parametrize("env", cv.ENVIRONMENTS)
@pytest.mark.parametrize("pack", policies.PACKS)
def test_pack_config_file_sets_every_policy_and_fits_its_schema(pack: str, env: str) -> None:
    config = policies.pack_config(pack, env)
    module = policies.load_pack(pack)
    assert sorted(config) == sorted(p.name for p in module.POLICIES)
    for policy in module.POLICIES:
        errors = [e.message for e in _config_validator(policy).iter_errors(config[policy.name])]
        assert errors == [], (policy.name, errors)
        if "environment" in policy.config_schema.properties:
            assert config[policy.name]["environment"] == env
        expected = "advisory" if (pack, env) == ("cost", "dev") else "mandatory"
        assert config[policy.name]["enforcementLevel"] == expected


def test_schema_defaults_fit_their_own_schema() -> None:
    for _, policy in ALL_POLICIES:
        defaults = {k: v["default"] for k, v in policy.config_schema.properties.items() if "default" in v}
        assert [e.message for e in _config_validator(policy).iter_errors(defaults)] == [], policy.name


# ---- each policy: compliant and violating fixtures -------------------------------------------


def _found(resources: list[Any], env: str, policy: str, overrides: dict[str, Any]) -> list[engine.Violation]:
    return [v for v in policy_hook.evaluate_resources(resources, env, overrides=overrides) if v.policy == policy]


def test_every_policy_has_fixtures() -> None:
    assert {c.policy for c in CASES} == {p.name for _, p in ALL_POLICIES}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.policy}-{i}" for i, c in enumerate(CASES)])
def test_policy_fixture(case: fx.Case) -> None:
    good = _found(case.good, case.env, case.policy, case.good_overrides)
    bad = _found(case.bad, case.env, case.policy, case.bad_overrides)
    assert good == [], [v.message for v in good]
    assert bad, f"{case.policy} did not flag its violating fixture"
    assert all(v.message for v in bad)
    assert {v.urn for v in bad} <= {r.urn for r in case.bad} | {""}


def test_enforcement_follows_the_environment_config() -> None:
    bad = fx.node_pool(types=["p5.48xlarge"], gpu_limit=1000)
    dev = _found(fx._with("dev", bad), "dev", "mlp-cost-002", {})
    prod = _found(fx._with("prod", bad), "prod", "mlp-cost-002", {})
    assert {v.enforcement for v in dev} == {"advisory"}
    assert {v.enforcement for v in prod} == {"mandatory"}
    assert {v.enforcement for v in _found(fx._with("dev", fx.res("aws:kms/key:Key", "k", {})), "dev", "mlp-sec-005", {})} == {
        "mandatory"
    }


def test_provider_default_tags_count_whether_json_encoded_or_not() -> None:
    plain_provider = fx.res(fx.AWS_PROVIDER, "aws", {"defaultTags": {"tags": fx.tags()}})
    resources = [plain_provider, fx.res(fx.BUCKET, "b", {})]
    assert _found(resources, "prod", "mlp-tag-001", {}) == []
    assert _found(fx._with("prod", fx.res(fx.BUCKET, "b", {})), "prod", "mlp-tag-001", {}) == []


def test_environment_falls_back_to_the_environment_tag_without_pack_config() -> None:
    from policies.security import db_deletion_protection

    def violations(env_tag: str) -> list[str]:
        found: list[str] = []
        props = {"deletionProtection": False, "tags": {cv.TAG_ENVIRONMENT: env_tag}}
        args = pulumi_policy.ResourceValidationArgs(fx.RDS, props, "urn:x", "db", None, None)  # type: ignore[arg-type]

        def report(msg: str, urn: str | None = None) -> None:
            found.append(msg)

        db_deletion_protection.POLICY.validate(args, report)
        return found

    assert violations("prod") and not violations("dev")


def test_unknown_values_are_an_advisory_note_not_a_violation() -> None:
    lt = fx.res(fx.LT, "lt", {"metadataOptions": "[unknown]"})
    found = _found(fx._with("prod", lt), "prod", "mlp-sec-015", {})
    assert [v.enforcement for v in found] == ["advisory"] and "preview" in found[0].message


# ---- taggable types from the SDK schema ----------------------------------------------------------


def test_taggable_type_lists_match_the_pinned_sdks() -> None:
    stored = json.loads(taggable.DATA.read_text())
    assert taggable.generate() == stored, "regenerate: python -m policies.common.taggable --write"
    aws = taggable.aws_taggable()
    assert {"aws:s3/bucket:Bucket", "aws:eks/nodeGroup:NodeGroup", "aws:kms/key:Key", "aws:rds/instance:Instance"} <= aws
    # sub-resources without tags are not taggable
    assert not {"aws:s3/bucketVersioning:BucketVersioning", "aws:iam/rolePolicy:RolePolicy", "aws:kms/alias:Alias"} & aws
    assert "aws:autoscaling/group:Group" not in aws  # tags there are a list of blocks, not a map
    assert taggable.gcp_label_property()["gcp:container/cluster:Cluster"] == "resourceLabels"
    assert taggable.gcp_label_property()["gcp:storage/bucket:Bucket"] == "labels"


# ---- the stacks ----------------------------------------------------------------------------------


def test_every_stack_plans_without_mandatory_violations(any_plan: engine.Plan) -> None:
    assert [(v.policy, v.urn, v.message) for v in any_plan.mandatory_violations] == []


def test_policies_saw_the_stacks_resources(plan_of: Any) -> None:
    """The clean result above is not vacuous: the AWS stacks hold resources every pack inspects."""
    plan = plan_of("prod")
    types = Counter(r.type for r in plan.resources)
    taggable_count = sum(n for t, n in types.items() if t in taggable.aws_taggable())
    assert taggable_count > 20
    assert types["aws:s3/bucket:Bucket"] >= 1


ENV_SCOPED = [(pack, p) for pack, p in ALL_POLICIES if p.config_schema and "environments" in p.config_schema.properties]


def test_environment_scoped_policies_are_found() -> None:
    assert len(ENV_SCOPED) >= 6


@pytest.mark.parametrize(("pack", "policy"), ENV_SCOPED, ids=[p.name for _, p in ENV_SCOPED])
def test_a_misspelt_environment_in_policy_config_is_refused(pack: str, policy: Any) -> None:
    """`environments: [production]` would silently switch the rule off everywhere; the schema refuses it."""
    prop = policy.config_schema.properties["environments"]
    jsonschema.validate(prop["default"], prop)
    jsonschema.validate(list(cv.ENVIRONMENTS), prop)
    with pytest.raises(jsonschema.ValidationError, match="production"):
        jsonschema.validate(["production"], prop)
