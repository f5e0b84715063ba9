"""``python -m infra check FILE [--stack S]``: evaluate the policy packs against a saved plan.

``FILE`` is a plan JSON of ours (``python -m infra plan --json``) or the output of
``pulumi preview --json`` (each step's ``newState``: type, URN, inputs, provider, parent,
dependencies). The environment (which pack config applies) and the budget come from ``--stack``
(``stacks/Pulumi.<stack>.yaml``), else from the file's own config. The deploy-lifecycle model
(``infra/plan/lifecycle.py``) runs on the same resources. Exit codes as ``plan``: 0 clean,
1 mandatory violations or lifecycle problems, 2 unreadable file or usage.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from catalog import conventions as cv
from catalog.inputs import decoded
from infra import config as cfgmod
from infra import policy_hook
from infra.plan import lifecycle
from infra.plan.model import PlanError, RecordedResource, Violation

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2
STACK_TYPE = "pulumi:pulumi:Stack"
GONE_OPS = ("delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace", "read-discard")
"""Preview step operations whose resource will not exist after the update."""


class CheckInputError(ValueError):
    """The file is not a plan JSON of ours nor ``pulumi preview --json`` output."""


def _record(state: dict[str, Any]) -> RecordedResource:
    urn = str(state["urn"])
    type_ = str(state.get("type") or urn.split("::")[2].split("$")[-1])
    return RecordedResource(
        urn=urn,
        type=type_,
        name=str(state.get("name") or urn.rsplit("::", 1)[-1]),
        custom=bool(state.get("custom", True)),
        parent=str(state.get("parent") or ""),
        provider=str(state.get("provider") or ""),
        protect=bool(state.get("protect", False)),
        retain_on_delete=bool(state.get("retain_on_delete", state.get("retainOnDelete", False))),
        dependencies=[str(d) for d in state.get("dependencies") or []],
        inputs=dict(state.get("inputs") or {}),
        additional_secret_outputs=[str(k) for k in state.get("additionalSecretOutputs") or []],
        property_dependencies={
            str(k): [str(u) for u in v or []]
            for k, v in (state.get("property_dependencies") or state.get("propertyDependencies") or {}).items()
        },
        deleted_with=str(state.get("deleted_with") or state.get("deletedWith") or ""),
    )


def _config_value(config: dict[str, Any], key: str) -> Any:
    """A ``ml-platform:`` config value of a preview (strings; objects may be JSON-encoded)."""
    value = config.get(f"{cfgmod.NAMESPACE}:{key}")
    if isinstance(value, dict) and "value" in value:  # {"value": ..., "secret": false} shapes
        value = value["value"]
    return decoded(value)


def load(doc: Any) -> tuple[list[RecordedResource], dict[str, Any]]:
    """``(resources, facts)`` from a plan JSON or preview JSON; ``facts`` may hold environment/budget/sizes."""
    if not isinstance(doc, dict):
        raise CheckInputError("expected a JSON object")
    if isinstance(doc.get("resources"), list) and not isinstance(doc.get("steps"), list):
        try:
            resources = [_record(r) for r in doc["resources"] if r.get("type") != STACK_TYPE]
        except (KeyError, TypeError, AttributeError) as err:
            raise CheckInputError(f"a plan resource lacks {err}") from None
        config = doc.get("config") or {}
        facts = {
            "environment": config.get("environment"),
            "budget": (config.get("budget") or {}).get("monthlyUsd"),
            "sizes": (config.get("dataLake") or {}).get("sizeGb") or {},
            "region": config.get("region") if config.get("cloud") != "existing" else None,
        }
        return resources, facts
    if isinstance(doc.get("steps"), list):
        resources, seen = [], set()
        for step in doc["steps"]:
            state = step.get("newState") if isinstance(step, dict) else None
            if not isinstance(state, dict) or step.get("op") in GONE_OPS:
                continue
            try:
                rec = _record(state)
            except (KeyError, TypeError, AttributeError) as err:
                raise CheckInputError(f"a preview step's newState lacks {err}") from None
            if rec.type != STACK_TYPE and rec.urn not in seen:  # a replacement lists its URN twice
                seen.add(rec.urn)
                resources.append(rec)
        config = doc.get("config") or {}
        budget, lake = _config_value(config, "budget"), _config_value(config, "dataLake")
        facts = {
            "environment": _config_value(config, "environment"),
            "budget": budget.get("monthlyUsd") if isinstance(budget, dict) else None,
            "sizes": (lake.get("sizeGb") or {}) if isinstance(lake, dict) else {},
            "region": _config_value(config, "region") if _config_value(config, "cloud") != "existing" else None,
        }
        return resources, facts
    raise CheckInputError("neither a plan JSON (with 'resources') nor `pulumi preview --json` output (with 'steps')")


def evaluate_file(path: Path, stack: str | None = None, stacks_dir: Path | None = None) -> tuple[list[Violation], str]:
    """Violations of the file at ``path`` and the environment they were judged for."""
    violations, environment, _ = evaluate_file_lifecycle(path, stack, stacks_dir)
    return violations, environment


def evaluate_file_lifecycle(
    path: Path, stack: str | None = None, stacks_dir: Path | None = None
) -> tuple[list[Violation], str, lifecycle.Lifecycle]:
    """Violations, environment and the deploy-lifecycle model of the file at ``path``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CheckInputError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise CheckInputError(f"{path} is not JSON: {err}") from None
    resources, facts = load(doc)
    if stack:
        raw, _ = cfgmod.read_stack_file(cfgmod.stack_file(stack, stacks_dir))
        cfg = cfgmod.parse(raw)
        environment: Any = cfg.environment
        overrides = policy_hook.plan_overrides(cfg)
    else:
        environment = facts.get("environment")
        if environment not in cv.ENVIRONMENTS:
            raise CheckInputError(f"{path} does not say its environment ({', '.join(cv.ENVIRONMENTS)}); pass --stack")
        budget: dict[str, Any] = {}
        if facts.get("budget") is not None:
            budget["monthlyBudgetUsd"] = float(facts["budget"])
        if facts.get("sizes"):
            budget["storageGb"] = {str(k): float(v) for k, v in facts["sizes"].items()}
        if budget and isinstance(facts.get("region"), str):
            budget["region"] = facts["region"]  # nodes priced in the stack's region, as the plan's estimate
        overrides = {policy_hook.BUDGET_POLICY: budget} if budget else {}
    violations = policy_hook.evaluate_resources(resources, str(environment), overrides=overrides)
    return violations, str(environment), lifecycle.analyze(resources, str(environment))


