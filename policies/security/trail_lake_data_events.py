"""MLP-SEC-024: a CloudTrail trail records object reads and writes on every lake bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, Severity, StackValidationArgs

from catalog import conventions as cv
from catalog.clouds import LAKE_ACCESS_LOG_ZONE
from policies.common import s3
from policies.common.base import aws_tags, environments, get, items, known, of_type, schema, stack_environment, stack_policy

TRAIL = "aws:cloudtrail/trail:Trail"
LOG_ZONE = LAKE_ACCESS_LOG_ZONE


def lake_buckets(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    """Buckets tagged as lake data buckets (primary or replica zones; not the S3 access-log buckets)."""
    out = []
    for bucket in s3.buckets(resources):
        tags = aws_tags(bucket.props, bucket.provider.props if bucket.provider is not None else None)
        if cv.TAG_LAKE_ROLE in tags and tags.get(cv.TAG_LAKE_ZONE) != LOG_ZONE:
            out.append(bucket)
    return out


def recorded_prefixes(trail: PolicyResource) -> list[str]:
    """ARN prefixes whose S3 object reads *and* writes the trail records."""
    out: list[str] = []
    for sel in items(get(trail.props, "advancedEventSelectors")):
        fields = {str(get(f, "field")): f for f in items(get(sel, "fieldSelectors"))}
        if items(get(fields.get("eventCategory"), "equals")) != ["Data"]:
            continue
        if "AWS::S3::Object" not in items(get(fields.get("resources.type"), "equals")):
            continue
        if "readOnly" in fields:  # records reads only or writes only
            continue
        arn = fields.get("resources.ARN")
        if arn is None:
            out.append("arn:aws:s3:::")  # every object of every bucket
            continue
        if any(get(arn, k) for k in ("notEquals", "notStartsWiths", "notEndsWiths")):
            continue
        out += [str(v) for v in items(get(arn, "startsWiths"))] + [str(v) for v in items(get(arn, "equals"))]
    for sel in items(get(trail.props, "eventSelectors")):
        if get(sel, "readWriteType", default="All") != "All":
            continue
        for res in items(get(sel, "dataResources")):
            if get(res, "type") == "AWS::S3::Object":
                out += [str(v) for v in items(get(res, "values"))]
    return out


def check(args: StackValidationArgs, report: ReportViolation, cfg: dict[str, Any]) -> None:
    env = stack_environment(cfg, args.resources)
    if env not in cfg["environments"]:
        return
    trails = [t for t in of_type(args.resources, TRAIL) if get(t.props, "enableLogging", default=True) is not False]
    prefixes = [p for t in trails for p in recorded_prefixes(t)]
    for bucket in lake_buckets(args.resources):
        name = known(bucket.props, "bucket")
        if not isinstance(name, str) or not name:
            continue  # unknown until created
        arn = f"arn:aws:s3:::{name}/"
        if not any(arn.startswith(p) for p in prefixes):
            report(
                f"{s3.bucket_label(bucket)}: no logging trail records its object reads and writes (S3 data events)", bucket.urn
            )


POLICY = stack_policy(
    name="mlp-sec-024",
    description="A CloudTrail trail records S3 data events (read and write) on every lake bucket.",
    severity=Severity.HIGH,
    check=check,
    config=schema(
        {"environments": environments(["staging", "prod"], "Environments in which the lake's data events must be recorded.")},
        env=True,
    ),
    remediation="Add an aws.cloudtrail.Trail with an advanced event selector eventCategory=Data, "
    "resources.type=AWS::S3::Object, resources.ARN startsWith <bucket arn>/ (no readOnly field).",
)
