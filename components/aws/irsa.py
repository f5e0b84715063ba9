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
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.base import Component

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


@dataclass(frozen=True)
class IrsaRoleArgs:
    """Arguments of :class:`IrsaRole`.

    :param namespace: Kubernetes namespace of the service account.
    :param service_account: service account name.
    :param oidc_provider_arn: ARN of the cluster's ``aws.iam.OpenIdConnectProvider`` (IRSA).
    :param oidc_issuer: issuer host and path, without ``https://`` (IRSA).
    :param pod_identity_cluster: the cluster's name: use EKS Pod Identity instead of IRSA.
    :param policy_document: inline policy JSON (a string ``Input``), or ``None``.
    :param managed_policy_arns: managed policies to attach.
    :param tags: extra tags on the role.
    """

    namespace: str
    service_account: str
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer: pulumi.Input[str] | None = None
    pod_identity_cluster: pulumi.Input[str] | None = None
    policy_document: pulumi.Input[str] | None = None
    managed_policy_arns: Sequence[pulumi.Input[str]] = ()
    tags: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _DNS_LABEL.match(self.namespace) or len(self.namespace) > 63:
            raise ValueError(f"namespace {self.namespace!r} is not a Kubernetes namespace name")
        if not _SA_NAME.match(self.service_account) or len(self.service_account) > 253:
            raise ValueError(f"service_account {self.service_account!r} is not a Kubernetes service account name")
        if self.policy_document is None and not self.managed_policy_arns:
            raise ValueError("give policy_document or managed_policy_arns: a role without permissions is useless")
        if self.pod_identity_cluster is None and (self.oidc_provider_arn is None or self.oidc_issuer is None):
            raise ValueError("give oidc_provider_arn and oidc_issuer (IRSA), or pod_identity_cluster (EKS Pod Identity)")


class IrsaRole(Component):
    """An IAM role assumable only by one Kubernetes service account (IRSA or EKS Pod Identity).

    The AWS provider comes through ``opts`` (or the parent). Outputs: ``arn`` (carrying the
    permissions as dependencies), ``name``, ``annotations`` for the service account.
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    annotations: dict[str, pulumi.Output[str]]

    def __init__(self, resource_name: str, args: IrsaRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:IrsaRole", resource_name, opts)
        child = self.child_opts()
        namespace, service_account = args.namespace, args.service_account
        pod_identity_cluster = args.pod_identity_cluster
        tags = dict(args.tags)

        if pod_identity_cluster is not None:
            assume = pulumi.Output.from_input(pod_identity_cluster).apply(
                lambda c: pod_identity_trust_policy(c, namespace, service_account)
            )
        else:
            assume = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                lambda a: trust_policy(a[0], a[1], namespace, service_account)
            )
        self.role = aws.iam.Role(
            resource_name,
            assume_role_policy=assume,
            description=f"IRSA role for service account {namespace}/{service_account}",
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        self.permissions: list[pulumi.Resource] = []
        """The inline policy and attachments: what the workload needs, at start and while it cleans up."""
        if args.policy_document is not None:
            self.policy = aws.iam.RolePolicy(resource_name, role=self.role.id, policy=args.policy_document, opts=child)
            self.permissions.append(self.policy)
        for i, arn in enumerate(args.managed_policy_arns):
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
                tags=tags,
                opts=child,
            )
            self.permissions.append(self.association)
        # The ARN carries the permissions (and the Pod Identity association) as dependencies: whatever is
        # annotated with it (a Helm release, a service account) is created after the policies and deleted
        # before them, so a controller never starts without its permissions nor loses them while it still
        # cleans up (finalizers on destroy). Pulumi deletes in reverse dependency order.
        arn = pulumi.Output.all(self.role.arn, *[p.urn for p in self.permissions]).apply(lambda v: str(v[0]))
        # Pod Identity needs no annotation (the agent hands out the credentials by association)
        annotations = {} if pod_identity_cluster is not None else {ROLE_ARN_ANNOTATION: arn}
        self.publish(arn=arn, name=self.role.name, annotations=annotations)
