"""CI supply chain (issue 16): zizmor is clean, actions are pinned by commit, checkouts keep no token, Dependabot keeps pins fresh."""

from __future__ import annotations

import json
import re
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def _zizmor() -> str:
    path = Path(sysconfig.get_path("scripts")) / "zizmor"
    assert path.is_file(), f"zizmor is not installed at {path}: pip install -r requirements-dev.txt"
    return str(path)


def test_zizmor_finds_nothing_above_informational() -> None:
    # --offline: no GitHub API here or in CI's test job; the online audits (impostor commits, known
    # vulnerable actions) are Dependabot's and GitHub's job. The auditor persona shows every finding.
    result = subprocess.run(
        [_zizmor(), "--offline", "--persona", "auditor", "--min-severity", "low", "--format", "json", str(GITHUB)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 1, result.stderr  # 1: zizmor itself failed; 10-14: findings (listed below)
    findings: list[dict[str, Any]] = json.loads(result.stdout or "null")
    assert findings == [], "\n".join(f"{f['ident']}: {f['desc']}" for f in findings)
    assert all(f"completed {GITHUB / 'workflows' / w.name}" in result.stderr for w in WORKFLOWS), result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version_in_a_comment(workflow: Path) -> None:
    found = 0
    for n, line in enumerate(workflow.read_text().splitlines(), 1):
        m = USES.match(line)
        if not m or m.group(1).startswith("./"):
            continue
        found += 1
        assert PINNED.match(m.group(1)), f"{workflow.name}:{n}: {m.group(1)} is not pinned to a full commit SHA"
        assert re.fullmatch(r"\s*#\s*v[0-9]+(\.[0-9]+)*", m.group(2)), f"{workflow.name}:{n}: add the version as '# vX.Y.Z'"
    assert found


def _steps(workflow: Path) -> list[tuple[str, dict[str, Any]]]:
    doc = yaml.safe_load(workflow.read_text())
    return [(name, step) for name, job in doc["jobs"].items() for step in job.get("steps", [])]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_keep_no_token_and_scripts_take_no_expressions(workflow: Path) -> None:
    checkouts = [(job, s) for job, s in _steps(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for job, step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, f"{workflow.name} {job}: persist-credentials: false"
    for job, step in _steps(workflow):
        assert "${{" not in step.get("run", ""), f"{workflow.name} {job}: pass expressions through env, not into the script"


def test_dependabot_updates_actions_and_pip_pins() -> None:
    doc = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in doc["updates"]}
    assert updates["github-actions"]["directory"] == "/"
    pip_dirs = set(updates["pip"]["directories"])
    listed = subprocess.run(
        ["git", "ls-files", "*requirements*.txt"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    reqs = [ROOT / line for line in listed.split()]
    assert reqs
    for req in reqs:
        rel = req.parent.relative_to(ROOT).as_posix()
        assert ("/" if rel == "." else f"/{rel}") in pip_dirs, f"{req}: not watched by Dependabot"
    assert "zizmor==" in (ROOT / "requirements-dev.txt").read_text()
