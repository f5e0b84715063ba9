"""MLP-SEC-006: EKS encrypts Kubernetes secrets with a KMS key (envelope encryption)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.common.base import get, items, resource_policy


def check(args: ResourceValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    config = get(args.props, "encryptionConfig", default={})
    resources = [str(r) for r in items(get(config, "resources"))]
    if "secrets" not in resources or not get(config, "provider", "keyArn"):
        report("encryptionConfig does not encrypt 'secrets' with a KMS key; set encryption_config="
               "{resources: ['secrets'], provider: {key_arn: <key>}}")


POLICY = resource_policy(
    name="mlp-sec-006",
    description="EKS clusters encrypt Kubernetes secrets with a customer-managed KMS key.",
    severity=Severity.HIGH,
    types=["aws:eks/cluster:Cluster"],
    check=check,
)
