"""The BigQuery dataset a Cloud Billing detailed usage-cost export writes into (GKE cost allocation rows).

The export itself is switched on in the billing console (Billing > Billing export > BigQuery export):
there is no API for it. The dataset holds billing history: ``protect`` / ``retain`` it in prod.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.base import Component

_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")


@dataclass(frozen=True)
class BillingExportDatasetArgs:
    """Arguments of :class:`BillingExportDataset`.

    :param project: Project id.
    :param dataset_id: BigQuery dataset id.
    :param location: Dataset location (region or multi-region).
    :param labels: Labels of the dataset.
    :param protect: Protect and retain the dataset, and keep its tables on delete (prod).
    """

    project: str
    dataset_id: str
    location: str
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False

    def __post_init__(self) -> None:
        if not _DATASET.match(self.dataset_id):
            raise ValueError(f"BillingExportDataset: {self.dataset_id!r} is not a BigQuery dataset id ([A-Za-z0-9_])")
        if not self.location:
            raise ValueError("BillingExportDataset: location is required")


class BillingExportDataset(Component):
    """The dataset. Pass the ``projects.Service`` enabling ``bigquery.googleapis.com`` in ``opts.depends_on`` (the
    stack's API list owns it, so it is enabled once and by the provider every other resource waits for); the
    dataset waits for it."""

    dataset: gcp.bigquery.Dataset
    dataset_id: pulumi.Output[str]

    def __init__(self, resource_name: str, args: BillingExportDatasetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:BillingExportDataset", resource_name, opts)
        dataset = gcp.bigquery.Dataset(
            resource_name,
            project=args.project,
            dataset_id=args.dataset_id,
            location=args.location,
            description="Cloud Billing detailed usage cost export (GKE cost allocation rows); read by `python -m infra report chargeback`",
            labels=dict(args.labels),
            delete_contents_on_destroy=not args.protect,
            opts=self.child_opts(keep=args.protect),
        )
        self.publish(dataset=dataset, dataset_id=dataset.dataset_id)
