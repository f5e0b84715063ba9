"""Per-policy fixtures, checkov-style: for every policy id a compliant and a violating set of resources.

Each case is a small stack (plan-shaped resources with the engine's camelCase inputs) evaluated by
``infra.policy_hook.evaluate_resources`` - the same path the offline plan takes - for one
environment. ``tests/test_policies.py`` asserts the compliant stack raises nothing for that policy
id and the violating one raises it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from catalog import conventions as cv
from infra.plan.recorder import RecordedResource

STACK = "urn:pulumi:t::ml-platform::"
AWS_PROVIDER = "pulumi:providers:aws"
GCP_PROVIDER = "pulumi:providers:gcp"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def urn(type_: str, name: str) -> str:
    return f"{STACK}{type_}::{name}"


def tags(env: str = "prod", **extra: str) -> dict[str, str]:
    out = {
        cv.TAG_ENVIRONMENT: env,
        cv.TAG_TEAM: cv.PLATFORM_TEAM,
        cv.TAG_COST_CENTER: cv.PLATFORM_COST_CENTER,
        cv.TAG_PROJECT: cv.PROJECT,
        cv.TAG_MANAGED_BY: cv.MANAGED_BY,
    }
    out.update(extra)
    return out


def res(
    type_: str, name: str, inputs: dict[str, Any], *, provider: str | None = None, deps: list[str] | None = None
) -> RecordedResource:
    if provider is None:
        provider = {"aws": "aws", "gcp": "gcp", "kubernetes": "k8s"}.get(type_.split(":")[0], "")
        provider = "" if type_.startswith("pulumi:providers:") else provider
    prov_type = {"aws": AWS_PROVIDER, "gcp": GCP_PROVIDER, "k8s": K8S_PROVIDER}.get(provider, "")
    return RecordedResource(
        urn=urn(type_, name),
        type=type_,
        name=name,
        custom=True,
        parent=f"{STACK}pulumi:pulumi:Stack::ml-platform-t",
        provider=f"{urn(prov_type, provider)}::id" if provider else "",
        protect=False,
        retain_on_delete=False,
        dependencies=list(deps or []),
        inputs=copy.deepcopy(inputs),
    )


def providers(env: str = "prod", aws_tags: dict[str, str] | None = None) -> list[RecordedResource]:
    """An AWS provider with default tags JSON-encoded (as the engine hands them), GCP and Kubernetes providers."""
    default_tags = tags(env) if aws_tags is None else aws_tags
    return [
        res(AWS_PROVIDER, "aws", {"region": "us-east-1", "defaultTags": json.dumps({"tags": default_tags})}),
        res(GCP_PROVIDER, "gcp", {"project": "acme-ml", "region": "us-central1"}),
        res(K8S_PROVIDER, "k8s", {}),
    ]


# ---- S3 --------------------------------------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def tls_policy(bucket: str = "arn:aws:s3:::lake") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket, f"{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def good_bucket(name: str = "lake", **changes: Any) -> list[RecordedResource]:
    """A bucket with every companion the S3 rules want; ``changes`` replace a companion's inputs (None drops it)."""
    b = res(BUCKET, name, {"bucket": f"acme-{name}", "tags": {cv.TAG_LAKE_ZONE: "raw", cv.TAG_LAKE_ROLE: "primary"}})
    parts: dict[str, tuple[str, Any]] = {
        "sse": (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {
                "bucket": f"acme-{name}",
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
        ),
        "pab": (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {
                "bucket": f"acme-{name}",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        "policy": ("aws:s3/bucketPolicy:BucketPolicy", {"bucket": f"acme-{name}", "policy": tls_policy()}),
        "versioning": (
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": f"acme-{name}", "versioningConfiguration": {"status": "Enabled"}},
        ),
    }
    out = [b]
    for key, (type_, inputs) in parts.items():
        if key in changes:
            if changes[key] is None:
                continue
            inputs = changes[key]
        out.append(res(type_, name, inputs, deps=[b.urn]))
    return out


# ---- Kubernetes --------------------------------------------------------------------------------

NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def team_namespace(team: str = "research", labels: dict[str, str] | None = None) -> RecordedResource:
    lab = {cv.TEAM_LABEL: team, cv.COST_CENTER_LABEL: "CC-1001"} if labels is None else labels
    return res(NAMESPACE, team, {"metadata": {"name": team, "labels": lab}})


def quota(ns: str = "research") -> RecordedResource:
    return res(
        QUOTA,
        f"{ns}-quota",
        {"metadata": {"name": "team-quota", "namespace": ns}, "spec": {"hard": {"requests.nvidia.com/gpu": "4"}}},
    )


def deny_all(ns: str = "research", types: tuple[str, ...] = ("Ingress", "Egress")) -> RecordedResource:
    return res(
        NETPOL,
        f"{ns}-deny",
        {"metadata": {"name": "default-deny", "namespace": ns}, "spec": {"podSelector": {}, "policyTypes": list(types)}},
    )


def node_pool(
    name: str = "train",
    *,
    types: list[str] | None = None,
    capacity: list[str] | None = None,
    gpu_limit: Any = 16,
    purpose: str = "training",
    limits: dict[str, Any] | None = None,
    min_nodes: int | None = None,
) -> RecordedResource:
    reqs = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types or ["p4d.24xlarge"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity or ["spot", "on-demand"]},
    ]
    annotations = {} if min_nodes is None else {cv.MIN_NODES_ANNOTATION: str(min_nodes)}
    lim = {"cpu": "1000", cv.GPU_RESOURCE: gpu_limit} if limits is None else limits
    return res(
        "kubernetes:karpenter.sh/v1:NodePool",
        name,
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "template": {
                    "metadata": {"labels": {cv.POOL_LABEL: name, cv.PURPOSE_LABEL: purpose}},
                    "spec": {
                        "requirements": reqs,
                        "taints": [{"key": cv.GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
                    },
                },
                "limits": lim,
            },
        },
    )


def node_group(
    name: str = "serve",
    *,
    types: list[str] | None = None,
    min_size: int = 0,
    max_size: int = 4,
    capacity: str = "ON_DEMAND",
    purpose: str = "serving",
    launch_template: bool = True,
) -> RecordedResource:
    inputs: dict[str, Any] = {
        "nodeGroupName": name,
        "instanceTypes": types or ["g6e.xlarge"],
        "capacityType": capacity,
        "scalingConfig": {"minSize": min_size, "maxSize": max_size, "desiredSize": min_size},
        "labels": {cv.POOL_LABEL: name, cv.PURPOSE_LABEL: purpose},
    }
    if launch_template:
        inputs["launchTemplate"] = {"id": "lt-123", "version": "1"}
    return res("aws:eks/nodeGroup:NodeGroup", name, inputs)


def gke_pool(
    name: str = "train",
    *,
    machine: str = "a2-highgpu-1g",
    spot: bool = True,
    min_count: int = 0,
    max_count: int = 2,
    purpose: str = "training",
) -> RecordedResource:
    return res(
        "gcp:container/nodePool:NodePool",
        name,
        {
            "name": name,
            "nodeConfig": {"machineType": machine, "spot": spot, "labels": {cv.POOL_LABEL: name, cv.PURPOSE_LABEL: purpose}},
            "autoscaling": {"minNodeCount": min_count, "maxNodeCount": max_count},
            "nodeLocations": ["us-central1-a"],
        },
    )


def budget(team: str | None, amount: float = 1000) -> RecordedResource:
    inputs: dict[str, Any] = {"budgetType": "COST", "limitAmount": str(amount), "limitUnit": "USD", "timeUnit": "MONTHLY"}
    if team:
        inputs["costFilters"] = [{"name": "TagKeyValue", "values": [f"user:{cv.TAG_TEAM}${team}"]}]
    return res("aws:budgets/budget:Budget", f"budget-{team or 'platform'}", inputs)


def iam_role_policy(statements: list[dict[str, Any]]) -> RecordedResource:
    return res(
        "aws:iam/rolePolicy:RolePolicy",
        "pol",
        {"role": "r", "policy": json.dumps({"Version": "2012-10-17", "Statement": statements})},
    )


def deployment(ns: str, privileged: bool) -> RecordedResource:
    return res(
        "kubernetes:apps/v1:Deployment",
        f"dep-{ns}",
        {
            "metadata": {"name": "app", "namespace": ns},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "app", "image": "x", "securityContext": {"privileged": privileged}}]}
                }
            },
        },
    )


