"""The BigQuery dataset a Cloud Billing detailed usage-cost export writes into (GKE cost allocation rows).

The export itself is switched on in the billing console (Billing > Billing export > BigQuery export):
there is no API for it. The dataset holds billing history: ``protect`` / ``retain`` it in prod.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp

_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")


class BillingExportDataset(pulumi.ComponentResource):
    """:param dataset_id: BigQuery dataset id. :param location: dataset location (region or multi-region).
    :param api: the ``projects.Service`` enabling ``bigquery.googleapis.com`` (the stack's API list owns it, so it is
        enabled once and by the provider every other resource waits for); the dataset depends on it."""

    def __init__(self, name: str, *, project: str, dataset_id: str, location: str, labels: Mapping[str, str] | None = None,
                 protect: bool = False, api: pulumi.Resource | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        if not _DATASET.match(dataset_id):
            raise ValueError(f"BillingExportDataset: {dataset_id!r} is not a BigQuery dataset id ([A-Za-z0-9_])")
        super().__init__("ml-platform:gcp:BillingExportDataset", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dataset = gcp.bigquery.Dataset(
            name,
            project=project,
            dataset_id=dataset_id,
            location=location,
            description="Cloud Billing detailed usage cost export (GKE cost allocation rows); read by `python -m infra report chargeback`",
            labels=dict(labels or {}),
            delete_contents_on_destroy=not protect,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect, retain_on_delete=protect, depends_on=[api] if api else [])),
        )
        self.register_outputs({"dataset": self.dataset.dataset_id})
