"""Cloud layer for ``cloud: gcp``: VPC, KMS, GCS lake, GKE, GPU node pools, IAM, managed stores.

Only composition: every resource lives in a ``components.gcp`` component; this module turns
the stack config into the components' arguments and hands a :class:`CloudLayer` on.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from catalog import pool_nodes
from components.gcp.apis import ProjectApis, ProjectApisArgs
from components.gcp.audit_logs import AuditLogs, AuditLogsArgs
from components.gcp.budgets import Budget, BudgetArgs
from components.gcp.cloudsql import CloudSqlPostgres, CloudSqlPostgresArgs
from components.gcp.data_lake import DataLake, DataLakeArgs
from components.gcp.gke import GkeCluster, GkeClusterArgs
from components.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.gcp.kms import KmsKeys, KmsKeysArgs, ServiceAgents, ServiceAgentsArgs
from components.gcp.memorystore import Memorystore, MemorystoreArgs
from components.gcp.network import PODS_RANGE, SERVICES_RANGE, Network, NetworkArgs
from components.gcp.team_iam import BucketGrant, WorkloadIdentity, WorkloadIdentityArgs, account_id
from components.k8s import feast as feast_k8s
from components.k8s import kueue
from components.k8s import mlflow as mlflow_k8s
from components.k8s import training as kueue_training
from infra import config, tagging
from infra.layers import gcp_billing
from infra.layers.context import CloudLayer, DatabaseInfo, RedisInfo

TEAMS_ROOT = "teams/"
"""Where the teams' prefixes live; not readable through a shared zone's read-only grant."""
TEAM_PREFIX = TEAMS_ROOT + "{team}/"
"""Where a team's objects live in every lake bucket."""
MLFLOW_PREFIX = "mlflow/"
"""MLflow's artifact prefix in the ``models`` bucket."""
SERVICE_ACCOUNTS = {"mlflow": (cv.NS_MLFLOW, mlflow_k8s.SERVICE_ACCOUNT), "feast": (cv.NS_FEAST, feast_k8s.SERVICE_ACCOUNT)}
"""Platform service -> (namespace, Kubernetes service account) bound to its Google identity."""
MASTER_CIDR = "172.16.0.0/28"
"""The GKE control plane's private /28 (outside every range the config sets)."""
DEFAULT_SYSTEM_MACHINE = "e2-standard-4"
DEFAULT_SQL_TIER = {"dev": "db-custom-1-3840", "staging": "db-custom-2-7680", "prod": "db-custom-4-15360"}
REDIS_MEMORY_GB = {"dev": 1, "staging": 2, "prod": 5}
KEY_ROTATION_DAYS = 90
GKE_DRIVER_DIR = "/home/kubernetes/bin/nvidia"
"""Where GKE installs the NVIDIA driver on its nodes (writable, survives reboots)."""
GKE_METADATA_SERVER = "169.254.169.252/32"
GKE_METADATA_PORT = 988
"""Where pods on a Dataplane V2 cluster reach the GKE metadata server (Workload Identity tokens)."""
NO_GKE_DEVICE_PLUGIN = "gke-no-default-nvidia-gpu-device-plugin"
"""Node label that keeps GKE's own device plugin off, for nodes the GPU operator manages."""


def team_service_account(team: str) -> str:
    """The Kubernetes service account a team's workloads run as (namespace = team name)."""
    return f"{team}-workloads"


