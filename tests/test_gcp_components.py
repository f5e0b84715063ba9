"""Unit tests of the GCP components' argument checks and helpers, and a component run under mocks."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.gcp.budgets import BudgetArgs
from components.gcp.cloudsql import CloudSqlPostgresArgs
from components.gcp.data_lake import DataLake, DataLakeArgs
from components.gcp.gke import GkeClusterArgs
from components.gcp.gpu_node_pool import GpuNodePoolArgs
from components.gcp.kms import KmsKeysArgs
from components.gcp.memorystore import MemorystoreArgs
from components.gcp.network import NetworkArgs
from components.gcp.team_iam import BucketGrant, WorkloadIdentityArgs, account_id
from infra.plan import engine

POOL: dict[str, Any] = {
    "cluster": "c",
    "location": "us-central1",
    "pool": "train",
    "purpose": "training",
    "gpu_model": "A100-40GB",
    "machine_type": "a2-highgpu-1g",
    "accelerator_type": "nvidia-tesla-a100",
    "accelerator_count": 1,
    "max_nodes": 2,
    "service_account": "sa@p.iam.gserviceaccount.com",
}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: NetworkArgs(name="n", region="r", cidr="10.0.0.0/16", pods_cidr="10.0.128.0/17", services_cidr="10.8.0.0/20"),
            "overlaps",
        ),
        (lambda: NetworkArgs(name="n", region="r", cidr="10.0.0.0/16", pods_cidr="10.4.0.0/14", services_cidr="x"), "not a CIDR"),
        (
            lambda: DataLakeArgs(
                bucket_prefix="p", zones=["raw"], region="us-central1", kms_key_id="k", dr_region="europe-west4"
            ),
            "continent",
        ),
        (lambda: DataLakeArgs(bucket_prefix="p", zones=["logs"], region="us-central1", kms_key_id="k"), "reserved"),
        (
            lambda: DataLakeArgs(
                bucket_prefix="p", zones=["raw"], region="us-central1", kms_key_id="k", protect=True, force_destroy=True
            ),
            "force_destroy",
        ),
        (
            lambda: DataLakeArgs(bucket_prefix="p", zones=["raw"], region="us-central1", kms_key_id="k", turbo_replication=True),
            "dual-region",
        ),
        (lambda: GpuNodePoolArgs(**{**POOL, "partition_size": "4g.20gb"}), "not a GKE MIG size"),
        (lambda: GpuNodePoolArgs(**{**POOL, "partition_size": "1g.5gb", "time_sharing_clients": 2}), "not both"),
        (lambda: GpuNodePoolArgs(**{**POOL, "min_nodes": 3}), "min_nodes"),
        (lambda: GpuNodePoolArgs(**{**POOL, "accelerator_type": "tpu-v5"}), "accelerator"),
        (lambda: BucketGrant(key="raw", bucket="b"), "whole bucket"),
        (lambda: BucketGrant(key="raw", bucket="b", prefix="teams/a"), "end with '/'"),
        (lambda: BucketGrant(key="raw", bucket="b", prefix="teams/a/", exclude_prefix="teams/"), "whole-bucket grant"),
        (lambda: BucketGrant(key="raw", bucket="b", read_only=True, exclude_prefix="teams"), "end with '/'"),
        (lambda: WorkloadIdentityArgs(account_id="x", project="p", namespace="a", service_account="b"), "account_id"),
        (
            lambda: CloudSqlPostgresArgs(
                instance_name="db", region="r", network="n", databases=["mlflow"], kms_key_id="k", tier="db.r6g.large"
            ),
            "tier",
        ),
        (lambda: MemorystoreArgs(instance_name="r", region="r", network="n", kms_key_id="k", read_replicas=1), "STANDARD_HA"),
        (lambda: KmsKeysArgs(key_ring="ring", location="us", keys={"lake": {}}, rotation_days=0), "rotation_days"),
        (lambda: BudgetArgs(billing_account="nope", project_number="1", display_name="b", amount_usd=1), "billing_account"),
        (
            lambda: BudgetArgs(
                billing_account="01A2B3-C4D5E6-F7A8B9",
                project_number="1",
                display_name="b",
                amount_usd=1,
                label_filter={"a": "1", "b": "2"},
            ),
            "one label",
        ),
        (
            lambda: GkeClusterArgs(
                name="c",
                project="p",
                region="r",
                network="n",
                subnetwork="s",
                pods_range="p",
                services_range="s",
                secrets_key_id="k",
                authorized_cidrs=("0.0.0.0/0",),
            ),
            "internet",
        ),
    ],
)
def test_component_args_reject_mistakes_eagerly(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_account_ids_are_valid_and_distinct_when_shortened() -> None:
    long_a = account_id("mlp-production-cluster", "computer-vision-research")
    long_b = account_id("mlp-production-cluster", "computer-vision-research-2")
    for aid in (long_a, long_b, account_id("ab")):
        WorkloadIdentityArgs(
            account_id=aid if aid[0].isalpha() else "a" + aid[1:], project="p", namespace="n", service_account="s"
        )
        assert 6 <= len(aid) <= 30
    assert long_a != long_b


def test_network_splits_the_range_between_regions_with_dr() -> None:
    args = NetworkArgs(
        name="n",
        region="us-central1",
        cidr="10.50.0.0/16",
        pods_cidr="10.80.0.0/14",
        services_cidr="10.84.0.0/20",
        dr_region="us-east1",
    )
    assert args.subnet_cidrs() == ("10.50.0.0/17", "10.50.128.0/17")
    assert args.secondary_ranges() == (
        {"pods": "10.80.0.0/15", "services": "10.84.0.0/21"},
        {"pods": "10.82.0.0/15", "services": "10.84.8.0/21"},
    )
    single = NetworkArgs(
        name="n", region="us-central1", cidr="10.50.0.0/16", pods_cidr="10.80.0.0/14", services_cidr="10.84.0.0/20"
    )
    assert single.secondary_ranges() == ({"pods": "10.80.0.0/14", "services": "10.84.0.0/20"}, None)


def test_gpu_pool_labels_cannot_be_overridden_by_accident_but_can_on_purpose() -> None:
    args = GpuNodePoolArgs(**{**POOL, "pool": "train-ondemand", "node_labels": {"ml-platform.io/pool": "train"}})
    assert args.kubernetes_labels["ml-platform.io/pool"] == "train"
    assert args.kubernetes_labels["ml-platform.io/gpu"] == "A100-40GB"


def test_data_lake_component_builds_dual_region_buckets_under_mocks() -> None:
    def program() -> None:
        DataLake(
            "lake",
            DataLakeArgs(
                bucket_prefix="proj-prod",
                zones=["raw", "models"],
                region="europe-west4",
                dr_region="europe-west1",
                kms_key_id="projects/p/locations/eu/keyRings/r/cryptoKeys/lake",
                turbo_replication=True,
            ),
            pulumi.ResourceOptions(provider=pulumi.ProviderResource("gcp", "gcp", props={"project": "proj"})),
        )

    resources, _ = engine.run_program("unit", {"cloud": "gcp", "environment": "dev"}, [], program=program)
    buckets = {r.inputs["name"]: r.inputs for r in resources if r.type == "gcp:storage/bucket:Bucket"}
    assert set(buckets) == {"proj-prod-raw", "proj-prod-models", "proj-prod-logs"}
    for inputs in buckets.values():
        assert inputs["location"] == "EU"
        assert inputs["customPlacementConfig"] == {"dataLocations": ["EUROPE-WEST4", "EUROPE-WEST1"]}
        assert inputs["rpo"] == "ASYNC_TURBO"
    writers = [r for r in resources if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember"]
    assert [(w.inputs["bucket"], w.inputs["role"], w.inputs["member"]) for w in writers] == [
        ("proj-prod-logs", "roles/storage.objectCreator", "group:cloud-storage-analytics@google.com")
    ]


def test_billing_export_dataset_args_refuse_a_bad_dataset_id() -> None:
    from components.gcp.billing_export import BillingExportDatasetArgs

    with pytest.raises(ValueError, match="not a BigQuery dataset id"):
        BillingExportDatasetArgs(project="p", dataset_id="billing-export", location="us-central1")


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_every_gcp_component_passes_its_dependencies_to_its_children(stack: str) -> None:
    """A GCP component's ``depends_on`` (Cloud SQL / Memorystore: the private services connection; the billing
    dataset: the BigQuery API) reaches every child, not only the one the component was written around
    (issue 14; the cross-cloud test in tests/test_component_shape.py waits for the other components)."""
    from tests.helpers import plan_stack

    plan = plan_stack(stack)
    checked, missing = 0, []
    for comp in plan.resources:
        if comp.custom or not comp.type.startswith("ml-platform:gcp:") or not comp.dependencies:
            continue
        for child in (r for r in plan.resources if r.parent == comp.urn):
            checked += 1
            lacking = set(comp.dependencies) - set(child.dependencies)
            if lacking:
                missing.append(f"{child.urn} lacks {sorted(lacking)}")
    assert not missing, "\n".join(missing)
    assert checked >= 6  # the database's instance, suffix, databases, users, passwords and secrets
