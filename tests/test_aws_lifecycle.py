"""AWS create / destroy order and account prerequisites, read from the recorded graph of each plan.

Pulumi creates a resource after everything in its ``dependencies`` and deletes it before them; the
mock engine accepts any order, so these tests check the edges a real account needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra import config
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.conftest import STACKS
from tests.helpers import raw_config

AWS_STACKS = [s for s in STACKS if config.load_stack(s).cloud == "aws"]
SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
KEY = "aws:kms/key:Key"
AUTOSCALING_SLR = "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"

PlanOf = Callable[[str], engine.Plan]


def principals(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for st in policy["Statement"]:
        aws = (st.get("Principal") or {}).get("AWS", []) if isinstance(st.get("Principal"), dict) else []
        out.update([aws] if isinstance(aws, str) else aws)
    return out


def ancestors(plan_resources: list[RecordedResource], res: RecordedResource) -> set[str]:
    """Every URN ``res`` waits for when created (transitively, through dependencies)."""
    by_urn = {r.urn: r for r in plan_resources}
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


# ---- service-linked roles named by the KMS key policies -----------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kms_keys_wait_for_the_autoscaling_service_linked_role_they_name(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    keys = plan.by_type(KEY)
    assert keys
    [slr] = [r for r in plan.by_type(SLR) if r.inputs["awsServiceName"] == "autoscaling.amazonaws.com"]
    # the role belongs to the account (other stacks and Auto Scaling groups use it): kept on destroy
    assert slr.retain_on_delete and not slr.protect
    for key in keys:
        policy = json.loads(key.inputs["policy"])
        assert any(p.endswith(AUTOSCALING_SLR) for p in principals(policy)), key.urn
        assert slr.urn in key.dependencies, f"{key.urn} would be created before the role its policy names"


def test_an_account_that_has_the_role_uses_it_without_creating_it() -> None:
    raw = raw_config("dev")
    raw["aws"] = {"autoscalingServiceLinkedRole": "existing"}
    resources, _ = engine.run_program("slr", raw, [])
    assert not [r for r in resources if r.type == SLR]
    [key] = [r for r in resources if r.type == KEY]
    assert any(p.endswith(AUTOSCALING_SLR) for p in principals(json.loads(key.inputs["policy"])))


@pytest.mark.parametrize(
    ("base", "aws", "key"),
    [
        ("dev", {"autoscalingServiceLinkedRole": "maybe"}, "ml-platform:aws.autoscalingServiceLinkedRole"),
        ("onprem", {"autoscalingServiceLinkedRole": "create"}, "ml-platform:aws"),
    ],
    ids=["bad-value", "not-aws"],
)
def test_bad_service_linked_role_config_names_the_key(base: str, aws: dict[str, str], key: str) -> None:
    raw = raw_config(base)
    raw["aws"] = aws
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert key in [path for path, _ in err.value.problems], err.value.problems