def required_apis(cfg: config.PlatformConfig) -> tuple[str, ...]:
    """The Google APIs the stack's resources need enabled in its project (also checked by
    ``python -m infra ops preflight``)."""
    apis = [
        "serviceusage.googleapis.com",  # enabling the others
        "cloudresourcemanager.googleapis.com",  # project lookups, IAM on the project
        "compute.googleapis.com",
        "container.googleapis.com",
        "cloudkms.googleapis.com",
        "storage.googleapis.com",
        "iam.googleapis.com",
        "iamcredentials.googleapis.com",  # Workload Identity tokens for the pods
        "servicenetworking.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
    ]
    if cfg.needs_database:
        apis += ["sqladmin.googleapis.com", "secretmanager.googleapis.com"]
    if cfg.feast.enabled:
        apis.append("redis.googleapis.com")
    if cfg.gcp.billing_account:
        apis.append("billingbudgets.googleapis.com")
    if cfg.monitoring.billing_dataset:
        apis.append("bigquery.googleapis.com")  # the billing export dataset (infra/layers/gcp_billing.py)
    return tuple(apis)


def lake_bucket_prefix(cfg: config.PlatformConfig) -> str:
    """Lake bucket names start with this (see :func:`components.gcp.data_lake.bucket_name`)."""
    return f"{cfg.gcp.project}-{cfg.environment}"


