"""MLP-SEC-015: instances require IMDSv2 (launch templates, instances, Karpenter EC2NodeClasses)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.common.base import Report, get, resource_policy, schema

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def check(args: ResourceValidationArgs, report: Report, cfg: dict[str, Any]) -> None:
    if args.resource_type == NODE_GROUP:
        if cfg["requireLaunchTemplate"] and not get(args.props, "launchTemplate"):
            report(
                "the node group has no launch template, so IMDSv2 is not enforced; give it a launch "
                "template with metadata_options.http_tokens='required'"
            )
        return
    path = ("spec", "metadataOptions") if args.resource_type == NODE_CLASS else ("metadataOptions",)
    tokens = get(args.props, *path, "httpTokens")
    if tokens != "required":
        report(f"{'.'.join(path)}.httpTokens is {tokens!r}; set it to 'required' (IMDSv2 only)")
    hops = get(args.props, *path, "httpPutResponseHopLimit")
    if isinstance(hops, (int, float)) and hops > cfg["maxHopLimit"]:
        report(
            f"{'.'.join(path)}.httpPutResponseHopLimit is {hops:g}; pods could reach the node's credentials "
            f"(at most {cfg['maxHopLimit']})"
        )


POLICY = resource_policy(
    name="mlp-sec-015",
    description="EC2 instances, launch templates and Karpenter EC2NodeClasses require IMDSv2.",
    severity=Severity.HIGH,
    types=(LAUNCH_TEMPLATE, INSTANCE, NODE_CLASS, NODE_GROUP),
    check=check,
    config=schema(
        {
            "maxHopLimit": {
                "type": "integer",
                "default": 2,
                "description": "Highest httpPutResponseHopLimit allowed (2 lets pods in the host network reach IMDS).",
            },
            "requireLaunchTemplate": {
                "type": "boolean",
                "default": True,
                "description": "EKS managed node groups must use a launch template (where IMDSv2 is set).",
            },
        }
    ),
)
