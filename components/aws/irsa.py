"""IAM role for a Kubernetes service account (IRSA: IAM Roles for Service Accounts).

The role trusts exactly one ``namespace/service-account`` of one cluster's OIDC issuer, so a pod
gets the role only by running as that service account. Annotate the service account with
:attr:`IrsaRole.annotations`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
AUDIENCE = "sts.amazonaws.com"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SA_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """The assume-role policy JSON admitting only ``system:serviceaccount:<namespace>:<service_account>``.

    :param oidc_issuer: issuer host and path without ``https://`` (``oidc.eks.<region>.amazonaws.com/id/X``).
    """
    issuer = oidc_issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


class IrsaRole(pulumi.ComponentResource):
    """An IAM role assumable only by one Kubernetes service account through the cluster's OIDC provider.

    :param oidc_provider_arn: ARN of the cluster's ``aws.iam.OpenIdConnectProvider``.
    :param oidc_issuer: issuer host and path, without ``https://``.
    :param namespace: Kubernetes namespace of the service account.
    :param service_account: service account name.
    :param policy_document: inline policy JSON (a string ``Input``), or ``None``.
    :param managed_policy_arns: managed policies to attach.
    :param tags: extra tags on the role.
    :param provider: the AWS provider (required: never the default provider).
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    annotations: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer: pulumi.Input[str],
        namespace: str,
        service_account: str,
        policy_document: pulumi.Input[str] | None = None,
        managed_policy_arns: Sequence[pulumi.Input[str]] = (),
        tags: Mapping[str, pulumi.Input[str]] | None = None,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
            raise ValueError(f"namespace {namespace!r} is not a Kubernetes namespace name")
        if not _SA_NAME.match(service_account) or len(service_account) > 253:
            raise ValueError(f"service_account {service_account!r} is not a Kubernetes service account name")
        if policy_document is None and not managed_policy_arns:
            raise ValueError("give policy_document or managed_policy_arns: a role without permissions is useless")
        if provider is None:
            raise ValueError("provider is required")
        super().__init__("ml-platform:aws:IrsaRole", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        assume = pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
            lambda a: trust_policy(a[0], a[1], namespace, service_account)
        )
        self.role = aws.iam.Role(
            resource_name,
            assume_role_policy=assume,
            description=f"IRSA role for service account {namespace}/{service_account}",
            max_session_duration=3600,
            tags=dict(tags or {}),
            opts=child,
        )
        self.permissions: list[pulumi.Resource] = []
        """The inline policy and attachments: what the workload needs, at start and while it cleans up."""
        if policy_document is not None:
            self.policy = aws.iam.RolePolicy(resource_name, role=self.role.id, policy=policy_document, opts=child)
            self.permissions.append(self.policy)
        for i, arn in enumerate(managed_policy_arns):
            self.permissions.append(
                aws.iam.RolePolicyAttachment(f"{resource_name}-{i}", role=self.role.name, policy_arn=arn, opts=child)
            )

        # The ARN carries the permissions as dependencies: whatever is annotated with it (a Helm
        # release, a service account) is created after the policies and deleted before them, so a
        # controller never starts without its permissions nor loses them while it still cleans up
        # (finalizers on destroy). Pulumi deletes in reverse dependency order.
        self.arn = pulumi.Output.all(self.role.arn, *[p.urn for p in self.permissions]).apply(lambda v: str(v[0]))
        self.name = self.role.name
        self.annotations = {ROLE_ARN_ANNOTATION: self.arn}
        self.register_outputs({"arn": self.arn, "name": self.name})
