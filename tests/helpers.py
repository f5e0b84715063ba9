"""Small helpers for reading plans in tests."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def stack_doc(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())


def raw_config(stack: str) -> dict[str, Any]:
    """The ``ml-platform:`` keys of a stack file, prefix stripped (a deep copy to mutate)."""
    cfg = stack_doc(stack)["config"]
    return copy.deepcopy({k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("ml-platform:")})


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
