"""GCP billing data for chargeback: the BigQuery dataset the Cloud Billing export writes into.

GKE cost allocation is on for every cluster we build (``cost_management_config``); its per-namespace
and per-label rows appear only in the *detailed* billing export to BigQuery. The program creates the
dataset (``monitoring.billingDataset``); switching the export on is done once in the billing console.
"""

from __future__ import annotations

import pulumi

from components.gcp.billing_export import BillingExportDataset, BillingExportDatasetArgs
from infra import config


def build(
    cfg: config.PlatformConfig,
    project: str,
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
    *,
    bigquery_api: pulumi.Resource | None,
) -> None:
    """:param opts: the API-gated provider (``infra.layers.gcp``). :param bigquery_api: the ``projects.Service`` enabling
    ``bigquery.googleapis.com`` (``required_apis`` lists it whenever ``monitoring.billingDataset`` is set)."""
    dataset = cfg.monitoring.billing_dataset
    if dataset is None:
        return
    BillingExportDataset(
        "billing-export",
        BillingExportDatasetArgs(
            project=project, dataset_id=dataset, location=str(cfg.region), labels=labels, protect=cfg.is_prod
        ),
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[bigquery_api] if bigquery_api else None)),
    )
    pulumi.export("billingExportDataset", f"{project}.{dataset}")
