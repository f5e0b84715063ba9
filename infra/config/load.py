"""Stack-file I/O: read ``stacks/Pulumi.<stack>.yaml`` (or the running Pulumi program's config),
validate it, and check a fleet stack against the stacks it names.

The directory stack files are read from by default is the package attribute
``infra.config.STACKS_DIR``, read at call time: the offline plan (and tests) point it at another
directory by assigning ``infra.config.STACKS_DIR``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from infra.config.base import NAMESPACE, RUNNER_ENV, SECRET_PLACEHOLDER
from infra.config.checks import runner_problems
from infra.config.errors import ConfigError
from infra.config.models import PlatformConfig
from infra.config.parsing import parse

DEFAULT_STACKS_DIR = Path(__file__).resolve().parent.parent.parent / "stacks"
"""The project's ``stacks/`` directory, the initial value of ``infra.config.STACKS_DIR``."""


def stacks_dir_default() -> Path:
    """Where stack files are read from when no directory is given: ``infra.config.STACKS_DIR`` now."""
    import infra.config as package  # the attribute the plan engine and tests swap

    return Path(package.STACKS_DIR)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_from_pulumi() -> dict[str, Any]:
    """The ``ml-platform:`` keys of the running Pulumi program's config, prefix stripped."""
    from infra.plan import sdk_compat  # the SDK's config store is private API: read through the one compat module

    prefix = NAMESPACE + ":"
    return {k[len(prefix) :]: _decode(v) for k, v in sdk_compat.program_config().items() if k.startswith(prefix)}


def from_pulumi() -> PlatformConfig:
    """Load and validate the config of the running Pulumi program."""
    from infra.plan import sdk_compat

    raw = raw_from_pulumi()
    secure = sdk_compat.program_secret_keys()
    secret_keys = [k for k in raw if f"{NAMESPACE}:{k}" in secure]
    cfg = parse(raw, secret_keys=secret_keys)
    problems = runner_problems(cfg, os.environ.get(RUNNER_ENV) or None)
    if problems:  # before anything is registered: a runner that cannot reach the cluster creates nothing
        raise ConfigError(problems)
    return cfg


def stack_file(stack: str, stacks_dir: Path | None = None) -> Path:
    """The path of ``Pulumi.<stack>.yaml`` in ``stacks_dir`` (default: ``infra.config.STACKS_DIR``)."""
    return (stacks_dir or stacks_dir_default()) / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Read a ``Pulumi.<stack>.yaml``; return its ``ml-platform:`` keys and which of them are secret.

    Encrypted values (``secure: v1:...``) cannot be decrypted without the Pulumi CLI, so they are
    replaced by :data:`SECRET_PLACEHOLDER` and reported as secret keys.
    """
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError([(str(path), "no such stack file")]) from None
    except yaml.YAMLError as err:
        raise ConfigError([(str(path), f"not valid YAML: {err}".replace("\n", " "))]) from None
    if not isinstance(doc, dict):
        raise ConfigError([(str(path), "a stack file is a mapping with a 'config:' key")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([(f"{path}:config", "must be a mapping of 'namespace:key' to values")])
    raw: dict[str, Any] = {}
    secret: list[str] = []
    prefix = NAMESPACE + ":"
    for key, value in config.items():
        if not str(key).startswith(prefix):
            continue
        name = str(key)[len(prefix) :]
        raw[name], hidden = mask_secure_values(value)
        if hidden:
            secret.append(name)
    return raw, secret


def mask_secure_values(value: Any) -> tuple[Any, bool]:
    """``value`` (a stack-file config value) with every ``{secure: ...}`` replaced by
    :data:`~infra.config.base.SECRET_PLACEHOLDER`, and whether there was one."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        out, any_secret = {}, False
        for k, v in value.items():
            out[k], s = mask_secure_values(v)
            any_secret |= s
        return out, any_secret
    if isinstance(value, list):
        items = [mask_secure_values(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def load_stack(stack: str, stacks_dir: Path | None = None) -> PlatformConfig:
    """Read and validate ``stacks/Pulumi.<stack>.yaml``."""
    raw, secret_keys = read_stack_file(stack_file(stack, stacks_dir))
    return parse(raw, secret_keys=secret_keys)


def load_fleet_stack(stack: str, stacks_dir: Path | None = None) -> PlatformConfig:
    """:func:`load_stack` plus the checks against the other stacks of its fleet."""
    cfg = load_stack(stack, stacks_dir)
    check_fleet_stacks(cfg, stack, stacks_dir)
    return cfg


def _fleet_team_cost_centers(cfg: PlatformConfig) -> dict[str, str]:
    """What must be the same for a team on every cluster of a fleet: its name and cost center."""
    return {t.name: t.cost_center for t in cfg.teams}


def check_fleet_stacks(cfg: PlatformConfig, stack: str, stacks_dir: Path | None = None) -> None:
    """Check a fleet stack against the stacks it names: a manager's worker stacks exist, are workers of this
    manager and have exactly its teams (same names and cost centers); a worker's manager lists it.

    :raises ConfigError: naming the key path, the other stack and what differs.
    """
    fleet = cfg.fleet
    key = f"{NAMESPACE}:fleet"
    problems: list[tuple[str, str]] = []

    def other(name: str, where: str) -> PlatformConfig | None:
        try:
            return load_stack(name, stacks_dir)
        except ConfigError as err:
            reason = err.problems[0][1] if len(err.problems) == 1 else f"{len(err.problems)} config problems"
            problems.append((where, f"stack {name!r} cannot be read: {reason}"))
            return None

    def same_teams(peer: PlatformConfig, name: str, where: str) -> None:
        mine, theirs = _fleet_team_cost_centers(cfg), _fleet_team_cost_centers(peer)
        if mine == theirs:
            return
        diff = sorted(set(mine) ^ set(theirs))
        changed = sorted(t for t in set(mine) & set(theirs) if mine[t] != theirs[t])
        what = []
        if diff:
            what.append(f"teams only on one side: {diff}")
        if changed:
            what.append(f"different costCenter for {changed}")
        problems.append(
            (
                where,
                f"stack {name!r} must have the same teams as {stack!r} ({'; '.join(what)}); a job runs under the same team everywhere",
            )
        )

    if fleet.role == "manager":
        for i, w in enumerate(fleet.workers):
            if w.stack is None:
                continue
            where = f"{key}.workers[{i}].stack"
            if w.stack == stack:
                problems.append((where, "is this stack; Kueue does not support a manager that is its own worker"))
                continue
            peer = other(w.stack, where)
            if peer is None:
                continue
            if peer.fleet.role != "worker" or peer.fleet.manager != stack:
                problems.append((where, f"stack {w.stack!r} must set fleet.role: worker and fleet.manager: {stack}"))
            same_teams(peer, w.stack, where)
    elif fleet.role == "worker" and fleet.manager:
        where = f"{key}.manager"
        peer = other(fleet.manager, where)
        if peer is not None:
            if peer.fleet.role != "manager" or stack not in [w.stack for w in peer.fleet.workers]:
                problems.append((where, f"stack {fleet.manager!r} is not a fleet manager listing {stack!r} in fleet.workers"))
            same_teams(peer, fleet.manager, where)
    if problems:
        raise ConfigError(problems)
