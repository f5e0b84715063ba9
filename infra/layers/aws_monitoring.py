"""``monitoring.backend: managed`` on AWS: Amazon Managed Service for Prometheus and its managed collector."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from catalog import conventions as cv
from components.aws.cost_allocation import CostAllocationTags, CostAllocationTagsArgs
from components.aws.managed_prometheus import ManagedPrometheus, ManagedPrometheusArgs
from components.k8s import alert_routing, gpu_monitoring
from infra import config, tagging
from infra.layers.alerting import routing_args
from infra.layers.context import CloudLayer

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation


COST_ALLOCATION_TAGS = (cv.TAG_TEAM, cv.TAG_COST_CENTER, cv.TAG_ENVIRONMENT, cv.TAG_PROJECT)
"""Our resource tags; with split cost allocation data for EKS on, pod labels of the same keys are imported
under the same tag keys, so activating them covers both."""


def build(cfg: config.PlatformConfig, foundation: AwsFoundation, layer: CloudLayer) -> None:
    if cfg.monitoring.cost_allocation_tags:
        CostAllocationTags(
            "cost-tags", CostAllocationTagsArgs(keys=COST_ALLOCATION_TAGS), pulumi.ResourceOptions(provider=foundation.provider)
        )
    if cfg.monitoring.backend != "managed":
        return
    routing = alert_routing.alertmanager_config(routing_args(cfg))
    emails = {r["name"]: [e["to"] for e in r["email_configs"]] for r in routing["receivers"] if r.get("email_configs")}
    groups = [*gpu_monitoring.gpu_rules(), *gpu_monitoring.gpu_recording_rules()] if cfg.gpu_operator_enabled else []
    ManagedPrometheus(
        "managed-prometheus",
        ManagedPrometheusArgs(
            cluster_name=foundation.cluster.name,
            cluster_arn=foundation.cluster.cluster.arn,
            subnet_ids=foundation.vpc.private_subnet_ids,
            security_group_id=foundation.cluster.cluster_security_group_id,
            rule_groups=groups,
            alertmanager=routing,
            emails_by_receiver=emails,
            region=foundation.region,
            dcgm_namespace="gpu-operator" if cfg.gpu_operator_enabled else None,
            kueue_namespace="kueue-system" if cfg.kueue.enabled else None,
            tags=tagging.platform_tags(cfg),
        ),
        pulumi.ResourceOptions(providers={"aws": foundation.provider, "kubernetes": foundation.k8s_provider}),
    )
