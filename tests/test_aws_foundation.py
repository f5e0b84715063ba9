"""The AWS foundation through the offline plan: network, keys, data lake, replication, EKS."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from catalog import conventions as cv
from infra import config
from infra.layers import aws_foundation
from infra.plan import engine, mocks
from infra.plan.recorder import RecordedResource
from tests.helpers import ROOT, raw_config, run_cli

AWS_STACKS = ["dev", "staging", "prod"]
BUCKET = "aws:s3/bucket:Bucket"
AZ_LITERAL = re.compile(
    r"\b(us|eu|ap|sa|ca|me|af|il|mx)-(north|south|east|west|central|northeast|southeast|northwest|southwest)-[0-9][a-f]\b"
)
AMI_LITERAL = re.compile(r"\bami-[0-9a-f]{8,17}\b")

PlanOf = Callable[[str], engine.Plan]


# ---- helpers ----------------------------------------------------------------------------------


def lake_buckets(plan: engine.Plan, role: str | None = None) -> list[RecordedResource]:
    out = [b for b in plan.by_type(BUCKET) if cv.TAG_LAKE_ROLE in (b.inputs.get("tags") or {})]
    return [b for b in out if role is None or b.inputs["tags"][cv.TAG_LAKE_ROLE] == role]


def config_of(plan: engine.Plan, bucket: RecordedResource, type_: str) -> RecordedResource:
    """The one ``type_`` resource configuring ``bucket`` (matched by bucket name)."""
    found = [r for r in plan.by_type(type_) if r.inputs.get("bucket") == bucket.inputs["bucket"]]
    assert len(found) == 1, f"{bucket.inputs['bucket']}: {len(found)} x {type_}"
    return found[0]


def region_of(plan: engine.Plan, res: RecordedResource) -> str:
    prov = plan.provider_of(res)
    assert prov is not None, f"{res.urn} uses the default provider"
    return prov.inputs["region"]


def key_arns(plan: engine.Plan) -> tuple[str, str | None]:
    return plan.outputs["kmsKeyArn"], plan.outputs.get("drKmsKeyArn")


def only(plan: engine.Plan, type_: str, name: str | None = None) -> RecordedResource:
    found = [r for r in plan.by_type(type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


# ---- data lake --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_lake_bucket_is_encrypted_private_versioned_logged(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    key, dr_key = key_arns(plan)
    cfg = plan.config
    zone_buckets = lake_buckets(plan, "primary") + lake_buckets(plan, "replica")
    assert sorted(b.inputs["tags"][cv.TAG_LAKE_ZONE] for b in lake_buckets(plan, "primary")) == sorted(cfg.data_lake.zones)
    logs_by_region = {region_of(plan, b): b for b in lake_buckets(plan, "logs")}
    for bucket in zone_buckets:
        name = bucket.inputs["bucket"]
        replica = bucket.inputs["tags"][cv.TAG_LAKE_ROLE] == "replica"
        want_key = dr_key if replica else key
        assert want_key, name
        assert bucket.inputs["tags"][cv.TAG_ENVIRONMENT] == stack and bucket.inputs["tags"][cv.TAG_PROJECT] == cv.PROJECT

        [rule] = config_of(
            plan, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ).inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": want_key}, name
        assert rule["bucketKeyEnabled"] is True
        assert (
            config_of(plan, bucket, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"]
            == "Enabled"
        )
        block = config_of(plan, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
        assert all(
            block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        own = config_of(plan, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
        assert own["rule"]["objectOwnership"] == "BucketOwnerEnforced"

        policy = json.loads(config_of(plan, bucket, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
        arn = f"arn:aws:s3:::{name}"
        denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        tls = [s for s in denies if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert tls and set(tls[0]["Resource"]) == {arn, f"{arn}/*"} and tls[0]["Action"] == "s3:*"
        conds = {json.dumps(s["Condition"], sort_keys=True) for s in denies if s["Action"] == "s3:PutObject"}
        assert json.dumps({"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}, sort_keys=True) in conds
        assert (
            json.dumps({"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": want_key}}, sort_keys=True)
            in conds
        )
        assert not [s for s in policy["Statement"] if s["Effect"] == "Allow"], "zone buckets grant nothing by policy"

        logging = config_of(plan, bucket, "aws:s3/bucketLogging:BucketLogging").inputs
        assert logging["targetBucket"] == logs_by_region[region_of(plan, bucket)].inputs["bucket"]
        assert logging["targetPrefix"] == f"{bucket.inputs['tags'][cv.TAG_LAKE_ZONE]}/"
        assert region_of(plan, bucket) == (cfg.dr_region if replica else cfg.region)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_lifecycle_rules_follow_the_config(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    lc = plan.config.data_lake.lifecycle
    zone_buckets = lake_buckets(plan, "primary") + lake_buckets(plan, "replica")
    copies = 2 if plan.config.dr.enabled else 1
    assert sorted(b.inputs["tags"][cv.TAG_LAKE_ZONE] for b in zone_buckets) == sorted(list(plan.config.data_lake.zones) * copies)
    for bucket in zone_buckets:
        rules = {
            r["id"]: r
            for r in config_of(plan, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
        }
        assert all(r["status"] == "Enabled" for r in rules.values())
        house = rules["housekeeping"]
        assert house["noncurrentVersionExpiration"] == {"noncurrentDays": lc.noncurrent_expiry_days}
        assert house["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": lc.abort_multipart_days}
        if bucket.inputs["tags"][cv.TAG_LAKE_ZONE] == "raw":
            assert rules["tiering"]["transitions"] == [
                {"days": lc.raw_infrequent_access_days, "storageClass": "STANDARD_IA"},
                {"days": lc.raw_glacier_ir_days, "storageClass": "GLACIER_IR"},
            ]
        else:
            assert "tiering" not in rules


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_access_log_buckets_accept_only_our_lake_logs(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    logs = lake_buckets(plan, "logs")
    assert len(logs) == (2 if plan.config.dr_region else 1)
    for log in logs:
        region = region_of(plan, log)
        # S3 delivers server access logs only to SSE-S3 buckets (a documented AWS limit).
        [rule] = config_of(
            plan, log, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ).inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        assert (
            config_of(plan, log, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"]
            == "Enabled"
        )
        assert (
            config_of(plan, log, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"]["objectOwnership"]
            == "BucketOwnerEnforced"
        )
        [expire] = config_of(plan, log, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
        assert expire["status"] == "Enabled" and expire["expiration"]["days"] >= 90
        policy = json.loads(config_of(plan, log, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
        [allow] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
        assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == mocks.ACCOUNT_ID
        sources = {
            f"arn:aws:s3:::{b.inputs['bucket']}" for b in lake_buckets(plan) if region_of(plan, b) == region and b is not log
        }
        assert set(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == sources


def test_lake_zones_and_lifecycle_come_from_the_config() -> None:
    """Non-default zones and day counts reach every bucket (the stacks only use the defaults)."""
    raw = raw_config("prod")
    zones = ["raw", "curated", "features", "models", "scratch"]
    days = {"rawInfrequentAccessDays": 45, "rawGlacierIrDays": 200, "noncurrentExpiryDays": 14, "abortMultipartDays": 3}
    raw["dataLake"] = {**raw["dataLake"], "zones": zones, "lifecycle": days}
    cfg = config.parse(raw)
    resources, _ = engine.run_program("lake", raw, [], program=lambda: aws_foundation.build(cfg))
    buckets = [r for r in resources if r.type == BUCKET and cv.TAG_LAKE_ROLE in (r.inputs.get("tags") or {})]
    by_role: dict[str, list[str]] = {}
    for b in buckets:
        by_role.setdefault(b.inputs["tags"][cv.TAG_LAKE_ROLE], []).append(b.inputs["tags"][cv.TAG_LAKE_ZONE])
    assert sorted(by_role["primary"]) == sorted(by_role["replica"]) == sorted(zones)
    lifecycles = {
        r.inputs["bucket"]: {rule["id"]: rule for rule in r.inputs["rules"]}
        for r in resources
        if r.type == "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    }
    for b in buckets:
        if b.inputs["tags"][cv.TAG_LAKE_ROLE] == "logs":
            continue
        rules = lifecycles[b.inputs["bucket"]]
        assert rules["housekeeping"]["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
        assert rules["housekeeping"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 3}
        if b.inputs["tags"][cv.TAG_LAKE_ZONE] == "raw":
            assert rules["tiering"]["transitions"] == [
                {"days": 45, "storageClass": "STANDARD_IA"},
                {"days": 200, "storageClass": "GLACIER_IR"},
            ]
        else:
            assert "tiering" not in rules


def _deprecated_inputs(args_cls: type) -> set[str]:
    """Input names the SDK marks deprecated on ``args_cls`` (``pulumi_aws._utilities.deprecated``)."""
    return {
        vars(prop.fget)["_pulumi_name"]  # set on the getter by the SDK's @pulumi.getter
        for prop in vars(args_cls).values()
        if isinstance(prop, property) and prop.fget is not None and "_pulumi_deprecated_callable" in vars(prop.fget)
    }


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_lake_uses_current_s3_resources_not_deprecated_v2_classes_or_inline_settings(stack: str, plan_of: PlanOf) -> None:
    import inspect

    import pulumi_aws as aws

    plan = plan_of(stack)
    s3_types = {r.type for r in plan.resources if r.type.startswith("aws:s3/")}
    assert BUCKET in s3_types
    for type_ in s3_types:
        cls = getattr(aws.s3, type_.rsplit(":", 1)[1])
        assert cls.pulumi_type == type_
        # pulumi-aws marks deprecated resource classes (BucketV2, BucketLoggingV2...) in the class body.
        head = inspect.getsource(cls).split("    def ", 1)[0]
        assert "deprecated" not in head, f"{type_} is deprecated in pulumi-aws"
    deprecated = _deprecated_inputs(aws.s3.BucketArgs)
    assert {"versioning", "serverSideEncryptionConfiguration", "lifecycleRules"} <= deprecated  # the SDK still marks them
    for bucket in plan.by_type(BUCKET):
        assert not deprecated & set(bucket.inputs), f"{bucket.urn} uses inline {sorted(deprecated & set(bucket.inputs))}"


def test_prod_replicates_every_zone_to_the_dr_region_with_the_dr_key(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    _, dr_key = key_arns(plan)
    assert dr_key and region_of(plan, only(plan, "aws:kms/key:Key", "platform-key-dr")) == plan.config.dr_region
    replicas = {b.inputs["tags"][cv.TAG_LAKE_ZONE]: b for b in lake_buckets(plan, "replica")}
    assert set(replicas) == set(plan.config.data_lake.zones)
    for bucket in lake_buckets(plan, "primary"):
        zone = bucket.inputs["tags"][cv.TAG_LAKE_ZONE]
        [rule] = config_of(plan, bucket, "aws:s3/bucketReplicationConfig:BucketReplicationConfig").inputs["rules"]
        dest = rule["destination"]
        assert dest["bucket"] == f"arn:aws:s3:::{replicas[zone].inputs['bucket']}"
        assert region_of(plan, replicas[zone]) == "us-west-2" == plan.config.dr_region
        assert dest["encryptionConfiguration"] == {"replicaKmsKeyId": dr_key}
        assert rule["status"] == "Enabled" and rule["deleteMarkerReplication"] == {"status": "Enabled"}
        assert rule["sourceSelectionCriteria"]["sseKmsEncryptedObjects"]["status"] == "Enabled"
        assert dest["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
        assert dest["metrics"]["status"] == "Enabled"


def test_replication_role_is_least_privilege(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    key, dr_key = key_arns(plan)
    role = only(plan, "aws:iam/role:Role", "lake-replication")
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == mocks.ACCOUNT_ID
    policy = json.loads(only(plan, "aws:iam/rolePolicy:RolePolicy", "lake-replication").inputs["policy"])
    sources = {f"arn:aws:s3:::{b.inputs['bucket']}" for b in lake_buckets(plan, "primary")}
    replicas = {f"arn:aws:s3:::{b.inputs['bucket']}" for b in lake_buckets(plan, "replica")}
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    for stmt in policy["Statement"]:
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert "*" not in resources and not [a for a in actions if a.endswith("*")], stmt["Sid"]
    assert set(by_sid["ReadSourceConfig"]["Resource"]) == sources
    assert set(by_sid["ReadSourceVersions"]["Resource"]) == {f"{s}/*" for s in sources}
    assert set(by_sid["WriteReplicas"]["Resource"]) == {f"{r}/*" for r in replicas}
    assert by_sid["DecryptSource"]["Resource"] == key and by_sid["DecryptSource"]["Action"] == "kms:Decrypt"
    assert by_sid["EncryptReplica"]["Resource"] == dr_key
    assert by_sid["EncryptReplica"]["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-west-2.amazonaws.com"
    writes = {a for s in policy["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not {"s3:PutObject", "s3:DeleteObject", "s3:GetObject"} & writes


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_no_replication_without_dr(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    assert not plan.config.dr.enabled
    assert not plan.by_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert not lake_buckets(plan, "replica")
    assert key_arns(plan)[1] is None


# ---- protection -------------------------------------------------------------------------------


def test_prod_stateful_resources_are_protected_and_retained(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    stateful = plan.by_type(BUCKET) + plan.by_type("aws:kms/key:Key")
    lake = lake_buckets(plan)
    assert len(lake) == 2 * len(plan.config.data_lake.zones) + 2
    assert len(plan.by_type("aws:kms/key:Key")) >= 2
    for res in stateful:
        assert res.protect and res.retain_on_delete, res.urn
    for bucket in plan.by_type(BUCKET):
        assert bucket.inputs.get("forceDestroy") in (False, None), bucket.urn
    cluster = only(plan, "aws:eks/cluster:Cluster")
    assert cluster.protect and cluster.inputs["deletionProtection"] is True


def test_dev_is_not_protected(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    stateful = lake_buckets(plan) + plan.by_type("aws:kms/key:Key")
    assert len(stateful) == len(plan.config.data_lake.zones) + 1 + 1  # zones + access logs + the key
    for res in stateful:
        assert not res.protect and not res.retain_on_delete, res.urn


# ---- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kms_key_rotates_and_admits_only_the_account_and_its_services(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    key = only(plan, "aws:kms/key:Key", "platform-key")
    assert key.inputs["enableKeyRotation"] is True
    alias = only(plan, "aws:kms/alias:Alias", "platform-key")
    assert alias.inputs["name"] == f"alias/ml-platform-{stack}"
    policy = json.loads(key.inputs["policy"])
    root = f"arn:aws:iam::{mocks.ACCOUNT_ID}:root"
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    admin = by_sid["AccountAdministers"]
    assert admin["Principal"] == {"AWS": root}
    assert "kms:*" not in admin["Action"] and "kms:Decrypt" not in admin["Action"] and "kms:CreateGrant" not in admin["Action"]
    use = by_sid["AccountUsesViaServices"]
    services = set(use["Condition"]["StringEquals"]["kms:ViaService"])
    assert {f"{s}.{plan.config.region}.amazonaws.com" for s in ("s3", "eks", "rds", "elasticache", "secretsmanager")} <= services
    assert use["Condition"]["StringEquals"]["kms:CallerAccount"] == mocks.ACCOUNT_ID
    assert by_sid["CloudWatchLogs"]["Principal"] == {"Service": f"logs.{plan.config.region}.amazonaws.com"}
    for stmt in policy["Statement"]:
        assert stmt["Effect"] == "Allow" and stmt["Principal"] != "*" and stmt["Principal"] != {"AWS": "*"}


def test_every_key_rotates_and_is_scoped_to_its_own_region(plan_of: PlanOf) -> None:
    """The DR key as well: rotation, its own alias, and a policy naming the DR region's services."""
    plan = plan_of("prod")
    keys = plan.by_type("aws:kms/key:Key")
    assert {k.name for k in keys} == {"platform-key", "platform-key-dr"}
    aliases = {a.name: a for a in plan.by_type("aws:kms/alias:Alias")}
    for key in keys:
        region = region_of(plan, key)
        assert region == (plan.config.dr_region if key.name.endswith("-dr") else plan.config.region)
        assert key.inputs["enableKeyRotation"] is True and key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
        alias = aliases[key.name]
        assert alias.inputs["name"] == "alias/ml-platform-prod" + ("-dr" if key.name.endswith("-dr") else "")
        assert region_of(plan, alias) == region and alias.inputs["targetKeyId"]
        by_sid = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        assert by_sid["AccountAdministers"]["Principal"] == {"AWS": f"arn:aws:iam::{mocks.ACCOUNT_ID}:root"}
        via = by_sid["AccountUsesViaServices"]["Condition"]["StringEquals"]["kms:ViaService"]
        assert f"s3.{region}.amazonaws.com" in via and all(v.endswith(f".{region}.amazonaws.com") for v in via)
        assert by_sid["CloudWatchLogs"]["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}


# ---- network ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "nats"), [("dev", 1), ("staging", 3), ("prod", 3)])
def test_vpc_spans_three_zones_from_the_invoke(stack: str, nats: int, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    cfg = plan.config
    subnets = plan.by_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    public = [s for s in subnets if "kubernetes.io/role/elb" in s.inputs["tags"]]
    assert len(private) == len(public) == cfg.network.az_count == 3
    expected = [f"{cfg.region}{letter}" for letter in "abc"]  # the region's first three zones, as EC2 names them
    assert sorted(s.inputs["availabilityZone"] for s in private) == expected
    assert sorted(s.inputs["availabilityZone"] for s in public) == expected
    for s in private:
        assert s.inputs["tags"][cv.KARPENTER_DISCOVERY_TAG] == cfg.cluster_name
        assert s.inputs.get("mapPublicIpOnLaunch") in (None, False)
    assert len(plan.by_type("aws:ec2/natGateway:NatGateway")) == nats
    endpoint = only(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == f"com.amazonaws.{cfg.region}.s3" and endpoint.inputs["vpcEndpointType"] == "Gateway"
    private_rts = [r for r in plan.by_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    assert len(private_rts) == 3
    assert all(rt.inputs["routes"][0].get("natGatewayId") for rt in private_rts)
    assert len(set(endpoint.inputs["routeTableIds"])) == 4  # three private + the public one


@pytest.mark.parametrize(
    ("env", "override", "expected"),
    [
        ("dev", None, "single"),
        ("staging", None, "perAz"),
        ("prod", None, "perAz"),
        ("prod", "single", "single"),
        ("dev", "perAz", "perAz"),
    ],
)
def test_nat_mode_defaults_by_environment_and_config_overrides(env: str, override: str | None, expected: str) -> None:
    raw: dict[str, Any] = {"cloud": "aws", "environment": env, "region": "us-east-1"}
    if override:
        raw["network"] = {"natGateways": override}
    assert aws_foundation.nat_mode(config.parse(raw)) == expected


def test_no_az_or_ami_literals_in_sources_stacks_or_plans(plan_of: PlanOf) -> None:
    files = [
        *(ROOT / "components" / "aws").glob("*.py"),
        *(ROOT / "infra" / "layers").glob("aws*.py"),
        *(ROOT / "stacks").glob("*.yaml"),
    ]
    for path in files:
        text = path.read_text()
        assert not AZ_LITERAL.search(text), f"AZ literal in {path}"
        assert not AMI_LITERAL.search(text), f"AMI literal in {path}"
    for stack in AWS_STACKS:
        assert not AMI_LITERAL.search(json.dumps(plan_of(stack).to_json())), stack


def test_another_region_gets_its_own_zones(write_stack: Callable[..., Path]) -> None:
    path = write_stack("dev", "euc", region="eu-central-1")
    plan = engine.plan("euc", stack_path=path)
    zones = sorted({s.inputs["availabilityZone"] for s in plan.by_type("aws:ec2/subnet:Subnet")})
    assert zones == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
    assert all(b.inputs["bucket"].endswith("-eu-central-1") for b in lake_buckets(plan))


# ---- EKS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_eks_encrypts_secrets_logs_audit_and_keeps_a_private_endpoint(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    key, _ = key_arns(plan)
    cluster = only(plan, "aws:eks/cluster:Cluster")
    inputs = cluster.inputs
    assert inputs["name"] == plan.config.cluster_name and inputs["version"] == plan.config.cluster.version
    assert inputs["encryptionConfig"] == {"provider": {"keyArn": key}, "resources": ["secrets"]}
    assert {"api", "audit", "authenticator"} <= set(inputs["enabledClusterLogTypes"])
    vpc = inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    cidrs = plan.config.cluster.public_access_cidrs
    assert vpc["endpointPublicAccess"] is bool(cidrs)
    assert vpc.get("publicAccessCidrs") == (cidrs or None)
    assert inputs["accessConfig"]["authenticationMode"] == "API"
    private = {s.urn for s in plan.by_type("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in s.inputs["tags"]}
    assert len(vpc["subnetIds"]) == len(private)
    log_group = only(plan, "aws:cloudwatch/logGroup:LogGroup", "eks-cluster")
    assert log_group.inputs["name"] == f"/aws/eks/{plan.config.cluster_name}/cluster" and log_group.inputs["kmsKeyId"] == key
    assert log_group.urn in cluster.dependencies


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_access_entries_and_irsa_replace_aws_auth_and_pod_identity(stack: str, plan_of: PlanOf) -> None:
    """API-only authentication (no aws-auth ConfigMap), IRSA chosen over Pod Identity (docs/aws.md)."""
    plan = plan_of(stack)
    access = only(plan, "aws:eks/cluster:Cluster").inputs["accessConfig"]
    assert access["authenticationMode"] == "API"  # not API_AND_CONFIG_MAP: aws-auth is ignored by EKS
    config_maps = [r for r in plan.resources if r.type == "kubernetes:core/v1:ConfigMap"]
    assert not [r for r in config_maps if (r.inputs.get("metadata") or {}).get("name") == "aws-auth"]
    assert only(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert not plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert "eks-pod-identity-agent" not in {a.inputs["addonName"] for a in plan.by_type("aws:eks/addon:Addon")}


def test_prod_public_endpoint_is_limited_to_the_configured_cidrs(plan_of: PlanOf) -> None:
    vpc = only(plan_of("prod"), "aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and not vpc.get("publicAccessCidrs")  # deployed from the VPC
    raw = raw_config("prod")
    raw["cluster"] |= {"deployFrom": "publicCidrs", "publicAccessCidrs": ["52.10.20.0/28"]}
    resources, _ = engine.run_program("public", raw, [])
    [cluster] = [r for r in resources if r.type == "aws:eks/cluster:Cluster"]
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["52.10.20.0/28"]
    assert vpc["endpointPrivateAccess"] is True


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_core_addons_and_irsa_for_the_ebs_driver(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    addons = {a.inputs["addonName"]: a for a in plan.by_type("aws:eks/addon:Addon")}
    assert {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} <= set(addons)
    oidc = only(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = oidc.inputs["url"]  # the cluster's issuer (from its identity output)
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"] and issuer.startswith(f"https://oidc.eks.{plan.config.region}.")
    host = issuer.removeprefix("https://")
    roles = {}
    for role in plan.by_type("aws:iam/role:Role"):
        for stmt in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            sub = stmt.get("Condition", {}).get("StringEquals", {}).get(f"{host}:sub")
            if sub:
                roles[sub] = role
    ebs = roles["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    assert (
        addons["aws-ebs-csi-driver"]
        .inputs["serviceAccountRoleArn"]
        .startswith(f"arn:aws:iam::{mocks.ACCOUNT_ID}:role/{ebs.name}-")
    )
    cni = roles["system:serviceaccount:kube-system:aws-node"]
    assert addons["vpc-cni"].inputs["serviceAccountRoleArn"].startswith(f"arn:aws:iam::{mocks.ACCOUNT_ID}:role/{cni.name}-")
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"])["enableNetworkPolicy"] == "true"
    nodes = only(plan, "aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert nodes.urn in addons["coredns"].dependencies  # CoreDNS needs nodes to become ready
    assert addons["vpc-cni"].urn in nodes.dependencies  # nodes need the CNI


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_system_node_group_is_on_demand_imdsv2_encrypted(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    key, _ = key_arns(plan)
    sys_cfg = plan.config.cluster.system_nodes
    nodes = only(plan, "aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert nodes.inputs["capacityType"] == "ON_DEMAND"
    ami_type = nodes.inputs["amiType"]
    assert ami_type.startswith("AL2023_") and not any(w in ami_type for w in ("NVIDIA", "NEURON", "GPU"))  # CPU nodes
    assert nodes.inputs["instanceTypes"] == [sys_cfg.instance_type]
    assert (
        nodes.inputs["scalingConfig"]["minSize"] == sys_cfg.min_nodes
        and nodes.inputs["scalingConfig"]["maxSize"] == sys_cfg.max_nodes
    )
    assert "amiId" not in json.dumps(nodes.inputs)
    lt = only(plan, "aws:ec2/launchTemplate:LaunchTemplate", "eks-system")
    assert nodes.inputs["launchTemplate"]["id"].startswith("eks-system")
    meta = lt.inputs["metadataOptions"]
    assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] in (1, 2)
    [disk] = lt.inputs["blockDeviceMappings"]
    assert disk["ebs"]["volumeType"] == "gp3" and disk["ebs"]["encrypted"] == "true" and disk["ebs"]["kmsKeyId"] == key
    assert disk["ebs"]["volumeSize"] == sys_cfg.disk_gb


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kubeconfig_is_a_secret_and_feeds_the_kubernetes_provider(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    assert plan.outputs["kubeconfig"] == "[secret]"
    [k8s_provider] = [p for p in plan.by_type("pulumi:providers:kubernetes")]
    assert k8s_provider.inputs["kubeconfig"] == "[secret]"
    for res in plan.resources:
        if res.type.startswith("kubernetes:"):
            assert res.provider_urn == k8s_provider.urn, res.urn


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_stack_outputs(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    out = plan.outputs
    assert out["clusterName"] == plan.config.cluster_name and out["region"] == plan.config.region
    buckets = {b.inputs["tags"][cv.TAG_LAKE_ZONE]: b.inputs["bucket"] for b in lake_buckets(plan, "primary")}
    assert out["lakeBuckets"] == buckets
    assert out["kmsKeyArn"].startswith(f"arn:aws:kms:{plan.config.region}:")
    if plan.config.dr.enabled:
        assert out["drKmsKeyArn"].startswith(f"arn:aws:kms:{plan.config.dr_region}:")
        assert set(out["lakeReplicaBuckets"]) == set(buckets)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_resource_has_an_explicit_provider_and_a_component_parent(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    for res in plan.resources:
        if res.type.startswith("aws:") and res.custom:
            assert res.provider and plan.provider_of(res) is not None, res.urn
            assert "pulumi:pulumi:Stack" not in res.parent, f"{res.urn} is not a child of a component"


# ---- what the later steps get -----------------------------------------------------------------


def test_foundation_hands_the_cloud_layer_buckets_cluster_and_readiness() -> None:
    raw = raw_config("prod")
    seen: dict[str, Any] = {}

    def program() -> None:
        foundation = aws_foundation.build(config.parse(raw))
        layer = foundation.cloud_layer()
        seen["layer"], seen["foundation"] = layer, foundation
        pulumi.Output.from_input(layer.buckets["raw"]).apply(lambda v: seen.setdefault("raw", v))
        foundation.cluster.oidc_issuer.apply(lambda v: seen.setdefault("issuer", v))

    engine.run_program("prod", raw, [], program=program)
    layer, foundation = seen["layer"], seen["foundation"]
    assert set(layer.buckets) == set(config.parse(raw).data_lake.zones)
    assert seen["raw"].startswith("mlp-prod-raw-")
    assert not seen["issuer"].startswith("https://") and seen["issuer"].startswith("oidc.eks.us-east-1.amazonaws.com/id/")
    assert layer.k8s_provider is foundation.k8s_provider and layer.region == "us-east-1"
    assert foundation.cluster.system_node_group in layer.depends_on
    assert {a for a in foundation.cluster.addons.values()} <= set(layer.depends_on)
    assert foundation.dr_provider is not None and foundation.dr_key is not None
    assert set(foundation.lake.replica_buckets) == set(layer.buckets)


# ---- bad config -------------------------------------------------------------------------------


def _write(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    mutate(doc["config"])
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize(
    ("mutate", "key", "value", "allowed"),
    [
        (
            lambda c: c["ml-platform:dr"].__setitem__("region", c["ml-platform:region"]),
            "ml-platform:dr.region",
            "'us-east-1'",
            "must differ from region",
        ),
        (
            lambda c: c["ml-platform:dataLake"].__setitem__("lifecycle", {"noncurrentExpiryDays": -5}),
            "ml-platform:dataLake.lifecycle.noncurrentExpiryDays",
            "-5",
            "greater than or equal to 1",
        ),
    ],
    ids=["dr-region-equals-region", "negative-lifecycle-days"],
)
def test_cli_rejects_bad_foundation_config_with_exit_2(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str, value: str, allowed: str
) -> None:
    _write(tmp_path, mutate)
    out = run_cli("plan", "--stack", "bad", "--stacks-dir", str(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    message = " ".join(out.stderr.split())  # the report wraps long lines
    assert key in message and value in message and allowed in message, message
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda r: r["dataLake"].__setitem__("forceDestroy", True), "ml-platform:dataLake.forceDestroy"),
        (
            lambda r: r["dataLake"].__setitem__("zones", ["raw", "access-logs", "models", "features"]),
            "ml-platform:dataLake.zones",
        ),
        (lambda r: r["cluster"].__setitem__("adminRoleArns", ["admin"]), "ml-platform:cluster.adminRoleArns"),
        (lambda r: r["cluster"].__setitem__("publicAccessCidrs", ["0.0.0.0/0"]), "ml-platform:cluster.publicAccessCidrs"),
        (
            lambda r: r["dataLake"].__setitem__("lifecycle", {"rawInfrequentAccessDays": 10}),
            "ml-platform:dataLake.lifecycle.rawInfrequentAccessDays",
        ),
        (lambda r: r["network"].__setitem__("cidr", "10.0.0.0/33"), "ml-platform:network.cidr"),
        *(
            (
                lambda r, k=k: r["dataLake"].__setitem__("lifecycle", {k: -1}),
                f"ml-platform:dataLake.lifecycle.{k}",
            )
            for k in ("rawInfrequentAccessDays", "rawGlacierIrDays", "noncurrentExpiryDays", "abortMultipartDays")
        ),
    ],
    ids=[
        "force-destroy-in-prod",
        "reserved-zone",
        "bad-admin-arn",
        "open-endpoint",
        "ia-too-early",
        "bad-cidr",
        "negative-ia-days",
        "negative-glacier-days",
        "negative-noncurrent-days",
        "negative-multipart-days",
    ],
)
def test_bad_foundation_config_names_the_key(mutate: Callable[[dict[str, Any]], None], key: str) -> None:
    raw = raw_config("prod")
    mutate(raw)
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert key in [path for path, _ in err.value.problems]


def test_admin_role_arns_become_access_entries(write_stack: Callable[..., Path]) -> None:
    arn = f"arn:aws:iam::{mocks.ACCOUNT_ID}:role/platform-admins"
    path = write_stack("staging", "admins", cluster={"version": "1.33", "adminRoleArns": [arn]})
    plan = engine.plan("admins", stack_path=path)
    entry = only(plan, "aws:eks/accessEntry:AccessEntry", "eks-admin-0")
    assert entry.inputs["principalArn"] == arn and entry.inputs["clusterName"] == "mlp-staging"
    assoc = only(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "eks-admin-0")
    assert assoc.inputs["policyArn"].endswith("AmazonEKSClusterAdminPolicy") and assoc.inputs["accessScope"] == {
        "type": "cluster"
    }


# ---- cloud: existing --------------------------------------------------------------------------


def test_existing_cluster_creates_no_cloud_resources_and_uses_the_configured_context(plan_of: PlanOf) -> None:
    plan = plan_of("onprem")
    assert not [r for r in plan.resources if r.type.split(":")[0] in ("aws", "gcp")]
    [provider] = plan.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == plan.config.cluster.context
    for res in plan.resources:
        if res.type.startswith("kubernetes:"):
            assert res.provider_urn == provider.urn, res.urn


def test_existing_cluster_kubeconfig_stays_secret(write_stack: Callable[..., Path]) -> None:
    text = "apiVersion: v1\nkind: Config\nclusters: []\nusers: [{name: u, user: {token: plan-token-value}}]\n"
    path = write_stack("onprem", "kc", cluster={"context": "onprem-gpu", "kubeconfig": {"secure": "v1:abc"}})
    plan = engine.plan("kc", stack_path=path)
    [provider] = plan.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    raw = raw_config("onprem")
    raw["cluster"] = {"context": "onprem-gpu", "kubeconfig": text}
    resources, _ = engine.run_program("kc2", raw, ["cluster"])
    assert "plan-token-value" not in json.dumps([r.to_json() for r in resources])
