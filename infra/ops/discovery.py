"""Find the platform's stateful resources by their tags (no Pulumi CLI or state needed).

Lake buckets carry ``lake-zone`` / ``lake-role`` (:mod:`catalog.conventions`) plus the
``project`` and ``environment`` tags of :func:`infra.tagging.platform_tags`. The MLflow database
carries ``ml-platform.io/role = mlflow-db`` (:data:`catalog.conventions.TAG_ROLE`), and the state
bucket made by ``ops bootstrap-backend`` carries ``ml-platform.io/role = pulumi-state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog import conventions as cv
from infra.ops.aws import DENIED_CODES, Clients, OpsError, error_code

ROLE_PRIMARY, ROLE_REPLICA, ROLE_LOGS = "primary", "replica", "logs"


@dataclass
class Bucket:
    name: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> str:
        return self.tags.get(cv.TAG_LAKE_ZONE, "")

    @property
    def role(self) -> str:
        return self.tags.get(cv.TAG_LAKE_ROLE, "")

    @property
    def exists(self) -> bool:
        return bool(self.region)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


def bucket_region(clients: Clients, name: str) -> str:
    location = clients.s3().get_bucket_location(Bucket=name).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def bucket_tags(clients: Clients, name: str, region: str) -> dict[str, str]:
    try:
        tag_set = clients.s3(region).get_bucket_tagging(Bucket=name).get("TagSet", [])
    except Exception as exc:
        if error_code(exc) in ("NoSuchTagSet", "NoSuchBucket"):
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def tagged_buckets(clients: Clients, wanted: dict[str, str]) -> list[Bucket]:
    """Every bucket of the account whose tags include all of ``wanted``."""
    found: list[Bucket] = []
    denied: list[str] = []
    s3 = clients.s3()
    token: str | None = None
    while True:
        page = s3.list_buckets(**({"ContinuationToken": token} if token else {}))
        for entry in page.get("Buckets", []):
            name = entry["Name"]
            try:
                region = entry.get("BucketRegion") or bucket_region(clients, name)
                tags = bucket_tags(clients, name, region)
            except Exception as exc:  # another team's locked-down bucket must not stop the search
                if error_code(exc) not in DENIED_CODES:
                    raise
                denied.append(name)
                continue
            if all(tags.get(k) == v for k, v in wanted.items()):
                found.append(Bucket(name=name, region=region, tags=tags))
        token = page.get("ContinuationToken")
        if not token:
            break
    if denied and not found:
        raise OpsError(
            f"could not read the tags of {len(denied)} bucket(s) (access denied, e.g. {denied[0]}); "
            "the credentials need s3:GetBucketTagging and s3:GetBucketLocation"
        )
    return found


def lake_buckets(clients: Clients, environment: str) -> list[Bucket]:
    """The data-lake buckets (every role) of one environment."""
    wanted = {cv.TAG_PROJECT: cv.PROJECT, cv.TAG_ENVIRONMENT: environment}
    return [b for b in tagged_buckets(clients, wanted) if b.role in (ROLE_PRIMARY, ROLE_REPLICA, ROLE_LOGS)]


def replication_destination(clients: Clients, bucket: Bucket) -> tuple[dict[str, Any] | None, str | None]:
    """The bucket's replication configuration and the name of its (first) destination bucket."""
    try:
        conf = clients.s3(bucket.region).get_bucket_replication(Bucket=bucket.name)["ReplicationConfiguration"]
    except Exception as exc:
        if error_code(exc) == "ReplicationConfigurationNotFoundError":
            return None, None
        raise
    for rule in conf.get("Rules", []):
        dest = rule.get("Destination", {}).get("Bucket", "")
        if dest:
            return conf, dest.rsplit(":", 1)[-1]
    return conf, None


@dataclass
class LakePair:
    zone: str
    primary: Bucket
    replica: Bucket | None
    replication: dict[str, Any] | None


def lake_pairs(clients: Clients, environment: str) -> list[LakePair]:
    """Each primary lake bucket with its replica (from the replication rule, else by zone tag)."""
    buckets = lake_buckets(clients, environment)
    by_name = {b.name: b for b in buckets}
    replicas = [b for b in buckets if b.role == ROLE_REPLICA]
    pairs = []
    for primary in sorted((b for b in buckets if b.role == ROLE_PRIMARY), key=lambda b: b.zone):
        conf, dest = replication_destination(clients, primary)
        replica = by_name.get(dest) if dest else None
        if replica is None and dest:
            try:
                replica = Bucket(name=dest, region=bucket_region(clients, dest))
            except Exception as exc:
                if error_code(exc) not in ("NoSuchBucket", "404", "NotFound"):
                    raise
                replica = Bucket(name=dest, region="")  # named by the rule, but gone
        if replica is None:
            replica = next((r for r in replicas if r.zone == primary.zone), None)
        pairs.append(LakePair(zone=primary.zone, primary=primary, replica=replica, replication=conf))
    return pairs


def state_buckets(clients: Clients) -> list[Bucket]:
    """Pulumi state buckets made by ``ops bootstrap-backend`` (primary and replica)."""
    return tagged_buckets(clients, {cv.TAG_PROJECT: cv.PROJECT, cv.TAG_ROLE: cv.ROLE_PULUMI_STATE})


def mlflow_databases(clients: Clients, region: str, environment: str, identifier: str | None = None) -> list[dict[str, Any]]:
    """The MLflow RDS instance(s) of an environment in ``region`` (by tags, or by ``identifier``)."""
    rds = clients.rds(region)
    if identifier:
        return list(rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"])
    found = []
    for page in rds.get_paginator("describe_db_instances").paginate():
        for db in page["DBInstances"]:
            tags = {t["Key"]: t["Value"] for t in db.get("TagList", [])}
            if (
                tags.get(cv.TAG_ROLE) == cv.ROLE_MLFLOW_DB
                and tags.get(cv.TAG_PROJECT) == cv.PROJECT
                and tags.get(cv.TAG_ENVIRONMENT) == environment
            ):
                found.append(db)
    return found
