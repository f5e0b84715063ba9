"""Tags (AWS) and labels (GCP) built from the stack config.

AWS resources get them through the provider's ``default_tags``; GCP resources through a
resource transform (:func:`gcp_label_transform`), since GCP providers' default labels do not
reach every resource type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi

from catalog import conventions as cv
from infra.config import PlatformConfig
from policies.common import taggable


def platform_tags(cfg: PlatformConfig, *, team: str | None = None, cost_center: str | None = None) -> dict[str, str]:
    """The required tags plus the config's extras; ``team`` defaults to the platform team."""
    tags = dict(cfg.tags)
    tags.update(
        {
            cv.TAG_ENVIRONMENT: cfg.environment,
            cv.TAG_TEAM: team or cv.PLATFORM_TEAM,
            cv.TAG_COST_CENTER: cost_center or cv.PLATFORM_COST_CENTER,
            cv.TAG_PROJECT: cv.PROJECT,
            cv.TAG_MANAGED_BY: cv.MANAGED_BY,
        }
    )
    return tags


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """GCP label rules: lowercase keys/values of ``[a-z0-9_-]``, at most 63 characters."""

    def clean(text: str) -> str:
        return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]

    return {clean(k): clean(v) for k, v in tags.items()}


def gcp_label_transform(cfg: PlatformConfig) -> pulumi.ResourceTransform:
    """A stack transform that adds the platform labels to every GCP resource taking labels.

    Which types take labels (``labels``, or ``resourceLabels`` on GKE clusters) is read from the
    pinned SDK's schema (:mod:`policies.common.taggable`), the same list the tagging pack checks.
    Labels the resource sets itself win (a team resource keeps its own ``team``). Register it with
    ``pulumi.runtime.register_resource_transform(gcp_label_transform(cfg))``; transforms do not
    run under the mock engine.
    """
    defaults = gcp_labels(platform_tags(cfg))
    label_property = taggable.gcp_label_property()

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        prop = label_property.get(args.type_) if args.custom else None
        if prop is None:
            return None
        current = args.props.get(prop)
        if current is not None and not isinstance(current, Mapping):
            return None  # an Output or unknown map: leave it to the resource
        props = dict(args.props)
        props[prop] = {**defaults, **(current or {})}
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform
