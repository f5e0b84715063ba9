"""MLP-TAG-002: every labelled GCP resource carries the required labels (own labels + provider default labels)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import tags as tagcfg
from policies.common.base import Report, gcp_labels, get, resource_policy, schema
from policies.common.taggable import gcp_label_property

LABELLED = gcp_label_property()
NESTED: dict[str, tuple[str, ...]] = {
    "gcp:sql/databaseInstance:DatabaseInstance": ("settings", "userLabels"),
    "gcp:container/nodePool:NodePool": ("nodeConfig", "resourceLabels"),
}
"""Types whose labels live in a nested map; the provider's default labels do not reach them."""


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type in NESTED:
        path = NESTED[args.resource_type]
        labels = {str(k): str(v) for k, v in (get(args.props, *path, default={}) or {}).items() if v is not None}
        found = tagcfg.problems(labels, cfg, normalise=True)
        if found:
            report(f"{'.'.join(path)}: {'; '.join(found)}")
        return
    provider = args.provider.props if args.provider is not None else None
    prop = LABELLED[args.resource_type]
    found = tagcfg.problems(gcp_labels(args.props, provider, prop), cfg, normalise=True)
    if found:
        report(f"{prop} (with provider default labels): {'; '.join(found)}")


POLICY = resource_policy(
    name="mlp-tag-002",
    description="GCP resources that take labels carry the required labels with allowed values.",
    severity=Severity.MEDIUM,
    types=lambda t: t in LABELLED or t in NESTED,
    check=check,
    config=schema({"requiredTags": tagcfg.REQUIRED_PROPERTY, "allowedValues": tagcfg.ALLOWED_PROPERTY}),
    remediation="Register infra.tagging.gcp_label_transform(cfg) as a stack transform, or set labels.",
)
