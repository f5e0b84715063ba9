"""``ops bootstrap-backend``: the S3 state bucket and KMS key a self-managed Pulumi backend needs.

Idempotent: every step first reads what exists and only creates what is missing; settings are
(re)applied with ``put_*`` calls, which converge. Nothing is ever deleted.

* KMS: one **multi-Region** customer key (rotation on) behind an alias. It encrypts the state
  bucket and is the ``awskms://`` secrets provider. With ``--dr-region`` it is replicated there
  under the same alias, so stack secrets still decrypt when the primary region is down.
* S3: the state bucket is versioned, SSE-KMS with that key (bucket keys on), all public access
  blocked, ACLs disabled, TLS-only by bucket policy, old versions expire after 90 days. With
  ``--dr-region`` a replica bucket with the same settings receives every write by S3 replication
  (15-minute replication time control) through a dedicated IAM role.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from catalog import conventions as cv
from infra.ops.aws import Clients, OpsError, error_code

DEFAULT_ALIAS = "alias/mlp-pulumi-state"
NONCURRENT_EXPIRY_DAYS = 90
REPLICATION_ROLE = "mlp-pulumi-state-replication"


@dataclass
class BackendInfo:
    bucket: str
    region: str
    key_arn: str
    alias: str
    replica_bucket: str | None = None
    dr_region: str | None = None
    replica_key_arn: str | None = None

    @property
    def login_url(self) -> str:
        return f"s3://{self.bucket}?region={self.region}"

    @property
    def secrets_provider(self) -> str:
        return f"awskms://{self.alias}?region={self.region}"


def _tags(purpose: str) -> dict[str, str]:
    return {cv.TAG_PROJECT: cv.PROJECT, cv.TAG_MANAGED_BY: "ml-platform-ops", cv.TAG_ROLE: purpose}


# ---- KMS ---------------------------------------------------------------------------------------


def _describe(kms: Any, key: str) -> dict[str, Any] | None:
    try:
        return kms.describe_key(KeyId=key)["KeyMetadata"]
    except Exception as exc:
        if error_code(exc) == "NotFoundException":
            return None
        raise


def ensure_key(clients: Clients, region: str, alias: str, dr_region: str | None, log: Any) -> tuple[str, str | None]:
    """The multi-Region key behind ``alias`` (created if missing) and its replica's ARN in ``dr_region``."""
    kms = clients.kms(region)
    meta = _describe(kms, alias)
    if meta is None:
        meta = kms.create_key(
            Description="ml-platform: Pulumi state bucket encryption and awskms:// secrets provider",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            MultiRegion=True,
            Tags=[{"TagKey": k, "TagValue": v} for k, v in _tags(cv.ROLE_PULUMI_STATE).items()],
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        log(f"created KMS key {meta['Arn']} ({alias})")
    else:
        log(f"KMS key {alias} exists: {meta['Arn']}")
    if meta.get("KeyState") not in (None, "Enabled"):
        raise OpsError(f"KMS key {alias} is {meta['KeyState']}; enable it (or pass another --key-alias)")
    kms.enable_key_rotation(KeyId=meta["KeyId"])
    if not dr_region:
        return meta["Arn"], None
    if not meta.get("MultiRegion"):
        raise OpsError(f"KMS key {alias} is not multi-Region, so it cannot be replicated to {dr_region}; use another --key-alias")
    dr_kms = clients.kms(dr_region)
    replica = _describe(dr_kms, alias)
    if replica is None:
        replica = _describe(dr_kms, meta["KeyId"])  # a multi-Region replica keeps the key id
        if replica is None:
            replica = kms.replicate_key(
                KeyId=meta["KeyId"],
                ReplicaRegion=dr_region,
                Description="ml-platform: replica of the Pulumi state key",
                Tags=[{"TagKey": k, "TagValue": v} for k, v in _tags(cv.ROLE_PULUMI_STATE).items()],
            )["ReplicaKeyMetadata"]
            log(f"replicated KMS key to {dr_region}: {replica['Arn']}")
        try:
            dr_kms.create_alias(AliasName=alias, TargetKeyId=replica["KeyId"])
        except Exception as exc:
            if error_code(exc) != "AlreadyExistsException":
                raise
            dr_kms.update_alias(AliasName=alias, TargetKeyId=replica["KeyId"])
    return meta["Arn"], replica["Arn"]


# ---- S3 ----------------------------------------------------------------------------------------


def _bucket_exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
        return True
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied"):
            raise OpsError(f"bucket {name} exists but is not yours (or you may not read it); pass another --name") from None
        raise


def tls_only_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def ensure_bucket(clients: Clients, name: str, region: str, key_arn: str, log: Any) -> None:
    """Create ``name`` in ``region`` if missing and (re)apply the hardened settings."""
    if len(name) > 63:
        raise OpsError(f"bucket name {name!r} is longer than 63 characters; pass a shorter --name")
    s3 = clients.s3(region)
    if _bucket_exists(s3, name):
        log(f"bucket {name} exists")
    else:
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        log(f"created bucket {name} in {region}")
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-state-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_EXPIRY_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ]
        },
    )
    s3.put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in _tags(cv.ROLE_PULUMI_STATE).items()]}
    )


