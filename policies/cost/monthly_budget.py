"""MLP-COST-008: the estimated monthly cost stays within the environment's budget."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from catalog import conventions as cv
from catalog import cost_model
from policies.common.base import (
    Report,
    as_number,
    aws_tags,
    gcp_labels,
    get,
    plain_lenient,
    schema,
    stack_environment,
    stack_policy,
)

AWS_BUDGET = "aws:budgets/budget:Budget"
GCP_BUDGET = "gcp:billing/budget:Budget"


def platform_budget(resources: list[Any]) -> float | None:
    """The limit of the platform's own budget resource (team tag ``platform``, no team filter)."""
    for res in resources:
        provider = res.provider.props if res.provider is not None else None
        if res.resource_type == AWS_BUDGET:
            tags = aws_tags(res.props, provider)
            filtered = any(get(f, "name") == "TagKeyValue" for f in get(res.props, "costFilters", default=[]))
            if tags.get(cv.TAG_TEAM) == cv.PLATFORM_TEAM and not filtered:
                return as_number(get(res.props, "limitAmount"))
        elif res.resource_type == GCP_BUDGET:
            labels = gcp_labels(res.props, provider, "labels")
            if not get(res.props, "budgetFilter", "labels") and labels.get(cv.TAG_TEAM, cv.PLATFORM_TEAM) == cv.PLATFORM_TEAM:
                return as_number(get(res.props, "amount", "specifiedAmount", "units"))
    return None


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    budget = as_number(cfg.get("monthlyBudgetUsd")) or platform_budget(args.resources)
    if budget is None:
        args.not_applicable("no monthlyBudgetUsd in the pack config and no platform budget resource in the stack")
        return  # not reached: not_applicable raises
    records = [(r.urn, r.resource_type, plain_lenient(r.props)) for r in args.resources]
    storage = {str(k): float(v) for k, v in (cfg.get("storageGb") or {}).items()}
    region = str(cfg["region"]) if cfg.get("region") else None
    idle, ceiling = cost_model.totals(cost_model.estimate_items(records, storage_gb=storage, region=region))
    estimate = ceiling if cfg["basis"] == "ceiling" else idle
    if estimate > budget:
        env = stack_environment(cfg, args.resources)
        report(
            f"estimated {cfg['basis']} cost ${estimate:,.0f}/month (idle ${idle:,.0f}, ceiling ${ceiling:,.0f}) "
            f"exceeds the {env} budget of ${budget:,.0f}/month"
        )


POLICY = stack_policy(
    name="mlp-cost-008",
    description="The estimated monthly cost of the stack stays within the environment's budget.",
    severity=Severity.HIGH,
    check=check,
    config=schema(
        {
            "monthlyBudgetUsd": {
                "type": "number",
                "description": "Budget to compare against; default: the platform "
                "aws.budgets.Budget / GCP billing budget in the stack.",
            },
            "basis": {
                "type": "string",
                "enum": ["ceiling", "idle"],
                "default": "ceiling",
                "description": "Compare the cost with pools at their ceiling or at their baseline.",
            },
            "storageGb": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "default": {},
                "description": "Stored GB per lake zone, to price the buckets.",
            },
            "region": {
                "type": "string",
                "description": "The stack's region: GPU and CPU nodes are priced there "
                "(regional price factors of the catalog); default: the reference regions.",
            },
        },
        env=True,
    ),
)
