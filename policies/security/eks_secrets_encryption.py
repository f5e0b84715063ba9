"""MLP-SEC-006: EKS and GKE encrypt Kubernetes secrets with a customer KMS key (envelope encryption)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, items, resource_policy

GKE = "gcp:container/cluster:Cluster"


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type == GKE:
        enc = get(args.props, "databaseEncryption", default={})
        if get(enc, "state") != "ENCRYPTED" or not get(enc, "keyName"):
            report("databaseEncryption is not ENCRYPTED with a Cloud KMS key (application-layer secrets encryption)")
        return
    config = get(args.props, "encryptionConfig", default={})
    resources = [str(r) for r in items(get(config, "resources"))]
    if "secrets" not in resources or not get(config, "provider", "keyArn"):
        report(
            "encryptionConfig does not encrypt 'secrets' with a KMS key; set encryption_config="
            "{resources: ['secrets'], provider: {key_arn: <key>}}"
        )


POLICY = resource_policy(
    name="mlp-sec-006",
    description="Kubernetes clusters (EKS, GKE) encrypt secrets with a customer-managed KMS key.",
    severity=Severity.HIGH,
    types=["aws:eks/cluster:Cluster", GKE],
    check=check,
)
