"""MLP-TAG-001: every taggable AWS resource carries the required tags (own tags + provider default tags)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import tags as tagcfg
from policies.common.base import Report, aws_tags, resource_policy, schema
from policies.common.taggable import aws_taggable

TAGGABLE = aws_taggable()


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type in set(cfg["exemptTypes"]):
        return
    provider = args.provider.props if args.provider is not None else None
    found = tagcfg.problems(aws_tags(args.props, provider), cfg)
    if found:
        report(f"tags (resource tags + provider default_tags): {'; '.join(found)}")


POLICY = resource_policy(
    name="mlp-tag-001",
    description="Taggable AWS resources carry the required tags with allowed values (provider default tags count).",
    severity=Severity.MEDIUM,
    types=TAGGABLE.__contains__,
    check=check,
    config=schema(
        {
            "requiredTags": tagcfg.REQUIRED_PROPERTY,
            "allowedValues": tagcfg.ALLOWED_PROPERTY,
            "exemptTypes": {"type": "array", "items": {"type": "string"}, "default": [], "description": "Types to skip."},
        }
    ),
    remediation="Set default_tags on the aws.Provider (infra/tagging.py platform_tags) and pass the provider explicitly.",
)
