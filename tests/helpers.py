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


def unwrap_secrets(value: Any) -> Any:
    """Mock-engine inputs with Pulumi's secret envelopes removed."""
    from pulumi.runtime import rpc

    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value
