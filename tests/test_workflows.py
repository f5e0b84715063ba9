"""The GitHub workflows: triggers, jobs, permissions, and that every stack file is covered."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import config

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
STACK_FILES = sorted(ROOT.glob("stacks/Pulumi.*.yaml"))
STACKS = {p.name[len("Pulumi.") : -len(".yaml")]: config.load_stack(p.name[len("Pulumi.") : -len(".yaml")]) for p in STACK_FILES}
# The inputs pulumi/actions v7 declares in its action.yml that these workflows use.
PULUMI_ACTION_INPUTS = {
    "command", "stack-name", "work-dir", "comment-on-pr", "edit-pr-comment", "github-token", "cloud-url",
    "secrets-provider", "refresh", "diff", "policyPacks", "policyPackConfigs", "upsert", "expect-no-changes",
}  # fmt: skip
TIERS = {"dev": "up-dev", "staging": "up-staging", "prod": "up-prod"}


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True)  # PyYAML reads the key `on` as the boolean True
    return doc


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def matrix_stacks(job: dict[str, Any]) -> list[str]:
    matrix = job["strategy"]["matrix"]
    return list(matrix["stack"]) if "stack" in matrix else [e["stack"] for e in matrix["include"]]


def assert_cloud_matches(job: dict[str, Any]) -> None:
    for entry in job["strategy"]["matrix"]["include"]:
        assert entry["cloud"] == STACKS[entry["stack"]].cloud, entry


def assert_oidc_only(job: dict[str, Any], role_var: str) -> None:
    (aws,) = steps_using(job, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.%s }}" % role_var  # noqa: UP031
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"])
    assert job["permissions"]["id-token"] == "write"
    (gcp,) = steps_using(job, "google-github-actions/auth")
    assert gcp["if"] == "matrix.cloud == 'gcp'" and "workload_identity_provider" in gcp["with"]


def pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = steps_using(job, "pulumi/actions")
    assert re.fullmatch(r"pulumi/actions@[0-9a-f]{40}", step["uses"]), step[
        "uses"
    ]  # pinned by commit (tests/test_supply_chain.py)
    assert set(step["with"]) <= PULUMI_ACTION_INPUTS, set(step["with"]) - PULUMI_ACTION_INPUTS
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    packs = step["with"]["policyPacks"].splitlines()
    assert packs and all(re.fullmatch(r"policies/[a-z][a-z0-9-]*", p) for p in packs), packs
    # every policy pack of the repository (a directory with a PulumiPolicy.yaml) runs, and only those
    existing = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("policies/*/PulumiPolicy.yaml")}
    assert existing and set(packs) == existing, (packs, existing)
    # the config of each pack, in the same order, for the stack's environment (cost is advisory in dev)
    configs = step["with"]["policyPackConfigs"].splitlines()
    assert configs == [f"{p}/config/${{{{ matrix.env }}}}.json" for p in packs]
    for entry in job["strategy"]["matrix"]["include"]:
        doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{entry['stack']}.yaml").read_text())
        assert entry["env"] == doc["config"]["ml-platform:environment"], entry
        for pack in packs:
            assert (ROOT / pack / "config" / f"{entry['env']}.json").is_file(), (pack, entry)
    return step


def test_there_are_stacks_to_cover() -> None:
    assert {"dev", "staging", "prod"} <= set(STACKS)


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_no_stored_cloud_keys_and_least_default_permissions(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert not re.search(r"(?i)aws[-_]access[-_]key|aws[-_]secret|credentials_json|secrets\.PULUMI_ACCESS_TOKEN", text)
    doc = load(name)
    assert doc["permissions"] == {}  # nothing by default; each job asks for what it needs
    for job_name, job in doc["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{job_name} must declare its permissions"
        assert set(perms.values()) <= {"read", "write"}
        if perms.get("id-token") == "write":  # only jobs that actually assume a cloud role
            assert steps_using(job, "aws-actions/configure-aws-credentials"), job_name


def test_preview_runs_tests_then_offline_plan_of_every_stack() -> None:
    doc = load("preview.yml")
    assert set(doc["on"]) == {"pull_request"}
    jobs = doc["jobs"]
    assert any(s.get("run", "").strip() == "make test" for s in jobs["test"]["steps"])

    plan = jobs["plan"]
    assert plan["needs"] == "test"
    assert sorted(matrix_stacks(plan)) == sorted(STACKS)  # every stack file, nothing else
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    step = next(s for s in plan["steps"] if "python -m infra plan" in s.get("run", ""))
    # expressions reach the script through env, never spliced into it (template injection)
    assert "${{" not in step["run"] and step["env"]["STACK"] == "${{ matrix.stack }}"
    command = " ".join(step["run"].replace("\\\n", " ").replace("$STACK", "${{ matrix.stack }}").split())
    json_path, md_path = "build/plan-${{ matrix.stack }}.json", "build/plan-${{ matrix.stack }}.md"
    assert '--stack "${{ matrix.stack }}"' in command
    assert f'--json "{json_path}"' in command and f'--markdown "{md_path}"' in command

    (comment,) = steps_using(plan, "marocchino/sticky-pull-request-comment")
    assert "${{ matrix.stack }}" in comment["with"]["header"]  # one sticky comment per stack
    assert comment["with"]["path"] == "build/comment-${{ matrix.stack }}.md"
    assert "head.repo.full_name == github.repository" in comment["if"]
    (upload,) = steps_using(plan, "actions/upload-artifact")
    assert json_path in upload["with"]["path"].splitlines() and upload["if"] == "always()"
    assert "build/diff-${{ matrix.stack }}.json" in upload["with"]["path"].splitlines()  # the full diff too
    assert "${{ matrix.stack }}" in upload["with"]["name"]
    # the job still fails on violations, after the comment and the artifact
    last = plan["steps"][-1]
    assert "steps.plan.outputs.rc" in last["if"] and "exit" in last["run"]


def test_preview_comments_the_diff_against_the_base_branchs_plan() -> None:
    """The comment is the diff of the base commit's plan and the head's (the whole plan when the base has none)."""
    plan = load("preview.yml")["jobs"]["plan"]
    names = [s.get("name", s.get("uses", "")) for s in plan["steps"]]
    step = next(s for s in plan["steps"] if "python -m infra diff" in s.get("run", ""))
    # after the head's plan, before the comment; no extra action (other changes pin the actions' SHAs)
    assert names.index("Offline plan") < names.index(step["name"]) < names.index("Sticky PR comment (one per stack)")
    assert "uses" not in step and step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert step["env"]["STACK"] == "${{ matrix.stack }}"
    script = " ".join(step["run"].replace("\\\n", " ").split())
    # the base commit is checked out as its own tree and planned by its own code
    assert (
        'git fetch --no-tags --depth=1 origin "$BASE_SHA"' in script
        and "git worktree add --detach build/base-src FETCH_HEAD" in script
    )
    assert '(cd build/base-src && python -m infra plan --stack "$STACK" --json "../base-$STACK.json"' in script
    diff_cmd = 'python -m infra diff "build/base-$STACK.json" "build/plan-$STACK.json" --markdown "build/comment-$STACK.md" --json "build/diff-$STACK.json"'
    assert diff_cmd in script
    # no base plan (a new stack, or the base fails): the comment is the whole plan
    assert 'cat "build/plan-$STACK.md"; } > "build/comment-$STACK.md"' in script
    assert "build/plan-{0}.json" in step["if"]  # only when the head planned


def test_preview_runs_pulumi_preview_only_with_credentials() -> None:
    job = load("preview.yml")["jobs"]["pulumi-preview"]
    assert job["needs"] == "plan"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert sorted(matrix_stacks(job)) == sorted(STACKS)
    assert_cloud_matches(job)
    assert_oidc_only(job, "AWS_PREVIEW_ROLE_ARN")
    step = pulumi_step(job)
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True and step["with"]["refresh"] is True
    # least privilege: read the code, assume the role by OIDC, write its PR comment - nothing else
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in job["if"]  # no role configured: skipped, not failed


def test_deploy_goes_dev_then_staging_then_prod_with_approval() -> None:
    doc = load("deploy.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    jobs = doc["jobs"]
    assert jobs["up-dev"]["needs"] == "test"
    assert jobs["up-staging"]["needs"] == "up-dev"
    assert jobs["up-prod"]["needs"] == "up-staging"
    assert jobs["up-prod"]["environment"] == "production"
    assert any(s.get("run", "").strip() == "make test" for s in jobs["test"]["steps"])

    covered: dict[str, str] = {}
    for job_name in (*TIERS.values(), "up-fleet"):
        job = jobs[job_name]
        for stack in matrix_stacks(job):
            assert stack not in covered, f"{stack} deployed twice"
            covered[stack] = job_name
        assert_cloud_matches(job)
        assert_oidc_only(job, "AWS_DEPLOY_ROLE_ARN")
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert job["concurrency"] == {"group": "pulumi-up-${{ matrix.stack }}", "cancel-in-progress": False}
        step = pulumi_step(job)
        assert step["with"]["command"] == "up"
    # every stack file is deployed, in the tier of its environment
    # a fleet manager goes after every tier: it reads its worker stacks' outputs (docs/hybrid.md)
    assert jobs["up-fleet"]["needs"] == "up-prod"
    assert covered == {
        name: "up-fleet" if cfg.fleet.role == "manager" else TIERS[cfg.environment] for name, cfg in STACKS.items()
    }
