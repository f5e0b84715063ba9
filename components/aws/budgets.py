"""Monthly AWS cost budgets with forecast and actual alerts, optionally filtered on one cost-allocation tag.

A team's budget filters on the ``team`` tag (``user:team$<team>``); the tag must be activated
once as a cost-allocation tag in the billing console (or with ``aws.costexplorer.CostAllocationTag``
once it has appeared in billing data), otherwise the filtered budget stays at zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.base import Component

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME = re.compile(r"^[^:\\]{1,100}$")


@dataclass(frozen=True)
class Alert:
    """Notify when ``kind`` (``ACTUAL`` or ``FORECASTED``) spend passes ``percent`` of the limit."""

    percent: float
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ("ACTUAL", "FORECASTED"):
            raise ValueError(f"Alert: kind must be ACTUAL or FORECASTED, got {self.kind!r}")
        if not 0 < self.percent <= 1000:
            raise ValueError(f"Alert: percent {self.percent} must be in (0, 1000]")


DEFAULT_ALERTS = (Alert(80, "FORECASTED"), Alert(100, "ACTUAL"))


def tag_filter_value(key: str, value: str) -> str:
    """The ``TagKeyValue`` cost-filter value of a user-defined tag."""
    return f"user:{key}${value}"


@dataclass(frozen=True)
class CostBudgetArgs:
    """Arguments of :class:`CostBudget`.

    :param budget_name: unique within the account (include the environment).
    :param limit_usd: the monthly limit.
    :param emails: who gets the alerts; without any, the budget has no notifications.
    :param tag: ``(key, value)`` of a cost-allocation tag to filter on; ``None``: the whole account.
    :param alerts: thresholds (default 80% forecast, 100% actual).
    """

    budget_name: str
    limit_usd: float
    emails: Sequence[str] = ()
    tag: tuple[str, str] | None = None
    alerts: Sequence[Alert] = DEFAULT_ALERTS

    def __post_init__(self) -> None:
        if not _NAME.match(self.budget_name):
            raise ValueError(f"CostBudget: budget_name {self.budget_name!r} must be 1-100 characters without ':' or '\\'")
        if not self.limit_usd > 0:
            raise ValueError(f"CostBudget: limit_usd must be positive, got {self.limit_usd}")
        bad = [e for e in self.emails if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"CostBudget: not e-mail addresses: {bad}")
        if len(self.emails) > 10:
            raise ValueError("CostBudget: AWS allows at most 10 e-mail subscribers per notification")
        if self.tag is not None and (not self.tag[0] or not self.tag[1]):
            raise ValueError(f"CostBudget: tag {self.tag!r} needs a key and a value")
        object.__setattr__(self, "emails", tuple(self.emails))
        object.__setattr__(self, "alerts", tuple(self.alerts))


class CostBudget(Component):
    """One monthly ``COST`` budget in USD (the AWS provider comes through ``opts``)."""

    name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:CostBudget", resource_name, opts)
        notifications = (
            [
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    threshold=a.percent,
                    threshold_type="PERCENTAGE",
                    notification_type=a.kind,
                    subscriber_email_addresses=list(args.emails),
                )
                for a in args.alerts
            ]
            if args.emails
            else []
        )
        tag = args.tag
        self.budget = aws.budgets.Budget(
            resource_name,
            name=args.budget_name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.limit_usd:.2f}",
            limit_unit="USD",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[tag_filter_value(*tag)])] if tag else None,
            notifications=notifications or None,
            opts=self.child_opts(),
        )
        self.publish(name=self.budget.name)
