"""Audit logging (issue 16): the CloudTrail trail and its locked bucket, EKS control-plane logs, GCP audit configs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog import conventions as cv
from components.aws import audit_trail
from infra import config
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.helpers import raw_config, run_cli

PlanOf = Callable[[str], engine.Plan]
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"


def only(plan: engine.Plan, type_: str, pred: Callable[[RecordedResource], bool] = lambda r: True) -> RecordedResource:
    found = [r for r in plan.by_type(type_) if pred(r)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def lake_bucket_arns(plan: engine.Plan) -> set[str]:
    """Every data bucket of the lake (primary and replica zones; not the S3 access-log buckets)."""
    return {
        f"arn:aws:s3:::{b.inputs['bucket']}"
        for b in plan.by_type(BUCKET)
        if cv.TAG_LAKE_ROLE in (tags := b.inputs.get("tags") or {}) and tags.get(cv.TAG_LAKE_ZONE) != "access-logs"
    }


def audit_bucket(plan: engine.Plan, trail: RecordedResource) -> RecordedResource:
    return only(plan, BUCKET, lambda b: b.inputs.get("bucket") == trail.inputs["s3BucketName"])


def companion(plan: engine.Plan, bucket: RecordedResource, type_: str) -> RecordedResource:
    return only(plan, type_, lambda r: r.inputs.get("bucket") == bucket.inputs["bucket"])


def selectors(trail: RecordedResource) -> dict[str, list[dict[str, Any]]]:
    return {s["name"]: s["fieldSelectors"] for s in trail.inputs["advancedEventSelectors"]}


def key_statements(plan: engine.Plan) -> dict[str, dict[str, Any]]:
    key = only(plan, "aws:kms/key:Key", lambda k: k.name == "platform-key")
    return {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}


# ---- AWS: the trail ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_trail_records_every_lake_object_read_and_write_and_management_events(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    trail = only(plan, TRAIL)
    assert trail.inputs["isMultiRegionTrail"] is True and trail.inputs["enableLogFileValidation"] is True
    assert trail.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"]
    data = selectors(trail)["Lake S3 data events"]
    fields = {f["field"]: f for f in data}
    assert fields["eventCategory"]["equals"] == ["Data"] and fields["resources.type"]["equals"] == ["AWS::S3::Object"]
    assert "readOnly" not in fields, "a readOnly selector would drop reads or writes"
    lake = lake_bucket_arns(plan)
    assert len(lake) >= 4
    assert set(fields["resources.ARN"]["startsWiths"]) == {f"{arn}/" for arn in lake}
    assert selectors(trail)["Management events"] == [{"field": "eventCategory", "equals": ["Management"]}]


def test_prod_trail_covers_the_dr_replicas_too(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    replicas = [b for b in plan.by_type(BUCKET) if (b.inputs.get("tags") or {}).get(cv.TAG_LAKE_ROLE) == "replica"]
    assert replicas
    starts = set(selectors(only(plan, TRAIL))["Lake S3 data events"][2]["startsWiths"])
    assert {f"arn:aws:s3:::{b.inputs['bucket']}/" for b in replicas} <= starts


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_trail_bucket_is_private_versioned_tls_only_and_lets_only_our_trail_write(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    trail = only(plan, TRAIL)
    bucket = audit_bucket(plan, trail)
    assert cv.TAG_LAKE_ROLE not in (bucket.inputs.get("tags") or {}), "the audit bucket is not a lake bucket"
    assert (
        companion(plan, bucket, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"]
        == "Enabled"
    )
    pab = companion(plan, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert (
        companion(plan, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"]["objectOwnership"]
        == "BucketOwnerEnforced"
    )
    sse = companion(plan, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == plan.outputs["kmsKeyArn"]
    statements = {
        s["Sid"]: s for s in json.loads(companion(plan, bucket, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = f"arn:aws:cloudtrail:us-east-1:123456789012:trail/{trail.inputs['name']}"
    for sid in ("CloudTrailAclCheck", "CloudTrailWrite"):
        assert statements[sid]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statements[sid]["Condition"]["StringEquals"]["aws:SourceArn"] == [arn]
    assert statements["CloudTrailWrite"]["Resource"].endswith("/AWSLogs/123456789012/*")
    rules = {
        r["id"]: r
        for r in companion(plan, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    }
    assert rules["expire-audit-logs"]["expiration"]["days"] == plan.config.audit.retention_days


def test_prod_trail_bucket_is_object_locked_from_creation_and_protected(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    trail = only(plan, TRAIL)
    bucket = audit_bucket(plan, trail)
    # Object Lock can only be enabled when the bucket is created
    assert bucket.inputs["objectLockEnabled"] is True
    lock = companion(plan, bucket, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    retention = lock["rule"]["defaultRetention"]
    assert retention["mode"] == "GOVERNANCE"
    assert retention["days"] == (plan.config.audit.object_lock_days or plan.config.audit.retention_days)
    assert bucket.protect and bucket.retain_on_delete and trail.protect
    assert not bucket.inputs.get("forceDestroy")


def test_trail_waits_for_the_bucket_policy_and_the_key_that_name_it(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    trail = only(plan, TRAIL)
    bucket = audit_bucket(plan, trail)
    policy = companion(plan, bucket, "aws:s3/bucketPolicy:BucketPolicy")
    key = only(plan, "aws:kms/key:Key", lambda k: k.name == "platform-key")
    assert policy.urn in trail.dependencies and key.urn in trail.dependencies
    statements = key_statements(plan)
    arn = f"arn:aws:cloudtrail:us-east-1:123456789012:trail/{trail.inputs['name']}"
    encrypt = statements["CloudTrailEncrypt"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"]["StringEquals"]["aws:SourceArn"] == [arn]
    assert (
        encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]
        == "arn:aws:cloudtrail:*:123456789012:trail/*"
    )
    assert statements["CloudTrailDescribeKey"]["Action"] == "kms:DescribeKey"
    # CloudWatch Logs may encrypt the EKS control-plane log group with the same key
    assert statements["CloudWatchLogs"]["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_guardduty_is_off_by_default_and_costs_nothing(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    assert (
        plan.by_type("aws:guardduty/detector:Detector") == []
        and plan.by_type("aws:guardduty/detectorFeature:DetectorFeature") == []
    )
    urns = {i["urn"] for i in plan.to_json()["cost"]["by_item"]}
    assert not any("guardduty" in u for u in urns)
    assert ("config:audit/cloudtrail-data-events" in urns) is plan.config.audit_enabled


def test_dev_has_no_trail_by_default_and_its_key_names_none(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    assert plan.by_type(TRAIL) == []
    assert not any(sid.startswith("CloudTrail") for sid in key_statements(plan))
    assert "auditTrailArn" not in plan.outputs


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_eks_control_plane_log_group_has_the_retention_and_our_key_before_the_cluster(stack: str, plan_of: PlanOf) -> None:
    plan = plan_of(stack)
    cluster = only(plan, "aws:eks/cluster:Cluster")
    group = only(
        plan, "aws:cloudwatch/logGroup:LogGroup", lambda g: g.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
    )
    assert group.inputs["retentionInDays"] == plan.config.control_plane_log_retention_days
    assert group.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"]
    assert group.urn in cluster.dependencies


def test_organization_trail_gets_a_data_events_only_trail_in_dev_and_guardduty_is_opt_in(
    write_stack: Callable[..., Path],
) -> None:
    path = write_stack(
        "dev",
        "org",
        audit={
            "enabled": True,
            "organizationTrail": "acme-org-trail",
            "retentionDays": 30,
            "controlPlaneLogRetentionDays": 30,
            "dataEventsMillionsPerMonth": 50,
        },
        security={"guardDuty": {"eksRuntimeMonitoring": True, "s3Protection": True}},
    )
    plan = engine.plan("org", stack_path=path)
    features = {r.inputs["name"]: r for r in plan.by_type("aws:guardduty/detectorFeature:DetectorFeature")}
    assert set(features) == {"RUNTIME_MONITORING", "S3_DATA_EVENTS"} and all(
        f.inputs["status"] == "ENABLED" for f in features.values()
    )
    assert features["RUNTIME_MONITORING"].inputs["additionalConfigurations"] == [
        {"name": "EKS_ADDON_MANAGEMENT", "status": "ENABLED"}
    ]
    assert len(plan.by_type("aws:guardduty/detector:Detector")) == 1
    costs = {i["urn"]: i["monthly_usd"] for i in plan.to_json()["cost"]["by_item"] if i["urn"].startswith("config:")}
    assert costs["config:audit/cloudtrail-data-events"] == 50.0  # 50 M events x $0.10 / 100k
    assert costs["config:guardduty/s3-protection"] == 40.0
    assert (
        costs["config:guardduty/eks-runtime-monitoring"] == plan.config.cluster.system_nodes.max_nodes * 2 * 1.5
    )  # m6i.large: 2 vCPUs
    trail = only(plan, TRAIL)
    assert trail.inputs["name"] == "mlp-dev-lake-data-events"
    assert list(selectors(trail)) == ["Lake S3 data events"], "the organization trail already records management events"
    assert set(selectors(trail)["Lake S3 data events"][2]["startsWiths"]) == {f"{a}/" for a in lake_bucket_arns(plan)}
    bucket = audit_bucket(plan, trail)
    # dev: no Object Lock, not protected, torn down cleanly
    assert not bucket.inputs.get("objectLockEnabled") and bucket.inputs["forceDestroy"] is True and not bucket.protect
    assert plan.by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
    assert key_statements(plan)["CloudTrailEncrypt"]["Condition"]["StringEquals"]["aws:SourceArn"] == [
        "arn:aws:cloudtrail:us-east-1:123456789012:trail/mlp-dev-lake-data-events"
    ]
    log_group = only(plan, "aws:cloudwatch/logGroup:LogGroup", lambda g: g.inputs["name"].startswith("/aws/eks/"))
    assert log_group.inputs["retentionInDays"] == 30
    assert plan.mandatory_violations == []


def test_component_rejects_what_aws_would() -> None:
    with pytest.raises(ValueError, match="lake_bucket_arns"):
        audit_trail.event_selectors([], management=True)
    assert "readOnly" not in json.dumps(audit_trail.event_selectors(["arn:aws:s3:::b"], management=False))
    policy = json.loads(audit_trail.log_bucket_policy(bucket_arn="arn:aws:s3:::b", account_id="1", trail_arns=["t"]))
    assert {s["Sid"] for s in policy["Statement"]} == {"DenyInsecureTransport", "CloudTrailAclCheck", "CloudTrailWrite"}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"trail_name": "a b"}, "trail_name"),
        ({"bucket_name": "Not_A_Bucket"}, "bucket_name"),
        ({"lake_bucket_arns": []}, "lake_bucket_arns"),
        ({"retention_days": 0}, "retention_days"),
        ({"object_lock_days": 400}, "object_lock_days"),
        ({"force_destroy": True, "protect": True}, "force_destroy"),
        ({"force_destroy": True, "object_lock_days": 30}, "force_destroy"),
    ],
)
def test_audit_trail_args_refuse_what_would_lose_or_break_the_logs(changes: dict[str, object], match: str) -> None:
    good: dict[str, object] = {
        "trail_name": "mlp-dev-audit",
        "bucket_name": "mlp-dev-audit-1-us-east-1",
        "account_id": "123456789012",
        "region": "us-east-1",
        "kms_key": None,
        "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/k",
        "lake_bucket_arns": ["arn:aws:s3:::lake"],
    }
    audit_trail.AuditTrailArgs(**good)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        audit_trail.AuditTrailArgs(**{**good, **changes})  # type: ignore[arg-type]


# ---- config mistakes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "audit", "path", "fragment"),
    [
        ("prod", {"enabled": False}, "ml-platform:audit.enabled", "not allowed in prod"),
        ("staging", {"enabled": False}, "ml-platform:audit.enabled", "not allowed in staging"),
        ("prod", {"retentionDays": 90, "objectLockDays": 365}, "ml-platform:audit.objectLockDays", "exceeds retentionDays"),
        ("prod", {"controlPlaneLogRetentionDays": 100}, "ml-platform:audit.controlPlaneLogRetentionDays", "allowed: 1, 3"),
        ("prod", {"organizationTrail": "a b"}, "ml-platform:audit.organizationTrail", "match pattern"),
        ("gcp-dev", {"organizationTrail": "org"}, "ml-platform:audit.organizationTrail", "no CloudTrail"),
        ("prod", {"retentionDays": 0}, "ml-platform:audit.retentionDays", "greater than or equal to 1"),
    ],
)
def test_bad_audit_config_names_the_key_and_what_is_allowed(stack: str, audit: dict[str, Any], path: str, fragment: str) -> None:
    raw = raw_config(stack)
    raw["audit"] = audit
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert any(p == path and fragment in reason for p, reason in err.value.problems), err.value.problems


def test_bad_audit_config_exits_2_with_one_line_and_no_traceback(write_stack: Callable[..., Path]) -> None:
    path = write_stack("prod", "badaudit", audit={"enabled": False})
    result = run_cli("plan", "--stack", "badaudit", "--stacks-dir", str(path.parent))
    assert result.returncode == 2, result.stderr
    assert "ml-platform:audit.enabled" in result.stderr + result.stdout and "Traceback" not in result.stderr


# ---- GCP --------------------------------------------------------------------------------------

AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
LOG_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"


def test_gcp_prod_turns_on_data_access_logs_for_the_four_data_services(plan_of: PlanOf) -> None:
    plan = plan_of("gcp-prod")
    configs = {r.inputs["service"]: r for r in plan.by_type(AUDIT_CONFIG)}
    assert set(configs) == {
        "storage.googleapis.com",
        "cloudkms.googleapis.com",
        "secretmanager.googleapis.com",
        "cloudsql.googleapis.com",
    }
    for service, res in configs.items():
        assert res.inputs["project"] == plan.config.gcp.project
        types = sorted(c["logType"] for c in res.inputs["auditLogConfigs"])
        assert types == ["ADMIN_READ", "DATA_READ", "DATA_WRITE"], service
        assert not any(c.get("exemptedMembers") for c in res.inputs["auditLogConfigs"]), f"{service}: nobody is exempt"


def test_gcp_prod_routes_audit_and_gke_logs_to_a_locked_bucket_where_the_lake_lives(plan_of: PlanOf) -> None:
    plan = plan_of("gcp-prod")
    bucket = only(plan, LOG_BUCKET)
    lake = [b for b in plan.by_type("gcp:storage/bucket:Bucket") if "access-logs" not in b.name]
    assert lake and {b.inputs["location"].lower() for b in lake} == {bucket.inputs["location"]}
    assert bucket.inputs["locked"] is True and bucket.protect and bucket.retain_on_delete
    assert bucket.inputs["retentionDays"] == plan.config.audit.retention_days
    sink = only(plan, "gcp:logging/projectSink:ProjectSink")
    project, loc, bid = plan.config.gcp.project, bucket.inputs["location"], bucket.inputs["bucketId"]
    assert sink.inputs["destination"] == f"logging.googleapis.com/projects/{project}/locations/{loc}/buckets/{bid}"
    assert "cloudaudit.googleapis.com" in sink.inputs["filter"] and "k8s_control_plane_component" in sink.inputs["filter"]
    assert bucket.urn in sink.dependencies


def test_gcp_dev_audit_is_optional_and_unlocked(plan_of: PlanOf, write_stack: Callable[..., Path]) -> None:
    assert plan_of("gcp-dev").by_type(AUDIT_CONFIG) == []
    path = write_stack("gcp-dev", "gaud", audit={"enabled": True, "retentionDays": 30})
    plan = engine.plan("gaud", stack_path=path)
    assert len(plan.by_type(AUDIT_CONFIG)) == 4
    bucket = only(plan, LOG_BUCKET)
    assert bucket.inputs["locked"] is False and not bucket.protect and bucket.inputs["retentionDays"] == 30


def test_gcp_audit_component_rejects_bad_args() -> None:
    from components.gcp.audit_logs import AuditLogsArgs

    with pytest.raises(ValueError, match="3650"):
        AuditLogsArgs(project="p", location="us", bucket_id="audit", retention_days=4000)
    with pytest.raises(ValueError, match="protect"):
        AuditLogsArgs(project="p", location="us", bucket_id="audit", locked=True)
    with pytest.raises(ValueError, match="service"):
        AuditLogsArgs(project="p", location="us", bucket_id="audit", services=("storage",))


def test_guardduty_on_gcp_or_a_bad_detector_id_is_refused() -> None:
    raw = raw_config("gcp-dev")
    raw["security"] = {"guardDuty": {"s3Protection": True}}
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert [p for p, _ in err.value.problems] == ["ml-platform:security.guardDuty"]
    raw = raw_config("prod")
    raw["security"] = {"guardDuty": {"s3Protection": True, "existingDetectorId": "not-an-id"}}
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    assert [p for p, _ in err.value.problems] == ["ml-platform:security.guardDuty.existingDetectorId"]


def test_staging_trail_bucket_is_neither_locked_nor_protected_and_tears_down(plan_of: PlanOf) -> None:
    """Outside prod the trail bucket follows dataLake.forceDestroy (default on) like the lake and access-log
    buckets: a staging `pulumi destroy` must get through a versioned bucket CloudTrail keeps writing to."""
    plan = plan_of("staging")
    trail = only(plan, TRAIL)
    bucket = audit_bucket(plan, trail)
    assert not bucket.inputs.get("objectLockEnabled") and not bucket.protect and bucket.inputs.get("forceDestroy") is True
    assert plan.by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
