"""MLP-SEC-014: IAM policies do not use ``Resource: "*"`` for actions that can be scoped to ARNs."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common import iam
from policies.common.base import Report, get, items, resource_policy, schema


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    services = {str(s).lower() for s in cfg["scopedServices"]}
    unscoped = {str(a).lower() for a in cfg["unscopedActions"]}
    for where, doc in iam.documents(args.resource_type, args.props):
        for i, st in iam.allow_statements(doc):
            if "*" not in [str(r) for r in items(get(st, "Resource"))]:
                continue
            if cfg["allowWithCondition"] and get(st, "Condition"):
                continue
            bad = [
                str(a)
                for a in items(get(st, "Action"))
                if str(a).split(":")[0].lower() in services and str(a).lower() not in unscoped
            ]
            if bad:
                report(f"{where} statement {i} allows {', '.join(bad)} on Resource '*'; scope it to the ARNs it needs")


POLICY = resource_policy(
    name="mlp-sec-014",
    description="IAM policies scope data-service actions to resource ARNs instead of Resource '*'.",
    severity=Severity.HIGH,
    types=iam.TYPES,
    check=check,
    config=schema(
        {
            "scopedServices": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["s3", "kms", "secretsmanager", "ssm", "dynamodb", "sqs", "sns", "iam", "rds", "elasticache"],
                "description": "Services whose actions support resource-level permissions.",
            },
            "unscopedActions": {
                "type": "array",
                "items": {"type": "string"},
                "default": [
                    "s3:ListAllMyBuckets",
                    "kms:ListKeys",
                    "kms:ListAliases",
                    "kms:CreateKey",
                    "secretsmanager:ListSecrets",
                    "secretsmanager:GetRandomPassword",
                    "ssm:DescribeParameters",
                    "sqs:ListQueues",
                    "sns:ListTopics",
                    "iam:ListRoles",
                    "iam:ListPolicies",
                    "rds:DescribeDBInstances",
                    "elasticache:DescribeCacheClusters",
                ],
                "description": "Actions AWS does not let you scope to a resource.",
            },
            "allowWithCondition": {
                "type": "boolean",
                "default": True,
                "description": "Accept Resource '*' when the statement narrows it with a Condition.",
            },
        }
    ),
)
