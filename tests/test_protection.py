"""Stateful resources (data, keys, databases, caches, their credentials) are protected in prod.

`protect` makes `pulumi up` / `destroy` refuse to replace or delete them; `retain_on_delete`
keeps the cloud resource if it ever leaves the program. Outside prod nothing is protected, so
`pulumi destroy` of a dev stack works.
"""

from __future__ import annotations

import pytest

from tests.helpers import STACKS

STATEFUL = {
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:secretsmanager/secret:Secret",
    "gcp:storage/bucket:Bucket",
    "gcp:kms/keyRing:KeyRing",
    "gcp:kms/cryptoKey:CryptoKey",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:redis/instance:Instance",
    "gcp:secretmanager/secret:Secret",
}
"""Cloud resources holding data or keys: protected and retained in prod."""

CREDENTIALS = {"random:index/randomPassword:RandomPassword"}
"""Generated credentials of the stores: protected in prod (a replacement rotates a live password);
the MLflow UI admin password (``mlflow-admin``) may be rotated."""

ROTATABLE = {"mlflow-admin"}


@pytest.mark.parametrize("stack", STACKS)
def test_stateful_resources_are_protected_exactly_in_prod(stack: str, plan_of) -> None:
    plan = plan_of(stack)
    prod = plan.config.environment == "prod"
    stateful = [r for r in plan.resources if r.type in STATEFUL]
    credentials = [r for r in plan.resources if r.type in CREDENTIALS and r.name not in ROTATABLE]
    if plan.config.cloud != "existing":
        assert stateful and credentials, "a cloud stack has buckets, keys, stores and their credentials"
    for res in stateful:
        assert (res.protect, res.retain_on_delete) == (prod, prod), res.urn
    for res in credentials:
        assert res.protect == prod, res.urn
