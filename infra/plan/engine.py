"""Run the real program under Pulumi's mock engine and collect what it would register."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import config as cfgmod
from infra.plan.mocks import PlanMocks
from infra.plan.recorder import SECRET, RecordedResource, RecordingMonitor

ROOT = Path(__file__).resolve().parent.parent.parent


class PlanError(RuntimeError):
    """The program failed under the mock engine (not a config mistake)."""


@dataclass
class Violation:
    pack: str
    policy: str
    enforcement: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pack": self.pack, "policy": self.policy, "enforcement": self.enforcement, "urn": self.urn, "message": self.message}


@dataclass
class Plan:
    """The outcome of one offline plan. ``to_json`` is the public plan JSON contract."""

    project: str
    stack: str
    config: cfgmod.PlatformConfig
    resources: list[RecordedResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=lambda: {"monthly_usd": 0.0, "by_team": {}, "by_item": []})
    fleet: dict[str, Any] = field(default_factory=lambda: {"role": "none"})
    """The hybrid fleet: a manager's workers in dispatch order, the price of bursting there (infra/plan/fleet.py)."""

    def by_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, urn: str) -> RecordedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def provider_of(self, res: RecordedResource) -> RecordedResource | None:
        return self.get(res.provider_urn) if res.provider else None

    @property
    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "config": self.config.model_dump(mode="json", by_alias=True),
            "resources": [r.to_json() for r in self.resources],
            "violations": [v.to_json() for v in self.violations],
            "cost": self.cost,
            "outputs": self.outputs,
            "fleet": self.fleet,
        }


def project_name() -> str:
    return str(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"])


def _to_pulumi_config(raw: dict[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to a program: strings, structured values JSON-encoded."""
    out = {}
    for key, value in raw.items():
        if isinstance(value, (dict, list)):
            out[f"{cfgmod.NAMESPACE}:{key}"] = json.dumps(value)
        elif isinstance(value, bool):
            out[f"{cfgmod.NAMESPACE}:{key}"] = "true" if value else "false"
        else:
            out[f"{cfgmod.NAMESPACE}:{key}"] = str(value)
    return out


def _reset_runtime() -> None:
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()


async def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, value in outputs.items():
        out = pulumi.Output.from_input(value)
        is_secret = await out.is_secret()
        val = await out.future()
        resolved[name] = SECRET if is_secret else json.loads(json.dumps(val, default=str))
    return resolved


def run_program(stack: str, raw: dict[str, Any], secret_keys: list[str], *, program: Any = None) -> tuple[list[RecordedResource], dict[str, Any]]:
    """Run ``program`` (default: the real ``infra.program.main``) for ``stack`` under mocks."""
    from infra import program as real_program

    program = program or real_program.main
    _reset_runtime()
    runtime_config.set_all_config(_to_pulumi_config(raw), [f"{cfgmod.NAMESPACE}:{k}" for k in secret_keys])
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    mocks.monitor = monitor
    pulumi.runtime.set_mocks(mocks, project=project_name(), stack=stack, preview=False, monitor=monitor)
    root = runtime_settings.get_root_resource()
    try:
        _sync_await(run_pulumi_func(program))
    except cfgmod.ConfigError:
        raise
    except Exception as exc:  # the program or an RPC failed: report it, no traceback for users
        if mocks.unknown_invokes:
            raise PlanError(f"unknown invoke(s): {', '.join(sorted(set(mocks.unknown_invokes)))}") from exc
        raise PlanError(f"the program failed under the mock engine: {type(exc).__name__}: {exc}") from exc
    if mocks.unknown_invokes:
        raise PlanError(f"unknown invoke(s): {', '.join(sorted(set(mocks.unknown_invokes)))}")
    outputs = _sync_await(_resolve_outputs(getattr(root, "outputs", {}) or {}))
    return monitor.recorded, outputs


def plan(stack: str, *, stacks_dir: Path | None = None, stack_path: Path | None = None) -> Plan:
    """Validate the stack file, run the program under mocks, then evaluate policies and cost.

    :raises ConfigError: for a bad stack file (exit code 2).
    :raises PlanError: when the program fails under the mock engine.
    """
    from infra import cost, policy_hook
    from infra.plan import fleet

    path = stack_path or cfgmod.stack_file(stack, stacks_dir)
    raw, secret_keys = cfgmod.read_stack_file(path)
    cfg = cfgmod.parse(raw, secret_keys=secret_keys)  # fail before anything is registered
    cfgmod.check_fleet_stacks(cfg, stack, path.parent)  # a fleet's stacks agree on its teams
    default_dir, cfgmod.STACKS_DIR = cfgmod.STACKS_DIR, path.parent  # a fleet manager reads its workers' files
    try:
        resources, outputs = run_program(stack, raw, secret_keys)
    finally:
        cfgmod.STACKS_DIR = default_dir
    # registration order depends on how the engine's tasks interleave; sort so that two plans of
    # the same config give the same JSON (clean diffs between pull-request previews)
    resources = sorted(resources, key=lambda r: r.urn)
    result = Plan(project=project_name(), stack=stack, config=cfg, resources=resources, outputs=outputs)
    result.cost = cost.estimate(result)
    default_dir, cfgmod.STACKS_DIR = cfgmod.STACKS_DIR, path.parent
    try:
        result.fleet = fleet.summary(cfg)
    finally:
        cfgmod.STACKS_DIR = default_dir
    result.violations = sorted(policy_hook.evaluate(result), key=lambda v: (v.pack, v.policy, v.urn, v.message))
    return result
