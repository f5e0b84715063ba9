"""Shared test helpers: the session's plans (planned once, frozen), stack files, the CLI.

Tests import these from here, never from ``tests/conftest.py`` (pytest loads conftest itself; an
import of it would load a second copy with a second plan cache).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import yaml

from infra.plan import engine
from infra.plan.model import Plan, RecordedResource, Violation

ROOT = Path(__file__).resolve().parent.parent
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
UPSTREAM = Path(os.environ.get("ML_PLATFORM_UPSTREAM", ROOT.parent / "shared" / "upstream")).resolve()

SHARED = "a cached plan is shared by every test: change a copy (copy.deepcopy(...), dataclasses.replace(...))"


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(SHARED)


class FrozenDict(dict[str, Any]):
    """A ``dict`` (json / isinstance see one) that refuses changes; ``copy.deepcopy`` gives a plain, mutable copy."""

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}


class FrozenList(list[Any]):
    """A ``list`` that refuses changes; ``copy.deepcopy`` gives a plain, mutable copy."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]


yaml.SafeDumper.add_representer(FrozenDict, yaml.representer.SafeRepresenter.represent_dict)
yaml.SafeDumper.add_representer(FrozenList, yaml.representer.SafeRepresenter.represent_list)


def deep_freeze(value: Any) -> Any:
    """``value`` with every dict / list inside replaced by :class:`FrozenDict` / :class:`FrozenList`."""
    if isinstance(value, dict):
        return FrozenDict({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(deep_freeze(v) for v in value)
    return value


class _FrozenAttrs:
    """Refuses attribute assignment once :func:`_seal` ran (``dataclasses.replace`` builds an unsealed copy)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_sealed"):
            raise TypeError(SHARED)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        raise TypeError(SHARED)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A plain, mutable object of the base dataclass (like :class:`FrozenDict`): tests change deep copies."""
        plain = next(c for c in type(self).__mro__ if c not in (type(self), _FrozenAttrs) and dataclasses.is_dataclass(c))
        return plain(**{f.name: copy.deepcopy(getattr(self, f.name), memo) for f in dataclasses.fields(plain)})


class FrozenResource(_FrozenAttrs, RecordedResource):
    def __deepcopy__(self, memo: dict[int, Any]) -> RecordedResource:
        """A plain, mutable :class:`RecordedResource` (what a test changes to inject a defect)."""
        return RecordedResource(
            **{f.name: copy.deepcopy(getattr(self, f.name), memo) for f in dataclasses.fields(RecordedResource)}
        )


class FrozenViolation(_FrozenAttrs, Violation):
    pass


class FrozenPlan(_FrozenAttrs, Plan):
    pass


def _seal(obj: Any) -> Any:
    obj.__dict__["_sealed"] = True
    return obj


def freeze_plan(plan: Plan) -> FrozenPlan:
    """A read-only copy of ``plan``: inputs, lists, cost and outputs refuse changes, and so do the objects' attributes."""
    resources = FrozenList(
        _seal(FrozenResource(**{f.name: deep_freeze(getattr(r, f.name)) for f in dataclasses.fields(r)})) for r in plan.resources
    )
    violations = FrozenList(_seal(FrozenViolation(**dataclasses.asdict(v))) for v in plan.violations)
    # every field of the Plan is handed on (the lifecycle model, the fleet summary and the registered transforms
    # too: a field left out here reads as its default, e.g. ``lifecycle=None``, in every test using the cache)
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    fields.update(
        resources=resources,
        outputs=deep_freeze(plan.outputs),
        violations=violations,
        cost=deep_freeze(plan.cost),
        transforms=FrozenList(plan.transforms),
        fleet=deep_freeze(plan.fleet),
        lifecycle=_frozen_lifecycle(plan.lifecycle),
    )
    return _seal(FrozenPlan(**fields))


def _frozen_lifecycle(lc: Any) -> Any:
    if lc is None:
        return None
    return dataclasses.replace(
        lc,
        create_waves=deep_freeze(lc.create_waves),
        destroy_waves=deep_freeze(lc.destroy_waves),
        problems=FrozenList(lc.problems),
    )


_CACHE: dict[str, FrozenPlan] = {}


def plan_stack(stack: str) -> FrozenPlan:
    """``stacks/Pulumi.<stack>.yaml`` planned once per session, handed out read-only.

    Each call gets its own deep copy of the (pydantic, mutable) config; everything else is shared and frozen.
    """
    if stack not in _CACHE:
        _CACHE[stack] = freeze_plan(engine.plan(stack))
    cached = _CACHE[stack]
    return _seal(dataclasses.replace(cached, config=cached.config.model_copy(deep=True)))


FLEET_KEY = "ml-platform:fleet"


def stack_doc(stack: str, *, keep_fleet: bool = False) -> dict[str, Any]:
    """A stack file's document. A copy planned under another name (or from another directory) is a standalone
    stack: its ``fleet`` key is dropped, since the fleet manager lists the sample stacks by name (a renamed
    worker is refused by ``check_fleet_stacks``); ``keep_fleet`` keeps it."""
    doc: dict[str, Any] = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    if not keep_fleet:
        doc["config"].pop(FLEET_KEY, None)
    return doc


def raw_config(stack: str, *, keep_fleet: bool = False) -> dict[str, Any]:
    """The ``ml-platform:`` keys of a stack file, prefix stripped (a deep copy to mutate, encrypted values masked as the loader masks them); standalone (no ``fleet``)
    unless ``keep_fleet``, see :func:`stack_doc`."""
    from infra.config.load import mask_secure_values

    cfg = stack_doc(stack, keep_fleet=keep_fleet)["config"]
    # encrypted values (``secure: v1:...``) read as the loader reads them without the Pulumi CLI
    return copy.deepcopy({k.split(":", 1)[1]: mask_secure_values(v)[0] for k, v in cfg.items() if k.startswith("ml-platform:")})


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def unwrap_secrets(value: Any) -> Any:
    """Mock-engine inputs with Pulumi's secret envelopes removed."""
    from infra.plan import sdk_compat

    if isinstance(value, dict):
        if value.get(sdk_compat.SIG_KEY) == sdk_compat.SECRET_SIG:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def fake_aws_credentials(monkeypatch: Any, region: str = "us-east-1") -> None:
    """Point boto3 at moto's fake account: test credentials, ``region``, no profile, no config files,
    no endpoint override (so nothing a developer has set can reach a real account)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "PULUMI_BACKEND_URL"):
        monkeypatch.delenv(key, raising=False)


def waits_for(resources: Any, res: RecordedResource) -> set[str]:
    """Every URN ``res`` waits for when created, directly or through what it waits for."""
    by_urn = {r.urn: r for r in resources}
    seen: set[str] = set()
    todo = list(res.dependencies)
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        dep = by_urn.get(urn)
        if dep is not None:
            todo.extend(dep.dependencies)
    return seen