def build(cfg: config.PlatformConfig) -> CloudLayer:
    project = str(cfg.gcp.project)
    region = str(cfg.region)
    prod = cfg.is_prod
    labels = tagging.gcp_labels(tagging.platform_tags(cfg))
    _register_label_transform(cfg)
    settings = {
        "project": project,
        "region": region,
        "default_labels": labels,
        "billing_project": project,
        "user_project_override": True,
    }
    # the APIs come first: every other resource and invoke uses a provider that waits for them
    apis = ProjectApis(
        "apis",
        ProjectApisArgs(project=project, apis=required_apis(cfg)),
        pulumi.ResourceOptions(provider=gcp.Provider("gcp-apis", **settings)),
    )
    provider = gcp.Provider("gcp", **settings, opts=pulumi.ResourceOptions(depends_on=apis.services))
    opts = pulumi.ResourceOptions(provider=provider)
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    name = cfg.cluster_name

    network = Network(
        "network",
        NetworkArgs(
            name=name,
            region=region,
            cidr=cfg.network.cidr,
            pods_cidr=cfg.network.pods_cidr,
            services_cidr=cfg.network.services_cidr,
            dr_region=cfg.dr_region,
            # outside prod the peering is removed on destroy even while Google still holds the
            # service producer network of deleted instances (the VPC can then be deleted); in prod
            # it stays with the retained database and Redis
            keep_private_services=prod,
        ),
        opts,
    )

    # ---- keys: one ring in the region, one where the (dual-region) lake lives ----
    services = ["container.googleapis.com"]
    if cfg.needs_database:
        services.append("sqladmin.googleapis.com")
    if cfg.feast.enabled:
        services.append("redis.googleapis.com")
    agents = ServiceAgents("service-agents", ServiceAgentsArgs(services=tuple(services)), opts)
    gcs_agent = gcp.storage.get_project_service_account_output(project=project, opts=invoke).member
    lake_args = _lake_args(cfg, name, project, labels, kms_key_id="")
    regional_keys: dict[str, dict[str, pulumi.Input[str]]] = {"gke-secrets": {"gke": agents.members["container.googleapis.com"]}}
    if cfg.needs_database:
        regional_keys["cloudsql"] = {"cloudsql": agents.members["sqladmin.googleapis.com"]}
    if cfg.feast.enabled:
        regional_keys["redis"] = {"redis": agents.members["redis.googleapis.com"]}
    lake_in_region = lake_args.kms_location == region
    if lake_in_region:
        regional_keys["lake"] = {"gcs": gcs_agent}
    keys = KmsKeys(
        "kms",
        KmsKeysArgs(
            key_ring=name,
            location=region,
            keys=regional_keys,
            rotation_days=KEY_ROTATION_DAYS,
            protect=prod,
            unique_suffix=not prod,
            labels=labels,
        ),
        opts,
    )
    lake_key = (
        keys.key_ids["lake"]
        if lake_in_region
        else KmsKeys(
            "kms-lake",
            KmsKeysArgs(
                key_ring=f"{name}-lake",
                location=lake_args.kms_location,
                keys={"lake": {"gcs": gcs_agent}},
                rotation_days=KEY_ROTATION_DAYS,
                protect=prod,
                unique_suffix=not prod,
                labels=labels,
            ),
            opts,
        ).key_ids["lake"]
    )

    lake = DataLake("lake", _lake_args(cfg, name, project, labels, kms_key_id=lake_key), opts)
    buckets = {zone: b.name for zone, b in lake.buckets.items()}
    if cfg.audit_enabled:
        # Data Access logs of storage / KMS / Secret Manager / Cloud SQL, kept in a (prod: locked) bucket where the lake lives
        AuditLogs(
            "audit",
            AuditLogsArgs(
                project=project,
                location=lake_args.kms_location,
                bucket_id=f"{name}-audit",
                retention_days=cfg.audit.retention_days,
                locked=prod,
                protect=prod,
            ),
            opts,
        )

    # ---- cluster and GPU pools ----
    system = cfg.cluster.system_nodes
    gke_driver = cfg.gpu_operator.driver is not True
    operator = cfg.gpu_operator_enabled
    cluster = GkeCluster(
        "gke",
        GkeClusterArgs(
            name=name,
            project=project,
            region=region,
            network=network.network.id,
            subnetwork=network.subnet.id,
            pods_range=PODS_RANGE,
            services_range=SERVICES_RANGE,
            secrets_key_id=keys.key_ids["gke-secrets"],
            release_channel=cfg.cluster.release_channel,
            master_cidr=MASTER_CIDR,
            authorized_cidrs=tuple(cfg.cluster.public_access_cidrs),
            system_machine_type=system.instance_type if "instance_type" in system.model_fields_set else DEFAULT_SYSTEM_MACHINE,
            system_min=system.min_nodes,
            system_max=system.max_nodes,
            system_disk_gb=system.disk_gb,
            # without the operator's DCGM exporter, GKE itself exports the GPU metrics
            gpu_metrics=bool(cfg.gpu_pools) and not operator,
            # Kueue's webhook and visibility API; MLflow's and Feast's charts serve no webhook, the
            # pinned GPU operator chart neither (newer ones add an optional one on 9443, covered)
            control_plane_ports=kueue.CONTROL_PLANE_PORTS,
            deletion_protection=prod,
            labels=labels,
        ),
        opts,
    )
    pools = _gpu_pools(cfg, cluster, labels, gke_driver, operator, opts)

    k8s_provider = k8s.Provider(
        "gke",
        kubeconfig=cluster.kubeconfig,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(depends_on=[cluster.system_pool]),
    )

    layer = CloudLayer(
        cloud="gcp",
        k8s_provider=k8s_provider,
        cluster_name=cluster.cluster.name,
        api_server=cluster.cluster.endpoint.apply(lambda e: f"https://{e}"),
        driver_preinstalled=gke_driver,
        object_store="gs",
        buckets=buckets,
        region=region,
        # where GKE's driver installer puts the driver (the GPU operator runs on top of it, toolkit next to it)
        host_driver_dir=GKE_DRIVER_DIR if gke_driver else None,
        forced_mig_strategy=pool_nodes.forced_mig_strategy("gcp"),
        topology_levels=kueue_training.GKE_TOPOLOGY_LEVELS,
        cloud_prices=True,
        google_managed_prometheus=True,
        # the releases wait for the nodes and for the control plane's path to their webhooks
        depends_on=[cluster.system_pool, *pools, *([cluster.control_plane_firewall] if cluster.control_plane_firewall else [])],
    )
    # pods get Workload Identity tokens from the GKE metadata server on their node; with
    # Dataplane V2 NetworkPolicies see it as 169.254.169.252:988 (GKE Workload Identity docs)
    layer.identity_egress.append((GKE_METADATA_SERVER, GKE_METADATA_PORT))

    # ---- identities: one per team, one per platform service ----
    for team in cfg.teams:
        prefix = TEAM_PREFIX.format(team=team.name)
        grants = [BucketGrant(key=zone, bucket=bucket, prefix=prefix) for zone, bucket in buckets.items()]
        # shared zones are readable by every team, except the other teams' prefixes in them
        grants += [
            BucketGrant(key=f"{zone}-shared", bucket=buckets[zone], read_only=True, exclude_prefix=TEAMS_ROOT)
            for zone in cfg.data_lake.shared_zones
        ]
        identity = WorkloadIdentity(
            f"team-{team.name}",
            WorkloadIdentityArgs(
                account_id=account_id(name, team.name),
                project=project,
                namespace=team.name,
                service_account=team_service_account(team.name),
                grants=tuple(grants),
                display_name=f"team {team.name} workloads ({name})",
                # team workloads run on the system and GPU pools
                identity_pool=(cluster.cluster, cluster.system_pool, *pools),
            ),
            opts,
        )
        layer.team_identity[team.name] = dict(identity.annotations)
    if cfg.mlflow.enabled:
        _service_identity(
            layer,
            "mlflow",
            name,
            project,
            (BucketGrant(key="models", bucket=buckets["models"], prefix=MLFLOW_PREFIX),),
            (cluster.cluster, cluster.system_pool),
            opts,
        )
    if cfg.feast.enabled:
        _service_identity(
            layer,
            "feast",
            name,
            project,
            (BucketGrant(key="features", bucket=buckets["features"], read_only=True),),
            (cluster.cluster, cluster.system_pool),
            opts,
        )

    # ---- managed stores ----
    if cfg.needs_database:
        _cloud_sql(cfg, layer, network, keys.key_ids["cloudsql"], labels, opts)
    if cfg.feast.enabled:
        _memorystore(cfg, layer, network, keys.key_ids["redis"], labels, opts)

    # ---- budgets ----
    if cfg.gcp.billing_account:
        _budgets(cfg, project, labels, invoke, opts)
    gcp_billing.build(cfg, project, labels, opts, bigquery_api=apis.by_api.get("bigquery.googleapis.com"))

    pulumi.export("gcpProject", project)
    pulumi.export("lakeBuckets", buckets)
    return layer


