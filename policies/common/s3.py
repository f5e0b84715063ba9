"""What the S3 rules share: finding a bucket's companion resources (v7 split-out sub-resources)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from policies.common.base import aws_tags, get, linked, of_type

BUCKET = "aws:s3/bucket:Bucket"


def buckets(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    return of_type(resources, BUCKET)


def companions(bucket: PolicyResource, resources: Sequence[PolicyResource], type_: str) -> list[PolicyResource]:
    """The ``type_`` resources configuring ``bucket`` (they depend on it or name it in ``bucket``)."""
    return [r for r in of_type(resources, type_) if linked(r, bucket, "bucket")]


def exempt(bucket: PolicyResource, cfg: Mapping[str, Any]) -> str | None:
    """Why ``bucket`` is exempt by its tags (config ``exemptTags``: key -> allowed values), or None."""
    provider_props = bucket.provider.props if bucket.provider is not None else None
    tags = aws_tags(bucket.props, provider_props)
    for key, values in (cfg.get("exemptTags") or {}).items():
        if tags.get(key) in set(values):
            return f"{key}={tags[key]}"
    return None


def bucket_label(bucket: PolicyResource) -> str:
    name = get(bucket.props, "bucket")
    return f"bucket {bucket.name!r}" + (f" ({name})" if isinstance(name, str) and name else "")