def ensure_replication_role(clients: Clients, source: str, dest: str, source_key: str, dest_key: str) -> str:
    """The IAM role S3 assumes to replicate ``source`` into ``dest`` (least privilege)."""
    iam = clients.iam()
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        arn = iam.get_role(RoleName=REPLICATION_ROLE)["Role"]["Arn"]
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        arn = iam.create_role(
            RoleName=REPLICATION_ROLE,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="S3 replication of the ml-platform Pulumi state bucket",
            Tags=[{"Key": k, "Value": v} for k, v in _tags(cv.ROLE_PULUMI_STATE).items()],
        )["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{source}",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                "Resource": f"arn:aws:s3:::{source}/*",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateTags"],
                "Resource": f"arn:aws:s3:::{dest}/*",
            },
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": source_key},
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": dest_key},
        ],
    }
    iam.put_role_policy(RoleName=REPLICATION_ROLE, PolicyName="replicate-state", PolicyDocument=json.dumps(policy))
    return str(arn)


def ensure_replication(clients: Clients, info: BackendInfo) -> None:
    assert info.replica_bucket and info.replica_key_arn
    role = ensure_replication_role(clients, info.bucket, info.replica_bucket, info.key_arn, info.replica_key_arn)
    clients.s3(info.region).put_bucket_replication(
        Bucket=info.bucket,
        ReplicationConfiguration={
            "Role": role,
            "Rules": [
                {
                    "ID": "state-to-dr",
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    # Deletions are not replicated: the DR copy keeps what the primary loses.
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
                    "Destination": {
                        "Bucket": f"arn:aws:s3:::{info.replica_bucket}",
                        "EncryptionConfiguration": {"ReplicaKmsKeyID": info.replica_key_arn},
                        "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                        "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
                    },
                }
            ],
        },
    )


def bootstrap(
    clients: Clients,
    *,
    region: str,
    dr_region: str | None = None,
    name: str | None = None,
    alias: str = DEFAULT_ALIAS,
    log: Any = print,
) -> BackendInfo:
    """Create or converge the state backend; see the module docstring."""
    if dr_region and dr_region == region:
        raise OpsError(f"--dr-region {dr_region} is the primary region; pick another region")
    if not alias.startswith("alias/"):
        alias = f"alias/{alias}"
    bucket = name or f"mlp-pulumi-state-{clients.account_id(region)}-{region}"
    key_arn, replica_key = ensure_key(clients, region, alias, dr_region, log)
    ensure_bucket(clients, bucket, region, key_arn, log)
    info = BackendInfo(bucket=bucket, region=region, key_arn=key_arn, alias=alias)
    if dr_region:
        info.dr_region, info.replica_key_arn = dr_region, replica_key
        info.replica_bucket = f"{bucket}-{dr_region}"
        ensure_bucket(clients, info.replica_bucket, dr_region, str(replica_key), log)
        ensure_replication(clients, info)
        log(f"replication {bucket} -> {info.replica_bucket} enabled")
    return info
