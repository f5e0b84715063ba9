"""MLP-SEC-003: every S3 bucket policy denies requests that are not over TLS."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from policies.common import s3
from policies.common.base import Report, decoded, get, items, stack_policy

BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"


def denies_plain_http(document: Any) -> bool:
    """A Deny statement for every principal and action under ``aws:SecureTransport = false``."""
    for st in items(get(decoded(document), "Statement")):
        if get(st, "Effect") != "Deny":
            continue
        principal = get(st, "Principal")
        if principal != "*" and get(principal, "AWS") != "*":
            continue
        actions = {str(a) for a in items(get(st, "Action"))}
        if not actions & {"*", "s3:*"}:
            continue
        secure = get(st, "Condition", "Bool", "aws:SecureTransport")
        if str(secure).lower() == "false":
            return True
    return False


def check(args: StackValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    for bucket in s3.buckets(args.resources):
        policies = s3.companions(bucket, args.resources, BUCKET_POLICY)
        documents = [(p.urn, get(p.props, "policy")) for p in policies]
        if get(bucket.props, "policy"):
            documents.append((bucket.urn, get(bucket.props, "policy")))
        if not documents:
            report(f"{s3.bucket_label(bucket)} has no bucket policy; add one denying aws:SecureTransport=false", bucket.urn)
        elif not any(denies_plain_http(doc) for _, doc in documents):
            report(
                f"{s3.bucket_label(bucket)}: no bucket policy statement denies s3:* when aws:SecureTransport is false",
                documents[0][0],
            )


POLICY = stack_policy(
    name="mlp-sec-003",
    description="S3 buckets only accept TLS: the bucket policy denies s3:* when aws:SecureTransport is false.",
    severity=Severity.HIGH,
    check=check,
    remediation='Add a BucketPolicy statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": '
    '[bucket, bucket/*], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}.',
)
