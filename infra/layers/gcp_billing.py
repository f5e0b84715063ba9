"""GCP billing data for chargeback: the BigQuery dataset the Cloud Billing export writes into.

GKE cost allocation is on for every cluster we build (``cost_management_config``); its per-namespace
and per-label rows appear only in the *detailed* billing export to BigQuery. The program creates the
dataset (``monitoring.billingDataset``); switching the export on (Billing > Billing export > BigQuery,
"Detailed usage cost", this dataset) is done once in the billing console: there is no API for it.
The dataset is stateful (billing history): protected and retained in prod.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import config


def build(cfg: config.PlatformConfig, project: str, labels: dict[str, str], opts: pulumi.ResourceOptions) -> None:
    dataset = cfg.monitoring.billing_dataset
    if dataset is None:
        return
    api = gcp.projects.Service("billing-export-bigquery-api", project=project, service="bigquery.googleapis.com",
                               disable_on_destroy=False, opts=opts)
    gcp.bigquery.Dataset(
        "billing-export",
        project=project,
        dataset_id=dataset,
        location=str(cfg.region),
        description="Cloud Billing detailed usage cost export (GKE cost allocation rows); read by `python -m infra report chargeback`",
        labels=labels,
        delete_contents_on_destroy=not cfg.is_prod,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=cfg.is_prod, retain_on_delete=cfg.is_prod, depends_on=[api])
        ),
    )
    pulumi.export("billingExportDataset", f"{project}.{dataset}")
