"""Managed stores for MLflow and Feast on AWS: RDS, ElastiCache, Secrets Manager, IRSA roles (issue: ML services).

Environment defaults (unless the stack sets them): backups 7 days (dev, staging) / 14 days (prod),
multi-AZ database outside dev, deletion protection + final snapshot + protect/retain in prod,
automated-backup replication to the DR region in prod with DR on, and a multi-AZ Redis with
automatic failover in prod.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pulumi

from catalog import conventions as cv
from components.aws.irsa import IrsaRole, IrsaRoleArgs
from components.aws.postgres import PostgresDatabase, PostgresDatabaseArgs
from components.aws.redis import RedisCache, RedisCacheArgs
from components.k8s import feast as feast_k8s
from components.k8s import mlflow as mlflow_k8s
from infra import config
from infra.layers.context import CloudLayer, DatabaseInfo, RedisInfo

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation

FEAST_REGISTRY_DATABASE = "feast_registry"
MLFLOW_PREFIX = "mlflow"


def backup_retention_days(cfg: config.PlatformConfig) -> int:
    """``mlflow.database.backupRetentionDays`` in effect (:mod:`infra.config.defaults`)."""
    return config.effective(cfg.mlflow.database.backup_retention_days, "mlflow.database.backupRetentionDays")


def database_multi_az(cfg: config.PlatformConfig) -> bool:
    """``mlflow.database.multiAz`` in effect (:mod:`infra.config.defaults`)."""
    return config.effective(cfg.mlflow.database.multi_az, "mlflow.database.multiAz")


def mlflow_policy(bucket_arn: str, key_arn: str, region: str) -> str:
    """Read/write under ``<models bucket>/mlflow/`` only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListArtifacts",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [MLFLOW_PREFIX, f"{MLFLOW_PREFIX}/*"]}},
                },
                {
                    "Sid": "ReadWriteArtifacts",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts",
                    ],
                    "Resource": f"{bucket_arn}/{MLFLOW_PREFIX}/*",
                },
                _kms_statement(key_arn, region, ["kms:Decrypt", "kms:GenerateDataKey"]),
            ],
        }
    )


def feast_policy(bucket_arn: str, key_arn: str, region: str) -> str:
    """Read-only access to the features zone."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListFeatures",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": bucket_arn,
                },
                {"Sid": "ReadFeatures", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket_arn}/*"},
                _kms_statement(key_arn, region, ["kms:Decrypt"]),
            ],
        }
    )


def _kms_statement(key_arn: str, region: str, actions: list[str]) -> dict[str, Any]:
    return {
        "Sid": "LakeKeyThroughS3",
        "Effect": "Allow",
        "Action": actions,
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }


def build(cfg: config.PlatformConfig, foundation: AwsFoundation, layer: CloudLayer) -> None:
    if not (cfg.mlflow.enabled or cfg.feast.enabled):
        return
    region = cfg.region or ""
    cluster_sg = foundation.cluster.cluster_security_group_id
    aws_opts = pulumi.ResourceOptions(provider=foundation.provider)
    oidc = foundation.workload_identity_args()
    key_arn = foundation.key.arn

    db: PostgresDatabase | None = None
    if cfg.needs_database:
        dr_key = foundation.dr_key if cfg.dr.database_backups and foundation.dr_provider is not None else None
        dr = dr_key is not None  # the foundation makes the DR key exactly when it makes the DR provider
        # without MLflow the server only holds the Feast registry: nothing is named after MLflow
        db_name = "mlflow-db" if cfg.mlflow.enabled else "feast-registry-db"
        db = PostgresDatabase(
            db_name,
            PostgresDatabaseArgs(
                vpc_id=foundation.vpc.vpc_id,
                subnet_ids=foundation.vpc.private_subnet_ids,
                client_security_group_ids=[cluster_sg],
                kms_key_arn=key_arn,
                instance_class=config.effective(cfg.mlflow.database.instance_class, "mlflow.database.instanceClass"),
                storage_gb=cfg.mlflow.database.storage_gb,
                backup_retention_days=backup_retention_days(cfg),
                multi_az=database_multi_az(cfg),
                deletion_protection=cfg.is_prod,
                dr_provider=foundation.dr_provider if dr else None,
                backup_replication_kms_key_arn=dr_key.arn if dr_key is not None else None,
                dr_region=foundation.dr_region if dr else None,
                database="mlflow" if cfg.mlflow.enabled else FEAST_REGISTRY_DATABASE,
                username="mlflow" if cfg.mlflow.enabled else "feast",
                tags={cv.TAG_ROLE: cv.ROLE_MLFLOW_DB} if cfg.mlflow.enabled else {},
            ),
            opts=aws_opts,
        )
        pulumi.export("mlflowDatabaseSecretArn" if cfg.mlflow.enabled else "feastRegistryDatabaseSecretArn", db.secret_arn)

    if cfg.mlflow.enabled and db is not None:
        layer.mlflow_db = DatabaseInfo(
            host=db.address, port=db.port, username=db.username, password=db.password, database=db.database
        )
        bucket_arn = foundation.lake.bucket_arns["models"]
        role = IrsaRole(
            "mlflow",
            IrsaRoleArgs(
                **oidc,
                namespace=cv.NS_MLFLOW,
                service_account=mlflow_k8s.SERVICE_ACCOUNT,
                policy_document=pulumi.Output.all(bucket_arn, key_arn).apply(lambda a: mlflow_policy(a[0], a[1], region)),
            ),
            aws_opts,
        )
        layer.service_identity["mlflow"] = dict(role.annotations)

    if cfg.feast.enabled:
        if cfg.feast.registry == "sql" and db is not None:
            layer.feast_registry_db = DatabaseInfo(
                host=db.address,
                port=db.port,
                username=db.username,
                password=db.password,
                database=FEAST_REGISTRY_DATABASE,
                bootstrap_database=db.database,
            )
        online = cfg.feast.online_store
        redis = RedisCache(
            "feast-online",
            RedisCacheArgs(
                vpc_id=foundation.vpc.vpc_id,
                subnet_ids=foundation.vpc.private_subnet_ids,
                client_security_group_ids=[cluster_sg],
                kms_key_arn=key_arn,
                node_type=config.effective(online.node_type, "feast.onlineStore.nodeType"),
                replicas=online.replicas,
                high_availability=config.effective(online.high_availability, "feast.onlineStore.highAvailability"),
                snapshot_retention_days=config.effective(
                    online.snapshot_retention_days, "feast.onlineStore.snapshotRetentionDays"
                ),
                protect=cfg.is_prod,
            ),
            opts=aws_opts,
        )
        layer.feast_redis = RedisInfo(host=redis.host, port=redis.port, password=redis.password, tls=True)
        pulumi.export("feastRedisSecretArn", redis.secret_arn)
        bucket_arn = foundation.lake.bucket_arns["features"]
        role = IrsaRole(
            "feast",
            IrsaRoleArgs(
                **oidc,
                namespace=cv.NS_FEAST,
                service_account=feast_k8s.SERVICE_ACCOUNT,
                policy_document=pulumi.Output.all(bucket_arn, key_arn).apply(lambda a: feast_policy(a[0], a[1], region)),
            ),
            aws_opts,
        )
        layer.service_identity["feast"] = dict(role.annotations)
