"""A Cloud Billing budget with e-mail alerts at 80% forecast and 100% actual spend.

A team's budget counts only costs carrying its ``team`` label (GKE cost allocation and the
platform's labels put it on the team's resources); the platform budget counts the project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from catalog.clouds import GCP_BILLING_ACCOUNT
from components.base import Component

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class BudgetArgs:
    """Arguments of :class:`Budget`.

    :param billing_account: Billing account id (``XXXXXX-XXXXXX-XXXXXX``).
    :param project_number: Project number the budget is limited to.
    :param display_name: Budget name shown in the console.
    :param amount_usd: Monthly limit in USD.
    :param label_filter: Only costs with these labels (one key at most, a billing API rule).
    :param emails: Who gets the alerts (an e-mail notification channel each).
    :param forecast_threshold: Share of the limit the forecast may reach before alerting.
    :param labels: Resource labels of the notification channels (their ``user_labels``: a
        channel's ``labels`` hold its configuration, e.g. ``email_address``).
    """

    billing_account: str
    project_number: pulumi.Input[str]
    display_name: str
    amount_usd: float
    label_filter: Mapping[str, str] = field(default_factory=dict)
    emails: Sequence[str] = ()
    forecast_threshold: float = 0.8
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.match(GCP_BILLING_ACCOUNT, self.billing_account):
            raise ValueError(f"billing_account {self.billing_account!r} must look like 012345-6789AB-CDEF01")
        if self.amount_usd <= 0:
            raise ValueError("amount_usd must be positive")
        if len(self.label_filter) > 1:
            raise ValueError("a budget filters on at most one label")
        for email in self.emails:
            if not _EMAIL.match(email):
                raise ValueError(f"{email!r} is not an e-mail address")
        if not 0 < self.forecast_threshold <= 1:
            raise ValueError("forecast_threshold must be in (0, 1]")
        if not 1 <= len(self.display_name) <= 60:
            raise ValueError("display_name must be 1-60 characters")


class Budget(Component):
    """A monthly budget and the notification channels it alerts."""

    budget: gcp.billing.Budget

    def __init__(self, resource_name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Budget", resource_name, opts)
        channels = [
            gcp.monitoring.NotificationChannel(
                f"{resource_name}-email-{i}",
                display_name=f"{args.display_name} alerts ({email})",
                type="email",
                labels={"email_address": email},  # the channel's config, not resource labels
                user_labels=dict(args.labels),
                opts=self.child_opts(),
            ).id
            for i, email in enumerate(args.emails)
        ]
        budget_filter: dict = {
            "projects": [pulumi.Output.concat("projects/", args.project_number)],
            "credit_types_treatment": "INCLUDE_ALL_CREDITS",
            "calendar_period": "MONTH",
        }
        if args.label_filter:
            budget_filter["labels"] = dict(args.label_filter)
        budget = gcp.billing.Budget(
            resource_name,
            billing_account=args.billing_account,
            display_name=args.display_name,
            amount={"specified_amount": {"currency_code": "USD", "units": str(round(args.amount_usd))}},
            budget_filter=budget_filter,
            threshold_rules=[
                {"threshold_percent": args.forecast_threshold, "spend_basis": "FORECASTED_SPEND"},
                {"threshold_percent": 1.0, "spend_basis": "CURRENT_SPEND"},
            ],
            all_updates_rule={"monitoring_notification_channels": channels} if channels else None,
            opts=self.child_opts(),
        )
        self.publish(budget=budget)
