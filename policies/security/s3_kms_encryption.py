"""MLP-SEC-001: every S3 bucket is encrypted with SSE-KMS under a customer-managed key."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from catalog import conventions as cv
from policies.common import s3
from policies.common.base import Report, get, items, schema, stack_policy

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def _rule_problem(rule: Any, cfg: dict[str, Any]) -> str | None:
    default = get(rule, "applyServerSideEncryptionByDefault", default={})
    algorithm = get(default, "sseAlgorithm")
    key = get(default, "kmsMasterKeyId")
    if algorithm not in KMS_ALGORITHMS:
        return f"sseAlgorithm is {algorithm!r}; use aws:kms with a customer-managed key"
    if not key:
        return "aws:kms without kmsMasterKeyId uses the AWS-managed key; set a customer-managed key"
    if isinstance(key, str) and key.split(":")[-1] in set(cfg["forbiddenKeys"]):
        return f"kmsMasterKeyId {key!r} is the AWS-managed key; use a customer-managed key"
    return None


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    for bucket in s3.buckets(args.resources):
        if s3.exempt(bucket, cfg):
            continue
        inline = get(bucket.props, "serverSideEncryptionConfiguration", "rules", default=[])
        configs = s3.companions(bucket, args.resources, SSE)
        rules = [(c.urn, r) for c in configs for r in items(get(c.props, "rules"))]
        rules += [(bucket.urn, r) for r in items(inline)]
        if not rules:
            report(
                f"{s3.bucket_label(bucket)} has no default encryption configuration; add a "
                "BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms and your KMS key",
                bucket.urn,
            )
        for urn, rule in rules:
            problem = _rule_problem(rule, cfg)
            if problem:
                report(f"{s3.bucket_label(bucket)}: {problem}", urn)


POLICY = stack_policy(
    name="mlp-sec-001",
    description="S3 buckets are encrypted with SSE-KMS under a customer-managed KMS key.",
    severity=Severity.HIGH,
    check=check,
    config=schema(
        {
            "forbiddenKeys": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["alias/aws/s3"],
                "description": "Key ids/aliases that count as AWS-managed.",
            },
            "exemptTags": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "default": {cv.TAG_LAKE_ROLE: ["logs"]},
                "description": "Buckets whose tag has one of these values are exempt (S3 access-log "
                "targets support only SSE-S3).",
            },
        }
    ),
    remediation="Add aws.s3.BucketServerSideEncryptionConfiguration(rules=[{apply_server_side_encryption_by_default: "
    "{sse_algorithm: 'aws:kms', kms_master_key_id: <your key ARN>}, bucket_key_enabled: True}]).",
)
