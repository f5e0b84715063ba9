"""An EKS cluster: encrypted secrets, audit logging, private endpoint, access entries, IRSA, add-ons,
and a small on-demand system node group.

Workload IAM uses IRSA (an IAM OIDC provider for the cluster issuer); see :mod:`components.aws.irsa`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.irsa import IrsaRole, IrsaRoleArgs
from components.base import Component

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
SYSTEM_NODE_LABEL = "ml-platform.io/node-role"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
_NAME = re.compile(r"^[a-z][-a-z0-9]{0,99}$")
_VERSION = re.compile(r"^1\.[0-9]{2}$")


@dataclass(frozen=True)
class SystemNodes:
    """The on-demand CPU node group for controllers (Karpenter, CoreDNS, operators)."""

    instance_type: str = "m6i.large"
    min_nodes: int = 2
    max_nodes: int = 4
    disk_gb: int = 50
    hop_limit: int = 2
    """IMDSv2 hop limit; 2 lets the few host-network-less add-ons that read the region reach IMDS."""

    def __post_init__(self) -> None:
        if self.min_nodes < 1 or self.max_nodes < self.min_nodes:
            raise ValueError(f"system nodes: need 1 <= min_nodes ({self.min_nodes}) <= max_nodes ({self.max_nodes})")
        if self.disk_gb < 20:
            raise ValueError(f"system nodes: disk_gb {self.disk_gb} is below 20")
        if self.hop_limit not in (1, 2):
            raise ValueError(f"system nodes: hop_limit {self.hop_limit} must be 1 or 2")


def kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with ``aws eks get-token`` (no static credentials)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


def ebs_kms_policy(key_arn: str) -> str:
    """Let the EBS CSI driver create and attach volumes encrypted with ``key_arn`` (through EC2 only)."""
    via_ec2 = {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "VolumeGrants",
                    "Effect": "Allow",
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": key_arn,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
                {
                    "Sid": "VolumeKeys",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": key_arn,
                    "Condition": via_ec2,
                },
            ],
        }
    )


def _assume(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


@dataclass(frozen=True)
class EksClusterArgs:
    """Arguments of :class:`EksCluster`.

    :param cluster_name: the EKS cluster name.
    :param version: Kubernetes ``1.NN``.
    :param region: the provider's region (kubeconfig).
    :param subnet_ids: private subnets for the control-plane ENIs and the nodes.
    :param kms_key_arn: envelope encryption of Kubernetes secrets, control-plane logs and node volumes.
    :param public_access_cidrs: when non-empty, a public endpoint reachable only from these CIDRs.
    :param private_access_cidrs: networks allowed to the private endpoint (HTTPS to the cluster
        security group, which otherwise admits only itself): the VPC, where a self-hosted CI
        runner or a bastion runs ``pulumi up``, and any VPN / peered ranges.
    :param admin_principal_arns: IAM principals given cluster-admin through access entries.
    :param security_group_tags: tags added to the EKS-created cluster security group (Karpenter discovery).
    :param system_nodes: the system node group's shape.
    :param log_retention_days: retention of the control-plane log group.
    :param pod_identity_agent: install the ``eks-pod-identity-agent`` add-on (EKS Pod Identity).
    :param protect: deletion protection on the cluster (prod).
    :param tags: tags on the AWS resources.
    """

    cluster_name: str
    version: str
    region: str
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    kms_key_arn: pulumi.Input[str]
    public_access_cidrs: Sequence[str] = ()
    private_access_cidrs: Sequence[str] = ()
    admin_principal_arns: Sequence[str] = ()
    security_group_tags: Mapping[str, str] = field(default_factory=dict)
    system_nodes: SystemNodes = field(default_factory=SystemNodes)
    log_retention_days: int = 90
    pod_identity_agent: bool = False
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.cluster_name):
            raise ValueError(f"cluster_name {self.cluster_name!r} must start with a letter: lowercase letters, digits, '-'")
        if not _VERSION.match(self.version):
            raise ValueError(f"version {self.version!r} must look like 1.33")
        for cidr in self.public_access_cidrs:
            if ipaddress.ip_network(cidr).prefixlen == 0:
                raise ValueError(f"public_access_cidrs: {cidr!r} opens the API endpoint to the internet")
        for cidr in self.private_access_cidrs:
            if ipaddress.ip_network(cidr).prefixlen == 0:
                raise ValueError(f"private_access_cidrs: {cidr!r} is everything; list the VPC and VPN ranges")
        if self.log_retention_days < 1:
            raise ValueError("log_retention_days must be at least 1")
        if not self.region:
            raise ValueError("region is required")


class EksCluster(Component):
    """EKS control plane, IAM OIDC provider, core add-ons and the system node group (the AWS
    provider of ``args.region`` comes through ``opts``).

    Outputs: ``name``, ``oidc_provider_arn``, ``oidc_issuer``, ``kubeconfig`` (secret); attributes
    ``cluster``, ``k8s_provider`` (the cluster's Kubernetes provider) and :attr:`depends_on`.
    """

    name: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, resource_name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:EksCluster", resource_name, opts)
        cluster_name, version, region, subnet_ids, kms_key_arn = (
            args.cluster_name,
            args.version,
            args.region,
            args.subnet_ids,
            args.kms_key_arn,
        )
        public_access_cidrs, private_access_cidrs, protect = args.public_access_cidrs, args.private_access_cidrs, args.protect
        system_nodes = args.system_nodes
        child = self.child_opts()
        base = dict(args.tags)

        # ---- control plane ----------------------------------------------------------------------
        self.cluster_role = aws.iam.Role(
            f"{resource_name}-cluster", assume_role_policy=_assume("eks.amazonaws.com"), tags=base, opts=child
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{resource_name}-cluster",
            role=self.cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        key_use = aws.iam.RolePolicy(
            f"{resource_name}-cluster-kms",
            role=self.cluster_role.id,
            policy=pulumi.Output.from_input(kms_key_arn).apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        # EKS writes control-plane logs here; creating it first sets retention and encryption.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{resource_name}-cluster",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=kms_key_arn,
            tags=base,
            opts=child,
        )
        public = bool(public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            resource_name,
            name=cluster_name,
            version=version,
            role_arn=self.cluster_role.arn,
            vpc_config={
                "subnet_ids": subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": public,
                "public_access_cidrs": list(public_access_cidrs) if public else None,
            },
            encryption_config={"provider": {"key_arn": kms_key_arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(LOG_TYPES),
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            bootstrap_self_managed_addons=False,
            deletion_protection=protect,
            upgrade_policy={"support_type": "STANDARD"},
            tags=base,
            opts=self.child_opts(depends_on=[cluster_policy, key_use, self.log_group], protect=protect),
        )
        self.cluster_security_group_id = self.cluster.vpc_config.cluster_security_group_id
        for key, value in args.security_group_tags.items():
            aws.ec2.Tag(
                f"{resource_name}-sg-{key.replace('/', '-').replace('.', '-')}",
                resource_id=self.cluster_security_group_id,
                key=key,
                value=value,
                opts=child,
            )

        # The private endpoint's ENIs carry the cluster security group, which admits only itself:
        # whatever runs `pulumi up` inside the VPC (a self-hosted runner, a bastion) needs HTTPS to it.
        self.endpoint_access: list[pulumi.Resource] = [
            aws.vpc.SecurityGroupIngressRule(
                f"{resource_name}-api-{i}",
                security_group_id=self.cluster_security_group_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description=f"Kubernetes API from {cidr} (deployer, operators)",
                opts=child,
            )
            for i, cidr in enumerate(private_access_cidrs)
        ]

        # ---- identity: access entries and IRSA --------------------------------------------------
        self.access_entries: list[aws.eks.AccessEntry] = []
        self.admin_access: list[pulumi.Resource] = []
        for i, arn in enumerate(args.admin_principal_arns):
            entry = aws.eks.AccessEntry(
                f"{resource_name}-admin-{i}", cluster_name=self.cluster.name, principal_arn=arn, type="STANDARD", opts=child
            )
            assoc = aws.eks.AccessPolicyAssociation(
                f"{resource_name}-admin-{i}",
                cluster_name=self.cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=ADMIN_POLICY,
                access_scope={"type": "cluster"},
                opts=child,
            )
            self.access_entries.append(entry)
            self.admin_access += [entry, assoc]

        issuer_url = self.cluster.identities[0].oidcs[0].issuer
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{resource_name}-oidc", url=issuer_url, client_id_lists=["sts.amazonaws.com"], tags=base, opts=child
        )
        oidc_provider_arn = self.oidc_provider.arn
        oidc_issuer = issuer_url.apply(lambda url: url.removeprefix("https://"))

        # ---- nodes ------------------------------------------------------------------------------
        self.node_role = aws.iam.Role(
            f"{resource_name}-node", assume_role_policy=_assume("ec2.amazonaws.com"), tags=base, opts=child
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{resource_name}-node-{short}",
                role=self.node_role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=child,
            )
            for short, policy in (
                ("worker", "AmazonEKSWorkerNodePolicy"),
                ("ecr", "AmazonEC2ContainerRegistryPullOnly"),
                ("ssm", "AmazonSSMManagedInstanceCore"),
            )
        ]
        cni_role = IrsaRole(
            f"{resource_name}-vpc-cni",
            IrsaRoleArgs(
                oidc_provider_arn=oidc_provider_arn,
                oidc_issuer=oidc_issuer,
                namespace="kube-system",
                service_account="aws-node",
                managed_policy_arns=["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"],
                tags=base,
            ),
            self.child_opts(),
        )
        self.addons: dict[str, aws.eks.Addon] = {}
        self.addons["vpc-cni"] = self._addon(
            resource_name, "vpc-cni", child, role_arn=cni_role.arn, configuration={"enableNetworkPolicy": "true"}
        )
        self.addons["kube-proxy"] = self._addon(resource_name, "kube-proxy", child)

        self.launch_template = aws.ec2.LaunchTemplate(
            f"{resource_name}-system",
            description=f"{cluster_name} system nodes: IMDSv2 only, encrypted gp3 root volume",
            update_default_version=True,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": system_nodes.hop_limit,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": system_nodes.disk_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "kms_key_id": kms_key_arn,
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[
                {"resource_type": kind, "tags": {**base, "Name": f"{cluster_name}-system"}} for kind in ("instance", "volume")
            ],
            tags=base,
            opts=child,
        )
        self.system_node_group = aws.eks.NodeGroup(
            f"{resource_name}-system",
            cluster_name=self.cluster.name,
            node_group_name="system",
            node_role_arn=self.node_role.arn,
            subnet_ids=subnet_ids,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=[system_nodes.instance_type],
            scaling_config={
                "min_size": system_nodes.min_nodes,
                "desired_size": system_nodes.min_nodes,
                "max_size": system_nodes.max_nodes,
            },
            update_config={"max_unavailable": 1},
            launch_template={"id": self.launch_template.id, "version": self.launch_template.latest_version.apply(str)},
            labels={SYSTEM_NODE_LABEL: "system"},
            tags=base,
            opts=self.child_opts(
                depends_on=[*node_policies, self.addons["vpc-cni"], self.addons["kube-proxy"]],
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        ebs_role = IrsaRole(
            f"{resource_name}-ebs-csi",
            IrsaRoleArgs(
                oidc_provider_arn=oidc_provider_arn,
                oidc_issuer=oidc_issuer,
                namespace="kube-system",
                service_account="ebs-csi-controller-sa",
                managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
                policy_document=pulumi.Output.from_input(kms_key_arn).apply(ebs_kms_policy),
                tags=base,
            ),
            self.child_opts(),
        )
        after_nodes = self.child_opts(depends_on=[self.system_node_group])
        self.addons["coredns"] = self._addon(resource_name, "coredns", after_nodes)
        self.addons["aws-ebs-csi-driver"] = self._addon(resource_name, "aws-ebs-csi-driver", after_nodes, role_arn=ebs_role.arn)
        self.ebs_csi_role = ebs_role
        if args.pod_identity_agent:
            # a DaemonSet on every node serving the credentials of PodIdentityAssociations
            self.addons["eks-pod-identity-agent"] = self._addon(resource_name, "eks-pod-identity-agent", after_nodes)

        # ---- kubeconfig and the Kubernetes provider ---------------------------------------------
        kubeconfig_doc: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data).apply(
                lambda a: kubeconfig(a[0], a[1], a[2], region)
            )
        )
        # The deployer may be one of the admin principals (a CI role): every Kubernetes object is
        # created after its access entry and policy association and deleted before them, or a
        # destroy would lose cluster access halfway (Pulumi deletes a provider after its resources).
        self.k8s_provider = k8s.Provider(
            f"{resource_name}-k8s",
            kubeconfig=kubeconfig_doc,
            enable_server_side_apply=True,
            opts=self.child_opts(depends_on=[*self.admin_access, *self.endpoint_access]),
        )
        self.publish(
            name=self.cluster.name, oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer, kubeconfig=kubeconfig_doc
        )

    def _addon(
        self,
        resource_name: str,
        addon: str,
        opts: pulumi.ResourceOptions,
        *,
        role_arn: pulumi.Input[str] | None = None,
        configuration: dict[str, str] | None = None,
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{resource_name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            service_account_role_arn=role_arn,
            configuration_values=json.dumps(configuration) if configuration else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=opts,
        )

    @property
    def depends_on(self) -> list[pulumi.Resource]:
        """What in-cluster workloads wait for: the system nodes and every core add-on."""
        return [self.system_node_group, *self.addons.values()]
