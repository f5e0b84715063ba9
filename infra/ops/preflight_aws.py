"""AWS preflight: what a first ``pulumi up`` of a stack needs from the account, checked with boto3.

Every check returns :class:`~infra.ops.preflight.Finding` s and never raises for an AWS error: a
call the caller may not make becomes a finding saying so.

- ``identity``: who is calling (STS).
- ``quota.<code>``: the EC2 vCPU quotas of the GPU families the stack's pools launch (and the
  Standard on-demand quota ``L-1216C47A`` against the system node group at ``maxNodes``)
  (Service Quotas; the quota counts vCPUs of running instances / open spot requests) against the
  most vCPUs the pools can reach at their GPU ceilings: "Running On-Demand G and VT instances"
  ``L-DB2E81BA``, "Running On-Demand P instances" ``L-417A185B``, "All G and VT Spot Instance
  Requests" ``L-3819A6DF``, "All P Spot Instance Requests" ``L-7212CCBC``. ``spot-with-fallback``
  pools count against both.
- ``slr.<service>``: the service-linked roles. The Auto Scaling one is compared with
  ``aws.autoscalingServiceLinkedRole`` (the stack creates it, or uses the account's); the others
  are created by their service on first use if the caller may ``iam:CreateServiceLinkedRole``.
- ``backend``: the S3 state bucket of ``PULUMI_BACKEND_URL`` / ``--backend-url`` exists and is
  versioned.
- ``permissions``: the caller's identity policies allow the actions a first deploy makes
  (``iam:SimulatePrincipalPolicy``; SCPs and permission boundaries are evaluated by IAM too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlparse

from infra.ops.aws import Clients, describe_error, error_code
from infra.ops.preflight import Finding

QUOTAS = {
    ("G/VT", "on-demand"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("P", "on-demand"): ("L-417A185B", "Running On-Demand P instances"),
    ("G/VT", "spot"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("P", "spot"): ("L-7212CCBC", "All P Spot Instance Requests"),
    ("Standard", "on-demand"): ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
}
"""(instance family class, purchase option) -> (EC2 Service Quotas code, quota name), in vCPUs."""

PURCHASES = {"spot": ("spot",), "on-demand": ("on-demand",), "spot-with-fallback": ("spot", "on-demand")}

DEPLOY_ACTIONS = (
    "ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateNatGateway", "ec2:AllocateAddress", "ec2:CreateSecurityGroup",
    "ec2:CreateLaunchTemplate", "ec2:CreateTags",
    "eks:CreateCluster", "eks:CreateNodegroup", "eks:CreateAddon", "eks:CreateAccessEntry", "eks:AssociateAccessPolicy",
    "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PassRole", "iam:CreateOpenIDConnectProvider",
    "iam:CreateServiceLinkedRole",
    "kms:CreateKey", "kms:CreateAlias", "kms:PutKeyPolicy",
    "s3:CreateBucket", "s3:PutBucketPolicy", "s3:PutBucketVersioning", "s3:PutReplicationConfiguration",
    "rds:CreateDBInstance", "rds:CreateDBSubnetGroup", "elasticache:CreateReplicationGroup",
    "secretsmanager:CreateSecret", "sqs:CreateQueue", "events:PutRule", "events:PutTargets", "logs:CreateLogGroup",
    "budgets:ModifyBudget", "ssm:GetParameter",
)  # fmt: skip
"""What a first ``pulumi up`` of an AWS stack calls as the deployer (a representative set per service)."""


LUSTRE_ACTIONS = ("fsx:CreateFileSystem", "fsx:CreateDataRepositoryAssociation", "fsx:TagResource")
"""What ``dataLake.lustre`` adds to a first deploy (the file system and its data repository associations)."""
FSX_S3_ROLE_ACTIONS = ("iam:CreateServiceLinkedRole", "iam:AttachRolePolicy", "iam:PutRolePolicy")
"""What the deployer needs on FSx's per-file-system S3 role when it links a bucket (FSx for Lustre user
guide, "Adding permissions to use data repositories in Amazon S3"): FSx creates the role as the caller."""
FSX_S3_ROLE_PATH = "aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/"


def deploy_actions(cfg: Any) -> tuple[str, ...]:
    """:data:`DEPLOY_ACTIONS`, plus :data:`LUSTRE_ACTIONS` when the stack has a Lustre file system."""
    return (*DEPLOY_ACTIONS, *LUSTRE_ACTIONS) if getattr(cfg.data_lake, "lustre", None) is not None else DEPLOY_ACTIONS


def family_class(instance_type: str) -> str | None:
    """``G/VT`` for g* / vt* instance types, ``P`` for p*, else ``None`` (no GPU quota known here)."""
    family = instance_type.split(".")[0].lower()
    if family.startswith("vt") or family.startswith("g"):
        return "G/VT"
    if family.startswith("p"):
        return "P"
    return None


def gpu_vcpu_demand(cfg: Any) -> dict[tuple[str, str], int]:
    """Most vCPUs the stack's GPU pools can run at once, per (family class, purchase option).

    A Karpenter pool stops at its GPU ceiling (``nvidia.com/gpu`` limit), i.e. at most
    ``ceil(ceiling / gpus per node)`` nodes of its largest shape; a managed pool at ``maxNodes``.
    """
    from components.aws.karpenter import cpu_limit_for

    need: dict[tuple[str, str], int] = defaultdict(int)
    for pool in cfg.gpu_pools:
        by_class: dict[str, list[Any]] = defaultdict(list)
        for node in cfg.pool_node_types(pool):
            cls = family_class(node.name)
            if cls is not None:
                by_class[cls].append(node)
        for cls, nodes in by_class.items():
            if pool.mode == "managed" and pool.max_nodes is not None:
                vcpus = pool.max_nodes * max(n.vcpu for n in nodes)
            else:
                vcpus = cpu_limit_for(cfg.pool_gpu_ceiling(pool), [(n.gpus, n.vcpu) for n in nodes])
            for purchase in PURCHASES[pool.capacity]:
                need[(cls, purchase)] += vcpus
    return dict(need)


def _quota_value(clients: Clients, region: str, code: str) -> float:
    sq = clients.client("service-quotas", region)
    try:
        return float(sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])
    except Exception as exc:
        if error_code(exc) != "NoSuchResourceException":
            raise
    # never changed in this account: the AWS default applies
    return float(sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])


def system_vcpu_demand(cfg: Any, clients: Clients) -> int:
    """vCPUs of the on-demand system node group at ``maxNodes`` (EC2 DescribeInstanceTypes)."""
    nodes = cfg.cluster.system_nodes
    info = clients.client("ec2", cfg.region).describe_instance_types(InstanceTypes=[nodes.instance_type])
    return int(nodes.max_nodes * info["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"])


def check_quotas(cfg: Any, clients: Clients) -> list[Finding]:
    region = cfg.region
    out = []
    demand = dict(gpu_vcpu_demand(cfg))
    try:
        demand[("Standard", "on-demand")] = system_vcpu_demand(cfg, clients)
    except Exception as exc:
        out.append(Finding("quota.L-1216C47A", False, f"system node type {cfg.cluster.system_nodes.instance_type}: {_why(exc)}"))
    for key, vcpus in sorted(demand.items()):
        code, name = QUOTAS[key]
        check = f"quota.{code}"
        try:
            have = _quota_value(clients, region, code)
        except Exception as exc:
            out.append(Finding(check, False, f"{name} in {region}: cannot read the quota ({_why(exc)})"))
            continue
        if have >= vcpus:
            out.append(Finding(check, True, f"{name} in {region}: {have:g} vCPUs >= {vcpus} {_who(key)} can reach"))
        else:
            out.append(
                Finding(
                    check,
                    False,
                    f"{name} in {region}: {have:g} vCPUs < {vcpus} {_who(key)} can reach; "
                    f"request {vcpus} (aws service-quotas request-service-quota-increase --service-code ec2 "
                    f"--quota-code {code} --desired-value {vcpus} --region {region}) or lower "
                    + ("cluster.systemNodes.maxNodes" if key[0] == "Standard" else "gpuLimit / maxNodes"),
                )
            )
    return out


def _who(key: tuple[str, str]) -> str:
    return "the system nodes at maxNodes" if key[0] == "Standard" else "the GPU pools at their GPU ceilings"


def needed_service_linked_roles(cfg: Any) -> list[str]:
    """Service principals whose service-linked roles a deploy of ``cfg`` relies on."""
    services = ["autoscaling.amazonaws.com", "eks.amazonaws.com", "eks-nodegroup.amazonaws.com"]
    if any("spot" in PURCHASES[p.capacity] for p in cfg.gpu_pools):
        services.append("spot.amazonaws.com")
    if cfg.needs_database:
        services.append("rds.amazonaws.com")
    if cfg.feast.enabled:
        services.append("elasticache.amazonaws.com")
    return services


def check_service_linked_roles(cfg: Any, clients: Clients) -> list[Finding]:
    from components.aws.service_linked_roles import ROLE_NAMES

    iam = clients.iam()
    out = []
    for service in needed_service_linked_roles(cfg):
        role = ROLE_NAMES[service]
        check = f"slr.{service.split('.')[0]}"
        try:
            iam.get_role(RoleName=role)
            exists = True
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                out.append(Finding(check, False, f"{role}: cannot look it up ({_why(exc)})"))
                continue
            exists = False
        if service == "autoscaling.amazonaws.com":
            mode = cfg.aws.autoscaling_service_linked_role
            if exists and mode == "create":
                out.append(
                    Finding(
                        check,
                        False,
                        f"{role} exists in this account, so creating it would fail: set ml-platform:aws.autoscalingServiceLinkedRole: "
                        "existing (or adopt it with pulumi import, docs/aws.md)",
                    )
                )
            elif not exists and mode == "existing":
                out.append(
                    Finding(
                        check,
                        False,
                        f"{role} is missing and the KMS key policy names it: set ml-platform:aws.autoscalingServiceLinkedRole: "
                        "create (the default)",
                    )
                )
            else:
                out.append(Finding(check, True, f"{role}: {'exists' if exists else 'missing; the stack creates it'} ({mode})"))
        else:
            out.append(
                Finding(
                    check,
                    True,
                    f"{role}: "
                    + ("exists" if exists else "missing; its service creates it on first use (iam:CreateServiceLinkedRole)"),
                )
            )
    return out


def parse_backend(url: str) -> tuple[str, str | None] | None:
    """``(bucket, region)`` of an ``s3://`` backend URL, else ``None``."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        return None
    region = parse_qs(parsed.query).get("region", [None])[0]
    return parsed.netloc, region