def gcs(**changes: Any) -> RecordedResource:
    inputs = {
        "name": "acme-lake",
        "location": "US-CENTRAL1",
        "encryption": {"defaultKmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
        "publicAccessPrevention": "enforced",
        "uniformBucketLevelAccess": True,
        "versioning": {"enabled": True},
        "labels": {k: v.lower() for k, v in tags("dev").items()},
    }
    inputs.update(changes)
    return res("gcp:storage/bucket:Bucket", "lake", {k: v for k, v in inputs.items() if v is not None})


# ---- audit ---------------------------------------------------------------------------------------

TRAIL = "aws:cloudtrail/trail:Trail"


def data_selector(*arns: str, **extra_fields: Any) -> dict[str, Any]:
    fields = [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
        {"field": "resources.ARN", "startsWiths": [f"arn:aws:s3:::{a}/" for a in arns]},
    ]
    fields += [{"field": k, "equals": v} for k, v in extra_fields.items()]
    return {"name": "lake", "fieldSelectors": fields}


def trail(selectors: list[dict[str, Any]] | None = None, bucket: str = "acme-audit", **changes: Any) -> RecordedResource:
    inputs = {
        "name": "mlp-prod-audit",
        "s3BucketName": bucket,
        "kmsKeyId": KEY_ARN,
        "enableLogFileValidation": True,
        "isMultiRegionTrail": True,
        "advancedEventSelectors": selectors if selectors is not None else [data_selector("acme-lake")],
    }
    inputs.update(changes)
    return res(TRAIL, "trail", {k: v for k, v in inputs.items() if v is not None})


def audit_bucket(lock: bool = True, days: int = 400, object_lock: bool = True) -> list[RecordedResource]:
    b = res(BUCKET, "audit", {"bucket": "acme-audit", "objectLockEnabled": object_lock})
    out = [b]
    if lock:
        out.append(
            res(
                "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                "audit",
                {"bucket": "acme-audit", "rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": days}}},
                deps=[b.urn],
            )
        )
    return out


