"""Auto-tagging: AWS provider default tags, the GCP label transform, team tags on team resources."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from catalog import conventions as cv
from infra import config, tagging
from infra.plan import engine
from policies.common import taggable
from tests.helpers import raw_config

AWS_STACKS = ("dev", "staging", "prod")


def _cfg(stack: str, **changes: Any) -> config.PlatformConfig:
    raw = raw_config(stack)
    raw.update(changes)
    return config.parse(raw)


def test_platform_tags_carry_every_required_key_and_the_config_extras() -> None:
    cfg = _cfg("prod")
    tags = tagging.platform_tags(cfg)
    assert set(cv.REQUIRED_TAGS) <= set(tags)
    assert tags[cv.TAG_ENVIRONMENT] == "prod" and tags[cv.TAG_TEAM] == cv.PLATFORM_TEAM
    assert tags["data-classification"] == "confidential"  # an extra from the stack's tags
    team = tagging.platform_tags(cfg, team="llm", cost_center="CC-3001")
    assert team[cv.TAG_TEAM] == "llm" and team[cv.TAG_COST_CENTER] == "CC-3001"


def test_config_extras_cannot_override_the_required_tags() -> None:
    cfg = _cfg("dev", tags={cv.TAG_ENVIRONMENT: "prod", cv.TAG_MANAGED_BY: "hand"})
    tags = tagging.platform_tags(cfg)
    assert tags[cv.TAG_ENVIRONMENT] == "dev" and tags[cv.TAG_MANAGED_BY] == cv.MANAGED_BY


def test_gcp_labels_follow_gcp_label_rules() -> None:
    labels = tagging.gcp_labels({"cost-center": "CC-1001", "Owner": "ML Platform/Team", "x": "a" * 80})
    assert labels == {"cost-center": "cc-1001", "owner": "ml-platform-team", "x": "a" * 63}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_provider_carries_the_default_tags(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    plan = plan_of(stack)
    providers = plan.by_type("pulumi:providers:aws")
    assert providers, "an AWS stack registers an explicit AWS provider"
    expected = tagging.platform_tags(plan.config)
    for prov in providers:
        default = prov.inputs["defaultTags"]
        default = json.loads(default) if isinstance(default, str) else default
        assert default["tags"] == expected, prov.urn


def test_no_aws_resource_uses_the_default_provider(plan_of: Callable[[str], engine.Plan]) -> None:
    plan = plan_of("prod")
    bare = [r.urn for r in plan.resources if r.custom and r.type.startswith("aws:") and not r.provider]
    assert bare == []


def test_team_roles_carry_their_team_and_cost_center(plan_of: Callable[[str], engine.Plan]) -> None:
    plan = plan_of("prod")
    roles = {r.name: r for r in plan.by_type("aws:iam/role:Role")}
    assert plan.config.teams
    missing = [t.name for t in plan.config.teams if f"team-{t.name}" not in roles]
    assert missing == [], f"the prod plan has no team roles for {missing}"
    for team in plan.config.teams:
        tags = roles[f"team-{team.name}"].inputs["tags"]
        assert tags[cv.TAG_TEAM] == team.name and tags[cv.TAG_COST_CENTER] == team.cost_center


# ---- the GCP label transform (transforms do not run under mocks: call it directly) ---------------


@pytest.fixture(scope="module")
def transform() -> pulumi.ResourceTransform:
    return tagging.gcp_label_transform(_cfg("gcp-dev"))


NOTIFICATION_CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"


def _args(type_: str, props: dict[str, Any], custom: bool = True) -> pulumi.ResourceTransformArgs:
    return pulumi.ResourceTransformArgs(custom=custom, type_=type_, name="x", props=props, opts=pulumi.ResourceOptions())


def test_transform_labels_a_bucket_and_keeps_its_own_labels(transform: pulumi.ResourceTransform) -> None:
    result = transform(_args("gcp:storage/bucket:Bucket", {"name": "lake", "labels": {"team": "research", "lake-zone": "raw"}}))
    assert isinstance(result, pulumi.ResourceTransformResult)
    labels = result.props["labels"]
    assert labels["team"] == "research" and labels["lake-zone"] == "raw"  # the resource's own labels win
    assert labels["environment"] == "dev" and labels["managed-by"] == "pulumi" and labels["cost-center"] == "platform"
    assert labels["owner"] == "ml-platform-team"  # config extras
    assert result.props["name"] == "lake"


def test_transform_uses_resource_labels_on_gke_clusters(transform: pulumi.ResourceTransform) -> None:
    result = transform(_args("gcp:container/cluster:Cluster", {"name": "mlp-dev"}))
    assert isinstance(result, pulumi.ResourceTransformResult)
    assert set(cv.REQUIRED_TAGS) <= set(result.props["resourceLabels"]) and "labels" not in result.props


@pytest.mark.parametrize(
    "args",
    [
        _args("gcp:serviceaccount/account:Account", {"accountId": "sa"}),  # takes no labels
        _args("aws:s3/bucket:Bucket", {}),
        _args("gcp:storage/bucket:Bucket", {}, custom=False),  # a component
    ],
)
def test_transform_leaves_other_resources_alone(transform: pulumi.ResourceTransform, args: pulumi.ResourceTransformArgs) -> None:
    assert transform(args) is None


def test_transformed_labels_satisfy_the_tagging_policy(transform: pulumi.ResourceTransform) -> None:
    from infra import policy_hook
    from tests import policy_fixtures as fx

    result = transform(_args("gcp:storage/bucket:Bucket", {"name": "lake"}))
    assert result is not None
    bucket = fx.res("gcp:storage/bucket:Bucket", "lake", dict(result.props))
    unlabelled = fx.res("gcp:storage/bucket:Bucket", "lake", {"name": "lake"})
    gcp_provider = [fx.res(fx.GCP_PROVIDER, "gcp", {"project": "p"})]
    found = [v for v in policy_hook.evaluate_resources([*gcp_provider, bucket], "dev") if v.policy == "mlp-tag-002"]
    missing = [v for v in policy_hook.evaluate_resources([*gcp_provider, unlabelled], "dev") if v.policy == "mlp-tag-002"]
    assert found == [] and missing


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_the_gcp_program_registers_the_label_transform(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    """The program registers the transform the same way under the mock engine as in a real run
    (it never asks whether it is mocked); the mock monitor records it without running it."""
    plan = plan_of(stack)
    assert len(plan.transforms) == 1, plan.transforms
    (registered,) = plan.transforms
    result = registered(_args("gcp:storage/bucket:Bucket", {"name": "lake"}))
    assert isinstance(result, pulumi.ResourceTransformResult)
    assert result.props["labels"] == tagging.gcp_labels(tagging.platform_tags(plan.config))


def test_the_gcp_layer_does_not_detect_the_mock_engine() -> None:
    import importlib
    import inspect

    for step in ("gcp", "gcp_foundation", "gcp_gpu", "gcp_teams", "gcp_services", "gcp_billing"):
        source = inspect.getsource(importlib.import_module(f"infra.layers.{step}"))
        assert "MockMonitor" not in source and "_under_mocks" not in source, step


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_the_registered_transform_on_every_resource_the_plan_emits(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    """Run the registered transform on every recorded resource, as the real engine would: it only
    ever changes the type's resource-label property, labels every type that has one, and leaves
    maps that are not resource labels (a notification channel's ``labels`` = its config) alone."""
    plan = plan_of(stack)
    (registered,) = plan.transforms
    label_property = taggable.gcp_label_property()
    labelled_types = set()
    for res in plan.resources:
        props = copy.deepcopy(res.inputs)
        result = registered(
            pulumi.ResourceTransformArgs(
                custom=res.custom, type_=res.type, name=res.name, props=props, opts=pulumi.ResourceOptions()
            )
        )
        if result is None:
            assert not (res.custom and res.type in label_property), f"{res.urn} takes labels but was not labelled"
            continue
        prop = label_property[res.type]
        changed = {k for k in set(result.props) | set(res.inputs) if result.props.get(k) != res.inputs.get(k)}
        assert changed <= {prop}, f"{res.urn}: the transform changed {sorted(changed)}, not only {prop}"
        assert set(cv.REQUIRED_TAGS) <= set(result.props[prop]), res.urn
        labelled_types.add(res.type)
    channels = plan.by_type(NOTIFICATION_CHANNEL)
    if plan.config.gcp.billing_account:
        assert channels and NOTIFICATION_CHANNEL in labelled_types
    for channel in channels:
        result = registered(
            pulumi.ResourceTransformArgs(
                custom=True, type_=channel.type, name=channel.name, props=dict(channel.inputs), opts=pulumi.ResourceOptions()
            )
        )
        assert result is not None
        assert result.props["labels"] == channel.inputs["labels"] == {"email_address": channel.inputs["labels"]["email_address"]}
        assert set(cv.REQUIRED_TAGS) <= set(result.props["userLabels"])


def test_a_notification_channel_keeps_its_config_labels(transform: pulumi.ResourceTransform) -> None:
    result = transform(_args(NOTIFICATION_CHANNEL, {"type": "email", "labels": {"email_address": "a@example.com"}}))
    assert isinstance(result, pulumi.ResourceTransformResult)
    assert result.props["labels"] == {"email_address": "a@example.com"}
    assert result.props["userLabels"]["environment"] == "dev"
