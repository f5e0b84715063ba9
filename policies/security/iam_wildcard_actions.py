"""MLP-SEC-013: IAM policies do not allow wildcard actions on data services (``*``, ``s3:*``, ``kms:*``)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import iam
from policies.common.base import Report, get, items, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    forbidden = [str(a).lower() for a in cfg["forbiddenActions"]]
    for where, doc in iam.documents(args.resource_type, args.props):
        for i, st in iam.allow_statements(doc):
            if get(st, "NotAction") is not None:
                report(f"{where} statement {i} allows NotAction (everything but a list); list the actions instead")
            for action in items(get(st, "Action")):
                text = str(action).lower()
                if text in forbidden or any(fnmatchcase(f, text) for f in forbidden if text.endswith("*")):
                    report(f"{where} statement {i} allows {action!r}; list the actions the workload needs")


POLICY = resource_policy(
    name="mlp-sec-013",
    description="IAM policies grant no wildcard actions on data services (*, s3:*, kms:*, ...).",
    severity=Severity.HIGH,
    types=iam.TYPES,
    check=check,
    config=schema(
        {
            "forbiddenActions": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["*", "s3:*", "kms:*", "secretsmanager:*", "dynamodb:*", "iam:*", "sts:*"],
                "description": "Allowed actions that are never acceptable (a wildcard that covers one of them is caught too).",
            }
        }
    ),
)
