"""checkov over the Kubernetes manifests of every stack (``plan --manifests``), once per session.

Fails on any finding not in ``tests/checkov_allowlist.yaml`` (which gives each accepted finding a
reason) and on an allow-list entry that matches nothing any more. checkov lives in its own
virtualenv (``make test`` builds ``.venv-checkov`` from ``requirements-checkov.txt``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from infra.plan import engine, report
from tests.helpers import ROOT, STACKS

ALLOWLIST = ROOT / "tests" / "checkov_allowlist.yaml"


def _checkov() -> str:
    path = Path(os.environ.get("CHECKOV") or ROOT / ".venv-checkov" / "bin" / "checkov")
    assert path.is_file(), f"checkov not found at {path}: run `make test` (it builds .venv-checkov) or set CHECKOV"
    return str(path)


def test_checkov_finds_nothing_beyond_the_allow_list(plan_of: Callable[[str], engine.Plan], tmp_path: Path) -> None:
    for stack in STACKS:
        report.write_manifests(plan_of(stack), tmp_path / stack)
    result = subprocess.run(
        [
            _checkov(),
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: findings (judged below)
    runs = json.loads(result.stdout)
    runs = runs if isinstance(runs, list) else [runs]
    (run,) = [r for r in runs if r.get("check_type") == "kubernetes"]
    summary = run["summary"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] > 100, summary
    allowed = yaml.safe_load(ALLOWLIST.read_text())
    for entry in allowed:
        assert entry.get("reason", "").strip(), f"{entry}: every allow-list entry needs a reason"
    keys = {(e["check"], e["resource"]) for e in allowed}
    found = {(f["check_id"], f["resource"]): f for f in run["results"]["failed_checks"]}
    unexpected = [f"{k[0]} {k[1]} ({f['file_path']}): {f['check_name']}" for k, f in found.items() if k not in keys]
    assert unexpected == [], "checkov findings not in tests/checkov_allowlist.yaml:\n" + "\n".join(unexpected)
    stale = sorted(keys - set(found))
    assert stale == [], f"allow-list entries that match no finding any more (remove them): {stale}"
