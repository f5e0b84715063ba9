"""What ``cloud: gcp`` needs: GKE, Cloud SQL, Memorystore and GCS facts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from catalog import gpus as catalog
from catalog.clouds import (
    GCP_BILLING_ACCOUNT,
    GCS_LOG_SUFFIX,
    GKE_MAX_TIME_SHARING_CLIENTS,
    GKE_PARTITION_SIZES,
    MEMORYSTORE_TIERS,
    gcs_multi_region_of,
    is_cloud_sql_tier,
)
from infra.config.base import NAMESPACE, Problem
from infra.config.checks.pools import gke_gpu_direct_checks
from infra.config.models import PlatformConfig


def gcp_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """What ``cloud: gcp`` (GKE, Cloud SQL, Memorystore, GCS) needs."""
    if cfg.cloud != "gcp":
        return
    ns = NAMESPACE + ":"
    if cfg.dr.enabled and cfg.dr.region and cfg.region:
        if gcs_multi_region_of(cfg.region) is None or gcs_multi_region_of(cfg.region) != gcs_multi_region_of(cfg.dr.region):
            yield (
                ns + "dr.region",
                f"{cfg.dr.region!r} and {cfg.region!r} must be on one continent (the lake is a dual-region bucket)",
            )
    if GCS_LOG_SUFFIX in cfg.data_lake.zones:
        yield ns + "dataLake.zones", f"{GCS_LOG_SUFFIX!r} is reserved for the lake's access-log bucket on gcp"
    yield from gke_gpu_direct_checks(cfg)
    account = cfg.gcp.billing_account
    if account is not None and not re.match(GCP_BILLING_ACCOUNT, account):
        yield ns + "gcp.billingAccount", f"{account!r} is not a billing account id such as 012345-6789AB-CDEF01"
    # the values below are the effective ones (infra.config.defaults fills gcp's own when the stack leaves them unset)
    system = cfg.cluster.system_nodes
    if system.instance_type is not None and "." in system.instance_type:
        yield (
            ns + "cluster.systemNodes.instanceType",
            f"{system.instance_type!r} is an EC2 type; on gcp use a GCE machine type such as e2-standard-4",
        )
    db = cfg.mlflow.database
    if db.instance_class is not None and not is_cloud_sql_tier(db.instance_class):
        yield (
            ns + "mlflow.database.instanceClass",
            f"{db.instance_class!r} is not a Cloud SQL tier; use db-custom-<vCPUs>-<MiB> such as db-custom-2-7680",
        )
    store = cfg.feast.online_store
    if store.node_type is not None and store.node_type not in MEMORYSTORE_TIERS:
        yield (
            ns + "feast.onlineStore.nodeType",
            f"{store.node_type!r} is not a Memorystore tier; allowed: {', '.join(MEMORYSTORE_TIERS)}",
        )
    elif (
        cfg.feast.enabled
        and store.high_availability is not None
        and store.high_availability != (store.node_type == "STANDARD_HA")
    ):
        yield (
            ns + "feast.onlineStore.highAvailability",
            f"{str(store.high_availability).lower()} contradicts nodeType {store.node_type!r}: on gcp the Memorystore tier is the HA "
            "switch; allowed: set one of them (STANDARD_HA is highly available, BASIC is not)",
        )
    for i, pool in enumerate(cfg.gpu_pools):
        key = f"{ns}gpuPools[{i}]"
        if len(pool.instance_types) > 1:
            yield f"{key}.instanceTypes", "a GKE node pool has one machine type; list one (or make one pool per type)"
        try:
            accelerator = catalog.gke_accelerator(cfg.pool_node_types(pool)[0])  # A3 Mega has its own type
        except (catalog.CatalogError, IndexError):
            continue  # reported by the pool checks
        sizes = GKE_PARTITION_SIZES.get(accelerator or "", ())
        if pool.mig_profile and accelerator and pool.mig_profile not in sizes:
            yield (
                f"{key}.migProfile",
                f"GKE does not offer MIG partition {pool.mig_profile!r} on {accelerator}; allowed: {', '.join(sizes) or 'none'}",
            )
        if pool.time_slicing_replicas is not None and pool.time_slicing_replicas > GKE_MAX_TIME_SHARING_CLIENTS:
            yield f"{key}.timeSlicingReplicas", f"GKE time-sharing allows at most {GKE_MAX_TIME_SHARING_CLIENTS} clients per GPU"
        nodes = cfg.pool_node_types(pool)
        if pool.gpu_limit is not None and nodes:
            # a GKE node pool is bounded by its node count: gpuLimit caps maxNodes at gpuLimit // GPUs per node
            least = max(1, pool.min_nodes) * nodes[0].gpus
            if pool.gpu_limit < least:
                yield (
                    f"{key}.gpuLimit",
                    f"{pool.gpu_limit} is below {least}: a GKE pool scales in whole {nodes[0].name} nodes of "
                    f"{nodes[0].gpus} GPU(s) (minNodes {pool.min_nodes}); allowed: {least} or more",
                )