def _lake_args(
    cfg: config.PlatformConfig, name: str, project: str, labels: dict[str, str], *, kms_key_id: pulumi.Input[str]
) -> DataLakeArgs:
    lc = cfg.data_lake.lifecycle
    return DataLakeArgs(
        bucket_prefix=lake_bucket_prefix(cfg),
        zones=tuple(cfg.data_lake.zones),
        region=str(cfg.region),
        kms_key_id=kms_key_id,
        dr_region=cfg.dr_region,
        turbo_replication=cfg.is_prod and cfg.dr_region is not None,
        tiered_zones=tuple(z for z in ("raw",) if z in cfg.data_lake.zones),
        nearline_days=lc.raw_infrequent_access_days,
        coldline_days=lc.raw_glacier_ir_days,
        noncurrent_expiry_days=lc.noncurrent_expiry_days,
        abort_multipart_days=lc.abort_multipart_days,
        log_retention_days=365 if cfg.is_prod else 90,
        force_destroy=cfg.lake_force_destroy,
        protect=cfg.is_prod,
        labels=labels,
    )


def _gpu_pools(
    cfg: config.PlatformConfig,
    cluster: GkeCluster,
    labels: dict[str, str],
    gke_driver: bool,
    operator: bool,
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """One GKE node pool per configured pool; ``spot-with-fallback`` adds an on-demand twin.

    Without the GPU operator (the GKE default) GKE partitions MIG GPUs and time-shares them; with
    it, GKE's device plugin is switched off on the pools and the operator applies the MIG and
    time-slicing configs named by the nodes' labels.
    """
    pools: list[pulumi.Resource] = []
    for pool in cfg.gpu_pools:
        node = cfg.pool_node_types(pool)[0]  # the listed machine type, or the cheapest carrying the GPU
        gpu = cfg.pool_gpu(pool)
        # (node pool, spot, reservations): a reserved pool consumes its reservations; reserved-then-*
        # and spot-with-fallback add a twin without them for when the first is used up
        reserved = tuple(pool.reservation.ids) if pool.reserved and pool.reservation else ()
        variants = [(pool.name, pool.capacity in ("spot", "spot-with-fallback"), reserved)]
        if pool.capacity == "spot-with-fallback" or pool.fallback == "on-demand":
            variants.append((f"{pool.name}-ondemand", False, ()))
        elif pool.fallback == "spot":
            variants.append((f"{pool.name}-spot", True, ()))
        # the fallback twin keeps the pool label: one Kueue flavor
        node_labels = pool_nodes.node_labels(
            pool=pool.name,
            purpose=pool.purpose,
            model=cfg.pool_gpu(pool),
            mig_profile=pool.mig_profile,
            device_plugin_entry=pool_nodes.device_plugin_entry(pool.name, pool.time_slicing_replicas),
        )
        max_nodes = int(pool.max_nodes or 1)
        if pool.gpu_limit is not None:  # GKE bounds nodes, not GPUs: honour the GPU ceiling in whole nodes
            max_nodes = min(max_nodes, pool.gpu_limit // node.gpus)
        if operator:
            node_labels[NO_GKE_DEVICE_PLUGIN] = "true"
        for i, (pool_name, spot, reservations) in enumerate(variants):
            built = GpuNodePool(
                f"gpu-{pool_name}",
                GpuNodePoolArgs(
                    cluster=cluster.cluster.id,
                    location=str(cfg.region),
                    pool=pool_name,
                    purpose=pool.purpose,
                    gpu_model=gpu.key,
                    machine_type=node.name,
                    accelerator_type=str(gpu.gcp_accelerator),
                    accelerator_count=node.gpus,
                    min_nodes=pool.min_nodes if i == 0 else 0,
                    max_nodes=max_nodes,
                    spot=spot,
                    partition_size=None if operator else pool.mig_profile,
                    time_sharing_clients=None
                    if operator or (pool.time_slicing_replicas or 0) < 2
                    else pool.time_slicing_replicas,
                    driver_version="LATEST" if gke_driver else "INSTALLATION_DISABLED",
                    disk_gb=pool.disk_gb,
                    service_account=cluster.node_service_account.email,
                    labels=labels,
                    node_labels=node_labels,
                    reservations=reservations,
                    zone=pool.training_zone,
                    flex_start=pool.capacity == "flex-start",
                    image_streaming=pool.image_streaming,
                ),
                opts,
            )
            pools.append(built.node_pool)
    return pools


def _service_identity(
    layer: CloudLayer,
    service: str,
    name: str,
    project: str,
    grants: tuple[BucketGrant, ...],
    identity_pool: tuple[pulumi.Resource, ...],
    opts: pulumi.ResourceOptions,
) -> None:
    """The service's Google identity; its pods run on the system pool."""
    namespace, ksa = SERVICE_ACCOUNTS[service]
    identity = WorkloadIdentity(
        f"svc-{service}",
        WorkloadIdentityArgs(
            account_id=account_id(name, service),
            project=project,
            namespace=namespace,
            service_account=ksa,
            grants=grants,
            display_name=f"{service} ({name})",
            identity_pool=identity_pool,
        ),
        opts,
    )
    layer.service_identity[service] = dict(identity.annotations)


def _cloud_sql(
    cfg: config.PlatformConfig,
    layer: CloudLayer,
    network: Network,
    key: pulumi.Input[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    db = cfg.mlflow.database
    databases = (["mlflow"] if cfg.mlflow.enabled else []) + (["feast_registry"] if cfg.feast_sql_registry else [])
    # without MLflow the server only holds the Feast registry: nothing is named after MLflow
    owner = "mlflow" if cfg.mlflow.enabled else "feast-registry"
    sql = CloudSqlPostgres(
        f"{owner}-db",
        CloudSqlPostgresArgs(
            instance_name=f"{cfg.cluster_name}-{owner}",
            region=str(cfg.region),
            network=network.network.id,
            databases=tuple(databases),
            kms_key_id=key,
            tier=db.instance_class if "instance_class" in db.model_fields_set else DEFAULT_SQL_TIER[cfg.environment],
            disk_gb=db.storage_gb,
            high_availability=db.multi_az if db.multi_az is not None else cfg.environment != "dev",
            backup_retention_days=db.backup_retention_days or (14 if cfg.is_prod else 7),
            backup_location=cfg.dr_region,
            secret_regions=tuple(r for r in (cfg.region, cfg.dr_region) if r),
            deletion_protection=cfg.is_prod,
            unique_suffix=not cfg.is_prod,
            labels=labels,
        ),
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[network.private_services])),
    )
    mlflow = sql.credentials.get("mlflow")
    if mlflow is not None:
        layer.mlflow_db = DatabaseInfo(
            host=sql.host, port=5432, username=mlflow.username, password=mlflow.password, database="mlflow"
        )
    if "feast_registry" in sql.credentials:
        reg = sql.credentials["feast_registry"]
        layer.feast_registry_db = DatabaseInfo(
            host=sql.host, port=5432, username=reg.username, password=reg.password, database=reg.database
        )


def _memorystore(
    cfg: config.PlatformConfig,
    layer: CloudLayer,
    network: Network,
    key: pulumi.Input[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    store = cfg.feast.online_store
    if "node_type" in store.model_fields_set:
        tier = store.node_type
    else:
        tier = "STANDARD_HA" if cfg.is_prod and store.replicas >= 1 else "BASIC"  # as on AWS: HA in prod
    redis = Memorystore(
        "feast-online",
        MemorystoreArgs(
            instance_name=f"{cfg.cluster_name}-feast",
            region=str(cfg.region),
            network=network.network.id,
            kms_key_id=key,
            tier=tier,
            memory_gb=REDIS_MEMORY_GB[cfg.environment],
            persistence=cfg.is_prod,
            protect=cfg.is_prod,
            labels=labels,
        ),
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[network.private_services])),
    )
    layer.feast_redis = RedisInfo(
        host=redis.host, port=redis.port, password=redis.auth, tls=True, ca_certificate=redis.ca_certificate
    )


def _budgets(
    cfg: config.PlatformConfig,
    project: str,
    labels: dict[str, str],
    invoke: pulumi.InvokeOutputOptions,
    opts: pulumi.ResourceOptions,
) -> None:
    number = gcp.organizations.get_project_output(project_id=project, opts=invoke).number
    account = str(cfg.gcp.billing_account)
    # no per-team billing budget: GKE cost allocation (the team's share of shared GPU nodes) is only in
    # the BigQuery billing export, which budgets cannot filter on; teams[].budgetUsd is enforced from
    # OpenCost's data instead (infra/layers/k8s_monitoring.py)
    if cfg.budget.monthly_usd:
        Budget(
            "budget-platform",
            BudgetArgs(
                billing_account=account,
                project_number=number,
                display_name=f"{cfg.cluster_name} platform",
                amount_usd=cfg.budget.monthly_usd,
                emails=tuple(cfg.budget.alert_emails),
                labels=labels,
            ),
            opts,
        )


def _register_label_transform(cfg: config.PlatformConfig) -> None:
    """Label every GCP resource registered after this call (components also set labels explicitly).

    Registered the same way in every run: the offline plan's mock monitor records the transform
    (it does not run it), and the tests call the recorded transform on every resource the plan emits.
    """
    pulumi.runtime.register_resource_transform(tagging.gcp_label_transform(cfg))
