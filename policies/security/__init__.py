"""The ``mlp-security`` policy pack: encryption, network exposure, IAM scope, secrets, tenancy isolation.

Each rule lives in its own module (``POLICY``); :data:`POLICIES` is the pack's rule list, used by
``__main__.py`` (the real pack, run by ``pulumi preview --policy-pack policies/security``) and by
the offline plan (``infra/policy_hook.py``).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

from policies.security import (
    audit_log_lock,
    cache_encryption,
    db_deletion_protection,
    db_encrypted,
    db_private,
    eks_audit_logging,
    eks_public_endpoint,
    eks_secrets_encryption,
    gcp_data_access_audit,
    gcs_cmek,
    gcs_public_access_prevention,
    gcs_uniform_access,
    gcs_versioning,
    iam_wildcard_actions,
    iam_wildcard_resources,
    imdsv2,
    kms_rotation,
    no_literal_secrets,
    no_privileged_containers,
    s3_kms_encryption,
    s3_public_access_block,
    s3_tls_only,
    s3_versioning,
    team_namespace_default_deny,
    team_namespace_quota,
    trail_lake_data_events,
    trail_log_validation,
)

NAME = "mlp-security"
DESCRIPTION = "ml-platform security: encryption, private endpoints, scoped IAM, no literal secrets, tenant isolation."
ENFORCEMENT = EnforcementLevel.MANDATORY
POLICIES = [
    m.POLICY
    for m in (
        s3_kms_encryption,
        s3_public_access_block,
        s3_tls_only,
        s3_versioning,
        kms_rotation,
        eks_secrets_encryption,
        eks_audit_logging,
        eks_public_endpoint,
        db_encrypted,
        db_private,
        db_deletion_protection,
        cache_encryption,
        iam_wildcard_actions,
        iam_wildcard_resources,
        imdsv2,
        no_literal_secrets,
        team_namespace_quota,
        team_namespace_default_deny,
        no_privileged_containers,
        gcs_cmek,
        gcs_public_access_prevention,
        gcs_uniform_access,
        gcs_versioning,
        trail_lake_data_events,
        trail_log_validation,
        audit_log_lock,
        gcp_data_access_audit,
    )
]
