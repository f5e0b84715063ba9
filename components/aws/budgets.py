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


class CostBudget(pulumi.ComponentResource):
    """One monthly ``COST`` budget in USD.

    :param budget_name: unique within the account (include the environment).
    :param limit_usd: the monthly limit.
    :param emails: who gets the alerts; without any, the budget has no notifications.
    :param tag: ``(key, value)`` of a cost-allocation tag to filter on; ``None``: the whole account.
    :param alerts: thresholds (default 80% forecast, 100% actual).
    :param provider: the AWS provider.
    """

    def __init__(
        self,
        name: str,
        *,
        budget_name: str,
        limit_usd: float,
        emails: Sequence[str] = (),
        tag: tuple[str, str] | None = None,
        alerts: Sequence[Alert] = DEFAULT_ALERTS,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not _NAME.match(budget_name):
            raise ValueError(f"CostBudget: budget_name {budget_name!r} must be 1-100 characters without ':' or '\\'")
        if not limit_usd > 0:
            raise ValueError(f"CostBudget: limit_usd must be positive, got {limit_usd}")
        bad = [e for e in emails if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"CostBudget: not e-mail addresses: {bad}")
        if len(emails) > 10:
            raise ValueError("CostBudget: AWS allows at most 10 e-mail subscribers per notification")
        if tag is not None and (not tag[0] or not tag[1]):
            raise ValueError(f"CostBudget: tag {tag!r} needs a key and a value")
        if provider is None:
            raise ValueError("CostBudget: provider is required")
        super().__init__("ml-platform:aws:CostBudget", name, None, opts)
        notifications = [
            aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                threshold=a.percent,
                threshold_type="PERCENTAGE",
                notification_type=a.kind,
                subscriber_email_addresses=list(emails),
            )
            for a in alerts
        ] if emails else []
        self.budget = aws.budgets.Budget(
            name,
            name=budget_name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{limit_usd:.2f}",
            limit_unit="USD",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[tag_filter_value(*tag)])] if tag else None,
            notifications=notifications or None,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.register_outputs({"name": self.budget.name})
