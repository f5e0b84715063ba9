"""The session's cached plans cannot be edited by accident: changes are refused, config edits stay local."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from infra.plan.model import Plan
from tests.helpers import FrozenDict, FrozenList, deep_freeze

PlanOf = Callable[[str], Plan]


def _with_list(plan: Plan) -> tuple[Any, str]:
    for res in plan.resources:
        for key, value in res.inputs.items():
            if isinstance(value, list) and value:
                return res, key
    raise AssertionError("no resource input holds a list")


def test_changes_to_a_cached_plan_are_refused(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    res, list_key = _with_list(plan)
    attempts: list[Callable[[], object]] = [
        lambda: res.inputs.__setitem__("tampered", True),
        lambda: res.inputs.pop(list_key),
        lambda: res.inputs[list_key].append("x"),
        lambda: res.inputs.update({"x": 1}),
        lambda: res.dependencies.append("urn:x"),
        lambda: setattr(res, "inputs", {}),
        lambda: setattr(res, "protect", not res.protect),
        lambda: plan.resources.append(res),
        lambda: plan.resources.sort(key=lambda r: r.name),
        lambda: plan.violations.clear(),
        lambda: plan.cost.__setitem__("monthly_usd", 0),
        lambda: setattr(plan, "resources", []),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="shared by every test"):
            attempt()
    assert "tampered" not in plan_of("dev").resources[plan.resources.index(res)].inputs


def test_config_edits_stay_with_the_test_that_made_them(plan_of: PlanOf) -> None:
    mine = plan_of("prod")
    teams = len(mine.config.teams)
    assert teams > 0
    mine.config.teams.clear()
    assert len(plan_of("prod").config.teams) == teams


def test_copies_are_plain_and_mutable_and_the_plan_still_serialises(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    res = plan.resources[0]
    inputs = copy.deepcopy(res.inputs)
    assert type(inputs) is dict
    inputs["changed"] = True
    changed = dataclasses.replace(res, inputs=inputs)
    changed.name = "renamed"  # a replace() copy is the caller's own
    assert "changed" not in res.inputs and res.name != "renamed"
    doc = json.loads(json.dumps(plan.to_json()))
    assert doc["resources"][0]["urn"] == plan.resources[0].urn
    assert yaml.safe_load(yaml.safe_dump(plan.resources[0].inputs)) == json.loads(json.dumps(plan.resources[0].inputs))


def test_deep_freeze_reaches_every_level() -> None:
    frozen = deep_freeze({"a": [{"b": [1]}]})
    assert isinstance(frozen, FrozenDict) and isinstance(frozen["a"], FrozenList) and isinstance(frozen["a"][0]["b"], FrozenList)
    with pytest.raises(TypeError):
        frozen["a"][0]["b"].append(2)
    assert frozen == {"a": [{"b": [1]}]}