def print_violations(violations: list[Violation], console: Console) -> None:
    if not violations:
        console.print("policy violations: none")
        return
    mandatory = sum(v.enforcement == "mandatory" for v in violations)
    table = Table(title=f"policy violations ({mandatory} mandatory)")
    for col in ("pack", "policy", "enforcement", "resource", "message"):
        table.add_column(col)
    for v in violations:
        table.add_row(v.pack, v.policy, v.enforcement, v.urn.rsplit("::", 1)[-1] or "(stack)", v.message)
    console.print(table)


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        violations, environment, model = evaluate_file_lifecycle(Path(args.file), args.stack, getattr(args, "stacks_dir", None))
    except CheckInputError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_USAGE
    except cfgmod.ConfigError as exc:
        err.print(f"invalid stack config for {args.stack!r}:")
        for key, reason in exc.problems:
            err.print(f"  {key}: {reason}", markup=False)
        return EXIT_USAGE
    except PlanError as exc:
        err.print(f"check failed: {exc}", markup=False)
        return EXIT_VIOLATIONS
    console = Console(highlight=False)
    console.print(f"policy packs evaluated with the {environment} pack config")
    print_violations(violations, console)
    from infra.plan.report import print_lifecycle

    print_lifecycle(model, console)
    failed = any(v.enforcement == "mandatory" for v in violations) or model.problems
    return EXIT_VIOLATIONS if failed else EXIT_OK
