"""GCP billing: the platform's Cloud Billing budget and the BigQuery dataset the billing export writes into.

- ``budget.monthlyUsd`` (with ``gcp.billingAccount``): one budget on the project with e-mail alerts.
  No per-team billing budget: GKE cost allocation (the team's share of shared GPU nodes) is only in
  the BigQuery billing export, which budgets cannot filter on; ``teams[].budgetUsd`` is enforced from
  OpenCost's data instead (``infra/layers/k8s_monitoring.py``).
- ``monitoring.billingDataset``: GKE cost allocation is on for every cluster we build
  (``cost_management_config``); its per-namespace and per-label rows appear only in the *detailed*
  billing export to BigQuery. The program creates the dataset; switching the export on is done once
  in the billing console.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.gcp.billing_export import BillingExportDataset, BillingExportDatasetArgs
from components.gcp.budgets import Budget, BudgetArgs
from infra import config
from infra.layers.gcp_foundation import GcpFoundation


def build(cfg: config.PlatformConfig, foundation: GcpFoundation) -> None:
    if cfg.gcp.billing_account and cfg.budget.monthly_usd:
        number = gcp.organizations.get_project_output(project_id=foundation.project, opts=foundation.invoke).number
        Budget(
            "budget-platform",
            BudgetArgs(
                billing_account=str(cfg.gcp.billing_account),
                project_number=number,
                display_name=f"{cfg.cluster_name} platform",
                amount_usd=cfg.budget.monthly_usd,
                emails=tuple(cfg.budget.alert_emails),
                labels=foundation.labels,
            ),
            foundation.opts,
        )
    dataset = cfg.monitoring.billing_dataset
    if dataset is None:
        return
    # required_apis lists bigquery.googleapis.com whenever monitoring.billingDataset is set; the dataset waits for it
    bigquery_api = foundation.apis.by_api.get("bigquery.googleapis.com")
    BillingExportDataset(
        "billing-export",
        BillingExportDatasetArgs(
            project=foundation.project,
            dataset_id=dataset,
            location=foundation.region,
            labels=foundation.labels,
            protect=cfg.is_prod,
        ),
        pulumi.ResourceOptions.merge(
            foundation.opts, pulumi.ResourceOptions(depends_on=[bigquery_api] if bigquery_api else None)
        ),
    )
    pulumi.export("billingExportDataset", f"{foundation.project}.{dataset}")