def gcp_audit(
    services: tuple[str, ...] = ("storage", "cloudkms", "secretmanager", "cloudsql"),
    types: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE"),
    exempt: list[str] | None = None,
) -> list[RecordedResource]:
    return [
        res(
            "gcp:projects/iAMAuditConfig:IAMAuditConfig",
            f"audit-{svc}",
            {
                "project": "acme-ml",
                "service": f"{svc}.googleapis.com",
                "auditLogConfigs": [{"logType": t, **({"exemptedMembers": exempt} if exempt else {})} for t in types],
            },
        )
        for svc in services
    ]


def gcp_log_bucket(locked: bool = True, days: int = 400) -> RecordedResource:
    return res(
        "gcp:logging/projectBucketConfig:ProjectBucketConfig",
        "audit-bucket",
        {"project": "acme-ml", "location": "us", "bucketId": "audit", "retentionDays": days, "locked": locked},
    )


@dataclass
class Case:
    policy: str
    env: str
    good: list[RecordedResource]
    bad: list[RecordedResource]
    good_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


def _with(env: str, *resources: RecordedResource) -> list[RecordedResource]:
    return [*providers(env), *resources]


MULTIKUEUE_CLUSTER = "kubernetes:kueue.x-k8s.io/v1beta2:MultiKueueCluster"
CLUSTER_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"