def check_backend(cfg: Any, clients: Clients, backend_url: str | None) -> list[Finding]:
    if not backend_url:
        return [
            Finding(
                "backend",
                False,
                "no state backend given: pass --backend-url or set PULUMI_BACKEND_URL "
                "(python -m infra ops bootstrap-backend creates an S3 one)",
            )
        ]
    target = parse_backend(backend_url)
    if target is None:
        return [Finding("backend", True, f"{backend_url}: not an S3 backend, not checked here")]
    bucket, region = target
    s3 = clients.s3(region or cfg.region)
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return [
                Finding(
                    "backend",
                    False,
                    f"state bucket {bucket} does not exist: python -m infra ops bootstrap-backend --region {region or cfg.region}",
                )
            ]
        return [Finding("backend", False, f"state bucket {bucket}: {_why(exc)}")]
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        return [Finding("backend", False, f"state bucket {bucket} is not versioned: a bad update could not be rolled back")]
    return [Finding("backend", True, f"state bucket {bucket}: exists, versioned")]


def _principal_arn(clients: Clients, caller_arn: str) -> str | None:
    """The IAM ARN to simulate for an STS caller ARN (``None`` for the root user)."""
    parts = caller_arn.split(":")
    account, resource = parts[4], parts[5]
    if resource == "root":
        return None
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        try:
            return str(clients.iam().get_role(RoleName=role)["Role"]["Arn"])  # with its path
        except Exception:
            return f"arn:{parts[1]}:iam::{account}:role/{role}"
    return caller_arn


