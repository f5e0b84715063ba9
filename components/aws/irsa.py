"""IAM role for a Kubernetes service account: IRSA (IAM Roles for Service Accounts) or EKS Pod Identity.

IRSA: the role trusts exactly one ``namespace/service-account`` of one cluster's OIDC issuer, so a
pod gets the role only by running as that service account. Annotate the service account with
:attr:`IrsaRole.annotations`.

EKS Pod Identity (``pod_identity_cluster``): the role trusts the ``pods.eks.amazonaws.com`` service
(``sts:AssumeRole`` + ``sts:TagSession``), narrowed by the session tags Pod Identity sets
(``eks-cluster-name``, ``kubernetes-namespace``, ``kubernetes-service-account``; EKS user guide,
"Create IAM role with trust policy required by EKS Pod Identity"), and an
``aws.eks.PodIdentityAssociation`` binds it to the service account; no annotation is needed, but
the cluster must run the ``eks-pod-identity-agent`` add-on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
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


def pod_identity_trust_policy(cluster_name: str, namespace: str, service_account: str) -> str:
    """The assume-role policy for EKS Pod Identity, limited to one service account of one cluster."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EksPodIdentity",
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_SERVICE},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestTag/eks-cluster-name": cluster_name,
                            "aws:RequestTag/kubernetes-namespace": namespace,
                            "aws:RequestTag/kubernetes-service-account": service_account,
                        }
                    },
                }
            ],
        }
    )


class IrsaRole(pulumi.ComponentResource):
    """An IAM role assumable only by one Kubernetes service account through the cluster's OIDC provider.

    :param oidc_provider_arn: ARN of the cluster's ``aws.iam.OpenIdConnectProvider`` (IRSA).
    :param oidc_issuer: issuer host and path, without ``https://`` (IRSA).
    :param pod_identity_cluster: the cluster's name: use EKS Pod Identity instead of IRSA.
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
        oidc_provider_arn: pulumi.Input[str] | None = None,
        oidc_issuer: pulumi.Input[str] | None = None,
        pod_identity_cluster: pulumi.Input[str] | None = None,
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
        if pod_identity_cluster is None and (oidc_provider_arn is None or oidc_issuer is None):
            raise ValueError("give oidc_provider_arn and oidc_issuer (IRSA), or pod_identity_cluster (EKS Pod Identity)")
        super().__init__("ml-platform:aws:IrsaRole", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        if pod_identity_cluster is not None:
            assume = pulumi.Output.from_input(pod_identity_cluster).apply(
                lambda c: pod_identity_trust_policy(c, namespace, service_account)
            )
        else:
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

        self.association: aws.eks.PodIdentityAssociation | None = None
        if pod_identity_cluster is not None:
            self.association = aws.eks.PodIdentityAssociation(
                resource_name,
                cluster_name=pod_identity_cluster,
                namespace=namespace,
                service_account=service_account,
                role_arn=self.role.arn,
                tags=dict(tags or {}),
                opts=child,
            )
            self.permissions.append(self.association)
        # The ARN carries the permissions (and the Pod Identity association) as dependencies: whatever is
        # annotated with it (a Helm release, a service account) is created after the policies and deleted
        # before them, so a controller never starts without its permissions nor loses them while it still
        # cleans up (finalizers on destroy). Pulumi deletes in reverse dependency order.
        self.arn = pulumi.Output.all(self.role.arn, *[p.urn for p in self.permissions]).apply(lambda v: str(v[0]))
        self.name = self.role.name
        # Pod Identity needs no annotation (the agent hands out the credentials by association)
        self.annotations = {} if pod_identity_cluster is not None else {ROLE_ARN_ANNOTATION: self.arn}
        self.register_outputs({"arn": self.arn, "name": self.name})