def fleet_workers(**gpus_by_cloud: int) -> list[RecordedResource]:
    """A fleet manager's MultiKueueClusters (one per cloud, research's accelerators on each) and research's ClusterQueue."""
    workers = [
        res(
            MULTIKUEUE_CLUSTER,
            f"mk-{cloud}",
            {
                "metadata": {
                    "name": cloud,
                    "annotations": {
                        cv.FLEET_CLOUD_ANNOTATION: cloud,
                        cv.FLEET_TEAM_ACCELERATORS_ANNOTATION: json.dumps({"research": n}),
                    },
                }
            },
        )
        for cloud, n in gpus_by_cloud.items()
    ]
    return [*workers, res(CLUSTER_QUEUE, "research", {"metadata": {"name": "research"}, "spec": {}})]


EKS = "aws:eks/cluster:Cluster"
EKS_GOOD = {
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
}
GKE = "gcp:container/cluster:Cluster"
GKE_GOOD = {
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/gke"},
    "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": True},
    "masterAuthorizedNetworksConfig": {"cidrBlocks": []},
    "resourceLabels": {k: v.lower() for k, v in tags("dev").items()},
}
RDS = "aws:rds/instance:Instance"
RDS_GOOD = {
    "instanceClass": "db.t4g.small",
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "publiclyAccessible": False,
    "deletionProtection": True,
}
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_GOOD = {"nodeType": "cache.t4g.small", "transitEncryptionEnabled": True, "atRestEncryptionEnabled": True}
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
HELM = "kubernetes:helm.sh/v3:Release"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def _patch(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


def cases() -> list[Case]:
    """One :class:`Case` per policy id (several for policies with several shapes)."""
    p = "prod"
    return [
        # ---- tagging
        Case(
            "mlp-tag-001",
            p,
            _with(p, res(BUCKET, "b", {"tags": {"owner": "x"}})),
            [*providers(p, aws_tags={k: v for k, v in tags(p).items() if k != cv.TAG_COST_CENTER}), res(BUCKET, "b", {})],
        ),
        Case(
            "mlp-tag-001",
            p,
            _with(p, res(BUCKET, "b", {"tags": {cv.TAG_TEAM: "llm"}})),
            _with(p, res(BUCKET, "b", {"tags": {cv.TAG_MANAGED_BY: "terraform"}})),
        ),
        Case("mlp-tag-002", "dev", _with("dev", gcs()), _with("dev", gcs(labels={"team": "platform"}))),
        Case("mlp-tag-003", p, _with(p, team_namespace()), _with(p, team_namespace(labels={cv.TEAM_LABEL: "research"}))),
        Case(
            "mlp-tag-004",
            p,
            _with(p, res(NODE_CLASS, "nc", {"spec": {"tags": tags(p)}})),
            _with(p, res(NODE_CLASS, "nc", {"spec": {"tags": {"owner": "x"}}})),
        ),
        # ---- security: S3
        Case(
            "mlp-sec-001",
            p,
            _with(p, *good_bucket()),
            _with(
                p,
                *good_bucket(
                    sse={"bucket": "acme-lake", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}
                ),
            ),
        ),
        Case("mlp-sec-001", p, _with(p, *good_bucket()), _with(p, *good_bucket(sse=None))),
        Case(
            "mlp-sec-001",
            p,
            _with(p, *good_bucket()),
            _with(
                p,
                *good_bucket(
                    sse={
                        "bucket": "acme-lake",
                        "rules": [
                            {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/aws/s3"}}
                        ],
                    }
                ),
            ),
        ),
        Case(
            "mlp-sec-002",
            p,
            _with(p, *good_bucket()),
            _with(
                p,
                *good_bucket(
                    pab={
                        "bucket": "acme-lake",
                        "blockPublicAcls": True,
                        "blockPublicPolicy": False,
                        "ignorePublicAcls": True,
                        "restrictPublicBuckets": True,
                    }
                ),
            ),
        ),
        Case("mlp-sec-002", p, _with(p, *good_bucket()), _with(p, *good_bucket(pab=None))),
        Case(
            "mlp-sec-003",
            p,
            _with(p, *good_bucket()),
            _with(
                p,
                *good_bucket(
                    policy={
                        "bucket": "acme-lake",
                        "policy": json.dumps(
                            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}
                        ),
                    }
                ),
            ),
        ),
        Case(
            "mlp-sec-004",
            p,
            _with(p, *good_bucket()),
            _with(p, *good_bucket(versioning={"bucket": "acme-lake", "versioningConfiguration": {"status": "Suspended"}})),
        ),
        # ---- security: KMS, EKS
        Case(
            "mlp-sec-005",
            p,
            _with(p, res("aws:kms/key:Key", "k", {"enableKeyRotation": True})),
            _with(p, res("aws:kms/key:Key", "k", {})),
        ),
        Case(
            "mlp-sec-006", p, _with(p, res(EKS, "c", EKS_GOOD)), _with(p, res(EKS, "c", _patch(EKS_GOOD, encryptionConfig=None)))
        ),
        Case(
            "mlp-sec-007",
            p,
            _with(p, res(EKS, "c", EKS_GOOD)),
            _with(p, res(EKS, "c", _patch(EKS_GOOD, enabledClusterLogTypes=["api"]))),
        ),
        Case(
            "mlp-sec-008",
            p,
            _with(p, res(EKS, "c", EKS_GOOD)),
            _with(
                p, res(EKS, "c", _patch(EKS_GOOD, vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}))
            ),
        ),
        Case(
            "mlp-sec-008",
            p,
            _with(p, res(EKS, "c", _patch(EKS_GOOD, vpcConfig={"endpointPublicAccess": False}))),
            _with(p, res(EKS, "c", _patch(EKS_GOOD, vpcConfig={"endpointPublicAccess": True}))),
        ),
        Case(
            "mlp-sec-006",
            "dev",
            _with("dev", res(GKE, "gke", GKE_GOOD)),
            _with("dev", res(GKE, "gke", _patch(GKE_GOOD, databaseEncryption={"state": "DECRYPTED"}))),
        ),
        Case(
            "mlp-sec-008",
            "dev",
            _with("dev", res(GKE, "gke", GKE_GOOD)),
            _with(
                "dev",
                res(
                    GKE,
                    "gke",
                    _patch(GKE_GOOD, privateClusterConfig={"enablePrivateNodes": True}, masterAuthorizedNetworksConfig=None),
                ),
            ),
        ),
        Case(
            "mlp-sec-008",
            "dev",
            _with(
                "dev",
                res(
                    GKE,
                    "gke",
                    _patch(
                        GKE_GOOD,
                        privateClusterConfig={},
                        masterAuthorizedNetworksConfig={"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]},
                    ),
                ),
            ),
            _with(
                "dev",
                res(
                    GKE,
                    "gke",
                    _patch(
                        GKE_GOOD,
                        privateClusterConfig={},
                        masterAuthorizedNetworksConfig={"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]},
                    ),
                ),
            ),
        ),
        # ---- security: databases, caches
        Case(
            "mlp-sec-009",
            p,
            _with(p, res(RDS, "db", RDS_GOOD)),
            _with(p, res(RDS, "db", _patch(RDS_GOOD, storageEncrypted=False))),
        ),
        Case(
            "mlp-sec-010",
            p,
            _with(p, res(RDS, "db", RDS_GOOD)),
            _with(p, res(RDS, "db", _patch(RDS_GOOD, publiclyAccessible=True))),
        ),
        Case(
            "mlp-sec-010",
            "dev",
            _with(
                "dev", res(CLOUD_SQL, "sql", {"settings": {"ipConfiguration": {"ipv4Enabled": False, "privateNetwork": "vpc"}}})
            ),
            _with("dev", res(CLOUD_SQL, "sql", {"settings": {"ipConfiguration": {"ipv4Enabled": True}}})),
        ),
        Case(
            "mlp-sec-011",
            p,
            _with(p, res(RDS, "db", RDS_GOOD)),
            _with(p, res(RDS, "db", _patch(RDS_GOOD, deletionProtection=False))),
        ),
        Case(
            "mlp-sec-011",
            p,
            _with(p, res(CLOUD_SQL, "sql", {"deletionProtection": True, "settings": {"deletionProtectionEnabled": True}})),
            _with(p, res(CLOUD_SQL, "sql", {"settings": {"deletionProtectionEnabled": False}})),
        ),
        Case(
            "mlp-sec-012",
            p,
            _with(p, res(CACHE, "redis", CACHE_GOOD)),
            _with(p, res(CACHE, "redis", _patch(CACHE_GOOD, transitEncryptionEnabled=False))),
        ),
        Case(
            "mlp-sec-012",
            p,
            _with(p, res(CACHE, "redis", CACHE_GOOD)),
            _with(p, res(CACHE, "redis", _patch(CACHE_GOOD, atRestEncryptionEnabled=False))),
        ),
        # ---- security: IAM
        Case(
            "mlp-sec-013",
            p,
            _with(p, iam_role_policy([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/team/*"}])),
            _with(p, iam_role_policy([{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/*"}])),
        ),
        Case(
            "mlp-sec-013",
            p,
            _with(p, iam_role_policy([{"Effect": "Deny", "Action": "*", "Resource": "*"}])),
            _with(p, iam_role_policy([{"Effect": "Allow", "Action": "kms:*", "Resource": KEY_ARN}])),
        ),
        Case(
            "mlp-sec-014",
            p,
            _with(
                p,
                iam_role_policy(
                    [{"Effect": "Allow", "Action": ["ec2:DescribeInstances", "s3:ListAllMyBuckets"], "Resource": "*"}]
                ),
            ),
            _with(p, iam_role_policy([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}])),
        ),
        # ---- security: IMDSv2
        Case(
            "mlp-sec-015",
            p,
            _with(p, res(LT, "lt", {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}})),
            _with(p, res(LT, "lt", {"metadataOptions": {"httpTokens": "optional"}})),
        ),
        Case(
            "mlp-sec-015",
            p,
            _with(p, res(NODE_CLASS, "nc", {"spec": {"metadataOptions": {"httpTokens": "required"}, "tags": tags(p)}})),
            _with(p, res(NODE_CLASS, "nc", {"spec": {"tags": tags(p)}})),
        ),
        Case("mlp-sec-015", p, _with(p, node_group()), _with(p, node_group(launch_template=False))),
        # ---- security: secrets in values / config maps
        Case(
            "mlp-sec-016",
            p,
            _with(
                p,
                res(
                    HELM,
                    "mlflow",
                    {
                        "chart": "mlflow",
                        "values": {
                            "auth": {"existingSecret": "mlflow-auth", "enabled": True},
                            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                            "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                        },
                    },
                ),
            ),
            _with(p, res(HELM, "mlflow", {"chart": "mlflow", "values": {"backendStore": {"postgres": {"password": "hunter2"}}}})),
        ),
        Case(
            "mlp-sec-016",
            p,
            _with(p, res(HELM, "x", {"values": {"extraEnv": [{"name": "LOG_LEVEL", "value": "info"}]}})),
            _with(p, res(HELM, "x", {"values": {"extraEnv": [{"name": "HF_TOKEN", "value": "hf_abc"}]}})),
        ),
        Case(
            "mlp-sec-016",
            p,
            _with(p, res("kubernetes:core/v1:ConfigMap", "cm", {"data": {"feature_store.yaml": "project: x"}})),
            _with(p, res("kubernetes:core/v1:ConfigMap", "cm", {"data": {"redis_password": "[secret]"}})),
        ),
        # ---- security: tenancy
        Case("mlp-sec-017", p, _with(p, team_namespace(), quota(), deny_all()), _with(p, team_namespace(), deny_all())),
        Case(
            "mlp-sec-018",
            p,
            _with(p, team_namespace(), quota(), deny_all()),
            _with(p, team_namespace(), quota(), deny_all(types=("Ingress",))),
        ),
        Case(
            "mlp-sec-019",
            p,
            _with(p, deployment(cv.NS_GPU_OPERATOR, True), deployment("research", False)),
            _with(p, deployment("research", True)),
        ),
        # ---- security: GCS
        Case("mlp-sec-020", "dev", _with("dev", gcs()), _with("dev", gcs(encryption=None))),
        Case("mlp-sec-021", "dev", _with("dev", gcs()), _with("dev", gcs(publicAccessPrevention="inherited"))),
        Case("mlp-sec-022", "dev", _with("dev", gcs()), _with("dev", gcs(uniformBucketLevelAccess=False))),
        Case("mlp-sec-023", "dev", _with("dev", gcs()), _with("dev", gcs(versioning={"enabled": False}))),
        Case("mlp-sec-023", "dev", _with("dev", gcs()), _with("dev", gcs(versioning=None))),
        # ---- security: audit
        Case("mlp-sec-024", p, _with(p, *good_bucket(), trail()), _with(p, *good_bucket())),
        Case(
            "mlp-sec-024",
            p,
            _with(p, *good_bucket(), *good_bucket("curated"), trail([data_selector("acme-lake", "acme-curated")])),
            _with(p, *good_bucket(), *good_bucket("curated"), trail()),
        ),
        Case(
            "mlp-sec-024",
            p,
            _with(p, *good_bucket(), trail()),
            _with(p, *good_bucket(), trail([data_selector("acme-lake", readOnly=["true"])])),
        ),
        Case("mlp-sec-024", p, _with(p, *good_bucket(), trail()), _with(p, *good_bucket(), trail(enableLogging=False))),
        Case(
            "mlp-sec-024",
            "staging",
            _with(
                "staging",
                *good_bucket(),
                trail(
                    eventSelectors=[
                        {
                            "readWriteType": "All",
                            "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::acme-lake/"]}],
                        }
                    ],
                    advancedEventSelectors=None,
                ),
            ),
            _with(
                "staging",
                *good_bucket(),
                trail(
                    eventSelectors=[
                        {
                            "readWriteType": "WriteOnly",
                            "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::acme-lake/"]}],
                        }
                    ],
                    advancedEventSelectors=None,
                ),
            ),
        ),
        Case("mlp-sec-025", "dev", _with("dev", trail()), _with("dev", trail(enableLogFileValidation=False))),
        Case("mlp-sec-025", "dev", _with("dev", trail()), _with("dev", trail(kmsKeyId=None))),
        Case(
            "mlp-sec-026", p, _with(p, *audit_bucket(), trail()), _with(p, *audit_bucket(object_lock=False, lock=False), trail())
        ),
        Case("mlp-sec-026", p, _with(p, *audit_bucket(), trail()), _with(p, *audit_bucket(days=30), trail())),
        Case("mlp-sec-026", p, _with(p, *audit_bucket(), trail()), _with(p, *audit_bucket(lock=False), trail())),
        Case("mlp-sec-026", p, _with(p, gcp_log_bucket()), _with(p, gcp_log_bucket(locked=False))),
        Case(
            "mlp-sec-027",
            p,
            _with(p, gcs(), *gcp_audit()),
            _with(p, gcs(), *gcp_audit(services=("storage", "cloudkms", "secretmanager"))),
        ),
        Case("mlp-sec-027", p, _with(p, gcs(), *gcp_audit()), _with(p, gcs(), *gcp_audit(types=("ADMIN_READ", "DATA_WRITE")))),
        Case("mlp-sec-027", p, _with(p, gcs(), *gcp_audit()), _with(p, gcs(), *gcp_audit(exempt=["user:ops@acme.com"]))),
        # ---- cost
        Case(
            "mlp-cost-001",
            "dev",
            _with("dev", node_pool(types=["g6.xlarge", "g6.2xlarge"])),
            _with("dev", node_pool(types=["g6.xlarge", "p5.48xlarge"])),
        ),
        Case("mlp-cost-001", "dev", _with("dev", gke_pool()), _with("dev", gke_pool(machine="a3-highgpu-8g"))),
        Case(
            "mlp-cost-001",
            "dev",
            _with("dev", node_group(types=["g6e.xlarge"]), res(LT, "lt", {"instanceType": "g6.xlarge"})),
            _with("dev", node_group(types=["p5.48xlarge"])),
        ),
        Case(
            "mlp-cost-001",
            "dev",
            _with("dev", node_pool(types=["g6.xlarge"])),
            _with("dev", res(LT, "lt", {"instanceType": "p5e.48xlarge"})),
        ),
        Case("mlp-cost-002", p, _with(p, node_pool(gpu_limit=64)), _with(p, node_pool(gpu_limit=65))),
        Case(
            "mlp-cost-002",
            p,
            _with(p, node_group(types=["g6e.48xlarge"], max_size=8)),
            _with(p, node_group(types=["g6e.48xlarge"], max_size=9)),
        ),
        Case(
            "mlp-cost-003",
            "dev",
            _with("dev", node_pool("a", types=["g6.xlarge"], gpu_limit=8), node_pool("b", types=["g6.xlarge"], gpu_limit=8)),
            _with("dev", node_pool("a", types=["g6.xlarge"], gpu_limit=8), node_pool("b", types=["g6.xlarge"], gpu_limit="9")),
        ),
        Case(
            "mlp-cost-004",
            "staging",
            _with(
                "staging",
                node_pool(capacity=["spot", "on-demand"]),
                node_pool("serve", capacity=["on-demand"], purpose="serving"),
            ),
            _with("staging", node_pool(capacity=["on-demand"])),
        ),
        Case("mlp-cost-004", "dev", _with("dev", gke_pool()), _with("dev", gke_pool(spot=False))),
        Case("mlp-cost-005", p, _with(p, node_pool()), _with(p, node_pool(limits={}))),
        Case("mlp-cost-005", p, _with(p, node_pool()), _with(p, node_pool(limits={"cpu": "100"}))),
        Case(
            "mlp-cost-006",
            "dev",
            _with("dev", node_group(min_size=0), node_group("cpu", types=["m6i.large"], min_size=2)),
            _with("dev", node_group(min_size=1)),
        ),
        Case("mlp-cost-006", "dev", _with("dev", node_pool(min_nodes=0)), _with("dev", node_pool(min_nodes=1))),
        Case("mlp-cost-007", p, _with(p, team_namespace(), budget("research")), _with(p, team_namespace(), budget("recsys"))),
        Case(
            "mlp-cost-008",
            p,
            _with(p, budget(None, 100_000), node_pool(types=["p4d.24xlarge"], gpu_limit=16)),
            _with(p, budget(None, 10_000), node_pool(types=["p4d.24xlarge"], gpu_limit=16)),
        ),
        Case(
            "mlp-cost-008",
            p,
            _with(p, node_pool(types=["p4d.24xlarge"], gpu_limit=16)),
            _with(p, node_pool(types=["p4d.24xlarge"], gpu_limit=16)),
            good_overrides={"mlp-cost-008": {"monthlyBudgetUsd": 100_000}},
            bad_overrides={"mlp-cost-008": {"monthlyBudgetUsd": 10_000}},
        ),
        # staging caps the burst share at 0.5: 4 of 12 on a cloud worker is fine, 6 of 8 is not
        Case(
            "mlp-cost-009",
            "staging",
            _with("staging", *fleet_workers(existing=8, gcp=4)),
            _with("staging", *fleet_workers(existing=2, aws=6)),
        ),
    ]
