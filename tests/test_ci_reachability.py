"""Where ``pulumi up`` runs must reach the cluster API: config checks and the workflows' runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import config
from tests.helpers import ROOT, raw_config

WORKFLOWS = ROOT / ".github" / "workflows"


def problems_of(raw: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        config.parse(raw)
    except config.ConfigError as err:
        return err.problems
    return []


@pytest.mark.parametrize("base", ["prod", "gcp-prod"])
@pytest.mark.parametrize(
    ("cluster", "key", "says"),
    [
        (
            {"deployFrom": "githubHosted"},
            "ml-platform:cluster.deployFrom",
            ["'githubHosted'", "publicAccessCidrs is empty", "allowed: 'vpc'"],
        ),
        ({"deployFrom": "publicCidrs"}, "ml-platform:cluster.deployFrom", ["'publicCidrs'", "private only"]),
        (
            {"publicAccessCidrs": ["203.0.113.0/24"]},
            "ml-platform:cluster.publicAccessCidrs",
            ["203.0.113.0/24", "documentation range"],
        ),
        (
            {"publicAccessCidrs": ["192.0.2.16/28"]},
            "ml-platform:cluster.publicAccessCidrs",
            ["192.0.2.16/28", "documentation range"],
        ),
        ({"deployFrom": "anywhere"}, "ml-platform:cluster.deployFrom", ["anywhere", "vpc", "githubHosted", "publicCidrs"]),
    ],
    ids=["github-hosted-private-only", "public-cidrs-private-only", "doc-cidr-3", "doc-cidr-1", "unknown"],
)
def test_unreachable_deployer_combinations_are_refused(base: str, cluster: dict[str, Any], key: str, says: list[str]) -> None:
    raw = raw_config(base)
    raw["cluster"] = {**raw.get("cluster", {}), **cluster}
    problems = problems_of(raw)
    found = [reason for path, reason in problems if path == key]
    assert found, problems
    assert all(s in " ".join(found) for s in says), found


def test_eks_public_endpoint_cidrs_must_be_public_addresses() -> None:
    raw = raw_config("prod")
    raw["cluster"] |= {"deployFrom": "publicCidrs", "publicAccessCidrs": ["52.10.20.0/28", "10.20.0.0/16"]}
    assert [p for p, _ in problems_of(raw)] == ["ml-platform:cluster.publicAccessCidrs[1]"]
    raw["cluster"]["publicAccessCidrs"] = ["52.10.20.0/28"]
    assert problems_of(raw) == []


def test_github_hosted_runners_are_refused_for_a_private_only_cluster() -> None:
    private = config.parse(raw_config("prod"))
    assert private.cluster.deploy_from == "vpc" and not private.cluster.public_access_cidrs
    [(key, reason)] = config.runner_problems(private, "github-hosted")
    assert key == "ml-platform:cluster.deployFrom" and "DEPLOY_RUNNERS" in reason and "GitHub-hosted" in reason
    assert config.runner_problems(private, "self-hosted") == []
    assert config.runner_problems(private, None) == []  # not in CI: a laptop on the VPN, a bastion
    raw = raw_config("prod")
    raw["cluster"] |= {"deployFrom": "githubHosted", "publicAccessCidrs": ["52.10.20.0/28"]}
    assert config.runner_problems(config.parse(raw), "github-hosted") == []
    assert config.runner_problems(config.parse(raw_config("onprem")), "github-hosted") == []


def test_the_program_stops_before_registering_anything_on_an_unreachable_runner(tmp_path: Path) -> None:
    """``pulumi up`` from a GitHub-hosted job on a private-only stack fails in the program's config
    step (the workflow sets ML_PLATFORM_RUNNER), naming the key - nothing is half-created."""
    code = (
        "import sys; from infra.plan import engine; from tests.helpers import raw_config\n"
        "try:\n"
        "    resources, _ = engine.run_program('prod', raw_config('prod'), [])\n"
        "except Exception as exc:\n"
        "    print('FAILED', exc); sys.exit(3)\n"
        "print('REGISTERED', len(resources))\n"
    )
    env = {**os.environ, config.RUNNER_ENV: "github-hosted"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 3, text
    assert "cluster.deployFrom" in text and "REGISTERED" not in text


# ---- workflows: deploy / preview jobs pick a runner per stack and tell the program which -----------


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


@pytest.mark.parametrize("workflow", ["deploy.yml", "preview.yml"])
def test_jobs_that_reach_clusters_run_on_the_runner_chosen_per_stack(workflow: str) -> None:
    jobs = _load(workflow)["jobs"]
    reaching = {
        name: job for name, job in jobs.items() if any(s.get("uses", "").startswith("pulumi/actions@") for s in job["steps"])
    }
    assert reaching, workflow
    for name, job in reaching.items():
        runs_on = job["runs-on"]
        # one repository variable maps stack -> runner label(s); unset stacks stay on GitHub-hosted runners
        assert "fromJSON(vars.DEPLOY_RUNNERS" in runs_on and "[matrix.stack]" in runs_on and "'ubuntu-latest'" in runs_on, (
            name,
            runs_on,
        )
        [step] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
        assert step.get("env", {}).get(config.RUNNER_ENV) == "${{ runner.environment }}", name
    # the offline plan needs no cluster: it stays on GitHub-hosted runners without the variable
    for name, job in jobs.items():
        if name not in reaching:
            assert job["runs-on"] == "ubuntu-latest", name
