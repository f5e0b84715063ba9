"""Every component has the one shape of :mod:`components.base`, and its children wait for what it waits for.

A component's ``depends_on`` is not passed to its children by Pulumi; a child that starts before it (a
Helm release before the system nodes) fails on a first ``pulumi up``, which the mock engine cannot see.
The plans record each registration's dependencies, so the property is checked on every stack's plan.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from typing import Any

import pulumi
import pytest

import components
from components.base import Component
from tests.helpers import STACKS, plan_stack


def _component_classes() -> list[type]:
    found: dict[str, type] = {}
    for mod in pkgutil.walk_packages(components.__path__, "components."):
        module = importlib.import_module(mod.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, pulumi.ComponentResource) and obj.__module__ == module.__name__ and obj is not Component:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


CLASSES = _component_classes()


def test_components_are_found() -> None:
    assert len(CLASSES) > 40


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_component_has_the_one_shape(cls: type) -> None:
    assert issubclass(cls, Component), f"{cls.__qualname__} must derive from components.base.Component"
    params = list(inspect.signature(cls.__init__).parameters.values())
    names = [p.name for p in params]
    assert names == ["self", "resource_name", "args", "opts"], (
        f"{cls.__qualname__}{names}: must be (resource_name, args, opts=None)"
    )
    assert params[3].default is None
    args_type: Any = inspect.get_annotations(cls.__init__, eval_str=True)["args"]
    assert isinstance(args_type, type) and dataclasses.is_dataclass(args_type), f"{cls.__qualname__}: args must be a dataclass"
    assert getattr(args_type, "__dataclass_params__").frozen, f"{args_type.__qualname__} must be frozen"  # noqa: B009
    assert args_type.__name__ == f"{cls.__name__}Args", f"{cls.__qualname__}: its args are {cls.__name__}Args"


def _children_lacking(stack: str, type_prefix: str = "ml-platform:") -> tuple[int, list[str]]:
    """(children checked, children lacking a dependency of their component) for components of ``type_prefix``."""
    plan = plan_stack(stack)
    by_urn = {r.urn: r for r in plan.resources}
    checked, missing = 0, []
    for comp in plan.resources:
        if comp.custom or not comp.type.startswith(type_prefix) or not comp.dependencies:
            continue
        waits = set(comp.dependencies)
        for child in (r for r in plan.resources if r.parent == comp.urn):
            checked += 1
            lacking = waits - set(child.dependencies)
            if lacking:
                missing.append(
                    f"{child.urn} lacks {sorted(by_urn[u].name if u in by_urn else u for u in lacking)} (from {comp.name})"
                )
    return checked, missing


@pytest.mark.parametrize("stack", STACKS)
def test_children_wait_for_what_their_component_waits_for(stack: str) -> None:
    checked, missing = _children_lacking(stack)
    assert not missing, "\n".join(missing[:20])
    if stack not in ("onprem",):
        assert checked > 0


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_components_children_wait_for_what_the_component_waits_for(stack: str) -> None:
    """Every ``ml-platform:k8s:*`` component is converted: its children (Helm releases, namespaces, generated
    passwords) wait for the system nodes and add-ons the component waits for, on every stack."""
    checked, missing = _children_lacking(stack, "ml-platform:k8s:")
    assert not missing, "\n".join(missing[:20])
    assert checked > 0