def check_permissions(
    clients: Clients,
    caller_arn: str,
    actions: Iterable[str] = DEPLOY_ACTIONS,
    *,
    resource_arns: Iterable[str] = (),
    check: str = "permissions",
    what: str = "a first deploy makes",
) -> list[Finding]:
    principal = _principal_arn(clients, caller_arn)
    if principal is None:
        return [Finding(check, False, "deploying as the root user: use a role (root cannot be simulated and should not deploy)")]
    params: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": list(actions)}
    if resource_arns:
        params["ResourceArns"] = list(resource_arns)
    try:
        paginator = clients.iam().get_paginator("simulate_principal_policy")
        results = [r for page in paginator.paginate(**params) for r in page["EvaluationResults"]]
    except Exception as exc:
        return [
            Finding(
                check,
                True,
                f"not checked: cannot simulate {principal} ({_why(exc)}); grant iam:SimulatePrincipalPolicy to check",
            )
        ]
    denied = sorted({r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"})
    if denied:
        return [Finding(check, False, f"{principal} is not allowed: {', '.join(denied)}")]
    return [Finding(check, True, f"{principal} may make the {len(results)} kinds of calls {what}")]


def check_lustre_role_permissions(cfg: Any, clients: Clients, caller_arn: str, account: str) -> list[Finding]:
    """With ``dataLake.lustre``: may the deployer let FSx create its S3 role (linking the lake buckets)?"""
    if getattr(cfg.data_lake, "lustre", None) is None:
        return []
    partition = caller_arn.split(":")[1] if caller_arn.startswith("arn:") else "aws"
    role = f"arn:{partition}:iam::{account}:role/{FSX_S3_ROLE_PATH}AWSServiceRoleForFSxS3Access_fs-0123456789abcdef0"
    return check_permissions(
        clients,
        caller_arn,
        FSX_S3_ROLE_ACTIONS,
        resource_arns=[role],
        check="permissions.fsx-s3-role",
        what=f"on FSx's S3 role ({FSX_S3_ROLE_PATH}*) linking the lake to Lustre needs",
    )


def _why(exc: BaseException) -> str:
    return describe_error(exc) or f"{type(exc).__name__}: {exc}"


def run(cfg: Any, *, clients: Clients | None = None, backend_url: str | None = None, **_: Any) -> list[Finding]:
    """Every AWS preflight finding for ``cfg`` (a ``cloud: aws`` stack)."""
    clients = clients or Clients()
    try:
        ident = clients.sts(cfg.region).get_caller_identity()
    except Exception as exc:
        return [Finding("identity", False, f"cannot call AWS: {_why(exc)}")]
    caller = str(ident["Arn"])
    findings = [Finding("identity", True, f"account {ident['Account']} as {caller}")]
    findings += check_quotas(cfg, clients)
    findings += check_service_linked_roles(cfg, clients)
    findings += check_backend(cfg, clients, backend_url)
    findings += check_permissions(clients, caller, deploy_actions(cfg))
    findings += check_lustre_role_permissions(cfg, clients, caller, str(ident["Account"]))
    return findings


__all__ = ["QUOTAS", "Finding", "gpu_vcpu_demand", "run"]
