"""Cloud layer for ``cloud: existing``: a cluster you bring, reached by kubeconfig. No cloud resources.

The Kubernetes provider uses ``cluster.kubeconfig`` (a stack secret) and ``cluster.context``;
without a kubeconfig it falls back to the default one (``$KUBECONFIG``). The stores MLflow and
Feast use are the ones the stack names: a Kubernetes Secret with the database connection
(``mlflow.existingDatabaseSecret``) and a Redis endpoint (``feast.onlineStore.existingEndpoint``,
``host:port``, or ``rediss://host:port`` for TLS). Nodes' images rarely ship the NVIDIA driver
here, so the GPU operator installs it unless ``gpuOperator.driver`` is ``false``.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import config
from infra.layers.context import CloudLayer, DatabaseInfo, RedisInfo


def redis_endpoint(endpoint: str) -> RedisInfo:
    """``host:port`` or ``redis://host:port`` (plain), ``rediss://host:port`` (TLS, trusting the
    system CAs) as a :class:`RedisInfo` without a password."""
    tls = endpoint.startswith("rediss://")
    hostport = endpoint.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"existing endpoint {endpoint!r} is not host:port")
    return RedisInfo(host=host, port=int(port), password=None, tls=tls)


def build(cfg: config.PlatformConfig) -> CloudLayer:
    kubeconfig = cfg.cluster.kubeconfig
    provider = k8s.Provider(
        "existing-cluster",
        kubeconfig=pulumi.Output.secret(kubeconfig.get_secret_value()) if kubeconfig else None,
        context=cfg.cluster.context,
        enable_server_side_apply=True,
    )
    driver = bool(cfg.gpu_operator.driver)  # default on while the operator is (infra.config.defaults)
    layer = CloudLayer(
        cloud="existing",
        k8s_provider=provider,
        cluster_name=cfg.cluster.context or cfg.cluster_name,
        driver_preinstalled=not driver,
        # notebook homes: the StorageClass the cluster's admin made to encrypt volumes (required with notebooks)
        encrypted_storage_class=cfg.notebooks.storage_class,
    )
    secret = cfg.mlflow.existing_database_secret
    if cfg.mlflow.enabled and secret:
        # the Secret holds host, port, user and password; nothing of it passes through Pulumi
        layer.mlflow_db = DatabaseInfo(host="", port=5432, username="", password=None, existing_secret=secret)
    endpoint = cfg.feast.online_store.existing_endpoint
    if cfg.feast.enabled and endpoint:
        layer.feast_redis = redis_endpoint(endpoint)
    return layer
