"""Account-wide IAM service-linked roles the stack names before any service has created them.

Most service-linked roles appear by themselves the first time their service needs them (EKS,
the EKS node-group role, RDS, ElastiCache, EC2 Spot - provided the caller may
``iam:CreateServiceLinkedRole``). One cannot wait for that: the platform KMS key policy names
``AWSServiceRoleForAutoScaling`` (so Auto Scaling can launch node-group instances with volumes
encrypted by that key), and ``kms:CreateKey`` rejects a policy whose principal does not exist yet
(``MalformedPolicyDocumentException``). A brand-new account has no such role until its first Auto
Scaling group, which the key must precede.

A service-linked role belongs to the account, not to a stack: it is shared with every other
stack and Auto Scaling group there, and AWS refuses to delete it while anything uses it. So the
role is created with ``retain_on_delete`` (``pulumi destroy`` leaves it), and a stack whose
account already has it says ``aws.autoscalingServiceLinkedRole: existing`` (``python -m infra ops
preflight`` tells which) - or adopts it with ``pulumi import`` (see docs/first-deploy.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.base import Component

ROLE_NAMES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "eks.amazonaws.com": "AWSServiceRoleForAmazonEKS",
    "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "elasticache.amazonaws.com": "AWSServiceRoleForElastiCache",
}
"""Service principal -> the role name AWS gives its service-linked role (IAM user guide,
"AWS services that work with IAM", column "Service-linked roles")."""


def role_arn(service: str, *, account_id: str, partition: str = "aws") -> str:
    """ARN of ``service``'s service-linked role in ``account_id``."""
    if service not in ROLE_NAMES:
        raise ValueError(f"unknown service-linked role service {service!r}; known: {', '.join(sorted(ROLE_NAMES))}")
    return f"arn:{partition}:iam::{account_id}:role/aws-service-role/{service}/{ROLE_NAMES[service]}"


@dataclass(frozen=True)
class ServiceLinkedRolesArgs:
    """Arguments of :class:`ServiceLinkedRoles`.

    :param services: service principals (keys of :data:`ROLE_NAMES`).
    :param mode: ``create`` (a new account: the roles are created and kept on destroy) or
        ``existing`` (the account has them: nothing is registered).
    """

    services: Sequence[str]
    mode: Literal["create", "existing"] = "create"

    def __post_init__(self) -> None:
        unknown = [s for s in self.services if s not in ROLE_NAMES]
        if unknown:
            raise ValueError(f"unknown service-linked role service(s) {unknown}; known: {', '.join(sorted(ROLE_NAMES))}")
        if self.mode not in ("create", "existing"):
            raise ValueError(f"mode {self.mode!r} must be 'create' or 'existing'")
        object.__setattr__(self, "services", tuple(self.services))


class ServiceLinkedRoles(Component):
    """Creates the service-linked roles of ``args.services`` unless the account already has them
    (the AWS provider comes through ``opts``; IAM is global, any region)."""

    resources: list[pulumi.Resource]
    """What a resource naming these roles depends on (empty with ``existing``)."""

    def __init__(self, resource_name: str, args: ServiceLinkedRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:ServiceLinkedRoles", resource_name, opts)
        self.resources = resources = []
        if args.mode == "create":
            for service in args.services:
                resources.append(
                    aws.iam.ServiceLinkedRole(
                        f"{resource_name}-{service.split('.')[0]}",
                        aws_service_name=service,
                        description=f"{ROLE_NAMES[service]} (created by ml-platform; kept on destroy: it belongs to the account)",
                        opts=self.child_opts(retain_on_delete=True),
                    )
                )
        self.publish()
