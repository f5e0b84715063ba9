"""The required-tag config every tagging rule shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog import conventions as cv

REQUIRED_PROPERTY: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": list(cv.REQUIRED_TAGS),
    "description": "Tag keys every resource must carry.",
}
ALLOWED_PROPERTY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "default": {
        cv.TAG_ENVIRONMENT: list(cv.ENVIRONMENTS),
        cv.TAG_PROJECT: [cv.PROJECT],
        cv.TAG_MANAGED_BY: [cv.MANAGED_BY],
    },
    "description": "Allowed values per tag key (keys not listed accept any non-empty value).",
}


def problems(tags: Mapping[str, str], cfg: Mapping[str, Any], *, normalise: bool = False) -> list[str]:
    """What is wrong with ``tags`` against ``requiredTags`` / ``allowedValues`` (GCP: lowercase values)."""
    out = []
    allowed = cfg.get("allowedValues") or {}
    for key in cfg["requiredTags"]:
        value = tags.get(key)
        if value is None or str(value).strip() == "":
            out.append(f"missing {key!r}")
            continue
        choices = [str(v).lower() if normalise else str(v) for v in allowed.get(key, [])]
        if choices and value not in choices:
            out.append(f"{key}={value!r} is not one of {', '.join(choices)}")
    return out
