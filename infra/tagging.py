"""Tags (AWS) and labels (GCP) built from the stack config.

AWS resources get them through the provider's ``default_tags``; GCP resources through a
resource transform (:func:`gcp_label_transform`), since GCP providers' default labels do not
reach every resource type.
"""

from __future__ import annotations

import re

from catalog import conventions as cv
from infra.config import PlatformConfig


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
