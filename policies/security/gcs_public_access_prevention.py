"""MLP-SEC-021: GCS buckets enforce public access prevention."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    value = get(args.props, "publicAccessPrevention")
    if value != "enforced":
        report(f"publicAccessPrevention is {value!r}; set it to 'enforced'")


POLICY = resource_policy(
    name="mlp-sec-021",
    description="GCS buckets enforce public access prevention.",
    severity=Severity.CRITICAL,
    types=["gcp:storage/bucket:Bucket"],
    check=check,
)
