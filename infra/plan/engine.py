"""Run the real program under Pulumi's mock engine and collect what it would register."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra import config as cfgmod
from infra import cost, policy_hook
from infra.plan import fleet
from infra.plan import lifecycle as lifecycle_model
from infra.plan import sdk_compat as sdk
from infra.plan.mocks import PlanMocks
from infra.plan.model import SECRET, RecordedResource
from infra.plan.model import Plan as Plan
from infra.plan.model import PlanError as PlanError
from infra.plan.model import Violation as Violation
from infra.plan.recorder import RecordingMonitor

ROOT = Path(__file__).resolve().parent.parent.parent


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


async def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, value in outputs.items():
        out = pulumi.Output.from_input(value)
        is_secret = await out.is_secret()
        val = await out.future()
        resolved[name] = SECRET if is_secret else json.loads(json.dumps(val, default=str))
    return resolved


def run_program(
    stack: str, raw: dict[str, Any], secret_keys: list[str], *, program: Any = None, transforms: list[Any] | None = None
) -> tuple[list[RecordedResource], dict[str, Any]]:
    """Run ``program`` (default: the real ``infra.program.main``) for ``stack`` under mocks.

    :param transforms: When given, receives the stack transforms the program registered (the
        mock engine records them but does not run them; tests call them on the recorded resources).
    """
    from infra import program as real_program

    program = program or real_program.main
    sdk.reset_runtime()
    pulumi.runtime.set_all_config(_to_pulumi_config(raw), [f"{cfgmod.NAMESPACE}:{k}" for k in secret_keys])
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    mocks.monitor = monitor
    pulumi.runtime.set_mocks(mocks, project=project_name(), stack=stack, preview=False, monitor=monitor)
    root = pulumi.runtime.get_root_resource()
    try:
        sdk.sync_await(sdk.run_program(program))
    except cfgmod.ConfigError:
        raise
    except Exception as exc:  # the program or an RPC failed: report it, no traceback for users
        if mocks.unknown_invokes:
            raise PlanError(f"unknown invoke(s): {', '.join(sorted(set(mocks.unknown_invokes)))}") from exc
        raise PlanError(f"the program failed under the mock engine: {type(exc).__name__}: {exc}") from exc
    if mocks.unknown_invokes:
        raise PlanError(f"unknown invoke(s): {', '.join(sorted(set(mocks.unknown_invokes)))}")
    outputs = sdk.sync_await(_resolve_outputs(getattr(root, "outputs", {}) or {}))
    if transforms is not None:
        transforms.extend(monitor.get_registered_transforms())
    return monitor.recorded, outputs


def plan(stack: str, *, stacks_dir: Path | None = None, stack_path: Path | None = None) -> Plan:
    """Validate the stack file, run the program under mocks, then evaluate policies and cost.

    :raises ConfigError: for a bad stack file (exit code 2).
    :raises PlanError: when the program fails under the mock engine.
    """
    path = stack_path or cfgmod.stack_file(stack, stacks_dir)
    raw, secret_keys = cfgmod.read_stack_file(path)
    cfg = cfgmod.parse(raw, secret_keys=secret_keys)  # fail before anything is registered
    cfgmod.check_fleet_stacks(cfg, stack, path.parent)  # a fleet's stacks agree on its teams
    transforms: list[Any] = []
    default_dir, cfgmod.STACKS_DIR = cfgmod.STACKS_DIR, path.parent  # a fleet manager reads its workers' files
    try:
        resources, outputs = run_program(stack, raw, secret_keys, transforms=transforms)
    finally:
        cfgmod.STACKS_DIR = default_dir
    # registration order depends on how the engine's tasks interleave; sort so that two plans of
    # the same config give the same JSON (clean diffs between pull-request previews)
    resources = sorted(resources, key=lambda r: r.urn)
    result = Plan(project=project_name(), stack=stack, config=cfg, resources=resources, outputs=outputs, transforms=transforms)
    # cost and policies take plain data (config + recorded resources), not the Plan
    result.cost = cost.estimate_config(cfg, [r for r in resources if r.custom])
    violations = policy_hook.evaluate_resources(resources, cfg.environment, overrides=policy_hook.plan_overrides(cfg))
    result.violations = sorted(violations, key=lambda v: (v.pack, v.policy, v.urn, v.message))
    result.lifecycle = lifecycle_model.analyze(result.resources, cfg.environment)
    default_dir, cfgmod.STACKS_DIR = cfgmod.STACKS_DIR, path.parent
    try:
        result.fleet = fleet.summary(cfg)
    finally:
        cfgmod.STACKS_DIR = default_dir
    return result
