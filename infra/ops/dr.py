"""Disaster recovery: status, stack preparation for a new region, and database failover.

See ``docs/disaster-recovery.md`` for the runbook that strings these together.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra import config as cfgmod
from infra.ops import discovery
from infra.ops.aws import Clients, OpsError, describe_error, error_code

S3_RTC_MINUTES = 15
"""S3 Replication Time Control replicates 99.99% of objects within 15 minutes."""
S3_NO_RTC_MINUTES = 60
"""Without RTC S3 gives no SLA; most objects replicate within minutes, we budget an hour."""
POLICY_PACKS = ("policies/tagging", "policies/security", "policies/cost")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _minutes(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


# ---- status -----------------------------------------------------------------------------------


@dataclass
class Check:
    what: str
    ok: bool
    detail: str
    rpo_minutes: float | None = None
    """How much data this part could lose right now (``None``: unbounded / unknown)."""

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "ok": self.ok, "detail": self.detail, "rpo_minutes": self.rpo_minutes}


@dataclass
class Status:
    stack: str
    region: str
    dr_region: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def rpo_minutes(self) -> float | None:
        values = [c.rpo_minutes for c in self.checks]
        if not values or any(v is None for v in values):
            return None
        return max(v for v in values if v is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "dr_region": self.dr_region,
            "healthy": self.healthy,
            "rpo_minutes": self.rpo_minutes,
            "checks": [c.to_json() for c in self.checks],
        }


def _replication_check(clients: Clients, what: str, source: discovery.Bucket, dr_region: str | None) -> Check:
    conf, dest = discovery.replication_destination(clients, source)
    if conf is None or dest is None:
        return Check(what, False, f"{source.name}: no replication configuration")
    rule = next(r for r in conf["Rules"] if r.get("Destination", {}).get("Bucket", "").endswith(f":{dest}"))
    problems = []
    if rule.get("Status") != "Enabled":
        problems.append(f"rule {rule.get('ID', '?')} is {rule.get('Status')}")
    versioning = clients.s3(source.region).get_bucket_versioning(Bucket=source.name).get("Status")
    if versioning != "Enabled":
        problems.append("source versioning is not enabled")
    try:
        dest_region = discovery.bucket_region(clients, dest)
    except Exception as exc:
        if error_code(exc) not in ("NoSuchBucket", "404", "NotFound"):
            raise
        dest_region = None
        problems.append(f"destination bucket {dest} does not exist")
    if dest_region and dr_region and dest_region != dr_region:
        problems.append(f"destination {dest} is in {dest_region}, not the DR region {dr_region}")
    if dest_region and clients.s3(dest_region).get_bucket_versioning(Bucket=dest).get("Status") != "Enabled":
        problems.append(f"destination {dest} is not versioned")
    rtc = rule.get("Destination", {}).get("ReplicationTime", {}).get("Status") == "Enabled"
    rpo = S3_RTC_MINUTES if rtc else S3_NO_RTC_MINUTES
    detail = f"{source.name} ({source.region}) -> {dest} ({dest_region or '?'}), RTC {'on' if rtc else 'off'}"
    if problems:
        return Check(what, False, f"{detail}: {'; '.join(problems)}")
    return Check(what, True, detail + "; objects older than the rule need `ops dr verify`", rpo)


def _database_checks(clients: Clients, cfg: cfgmod.PlatformConfig, db_identifier: str | None) -> list[Check]:
    assert cfg.region
    dbs = discovery.mlflow_databases(clients, cfg.region, cfg.environment, db_identifier)
    if not dbs:
        if not cfg.mlflow.enabled:
            return []
        return [Check("mlflow database", False, f"no RDS instance tagged as the MLflow DB of {cfg.environment} in {cfg.region}")]
    checks = []
    for db in dbs:
        ident = db["DBInstanceIdentifier"]
        what = f"mlflow database {ident}"
        if int(db.get("BackupRetentionPeriod") or 0) < 1:
            checks.append(Check(what, False, "automated backups are off (BackupRetentionPeriod 0)"))
            continue
        replications = db.get("DBInstanceAutomatedBackupsReplications") or []
        latest, source = newest_restorable_in(clients, cfg.dr_region, db) if cfg.dr_region else (None, "")
        if not cfg.dr_region:
            checks.append(Check(what, False, "no DR region configured"))
        elif latest is None:
            checks.append(Check(what, False, f"nothing restorable in {cfg.dr_region}: no replicated backups or snapshots"))
        else:
            lag = _minutes(_now() - latest)
            rep = "backup replication on" if replications else "backup replication OFF (snapshot copies only)"
            checks.append(Check(what, True, f"{rep}; newest restorable in {cfg.dr_region}: {latest.isoformat()} ({source})", lag))
    return checks


def newest_restorable_in(clients: Clients, region: str, db: dict[str, Any]) -> tuple[dt.datetime | None, str]:
    """Newest point in time the DB can be restored to in ``region`` and from what."""
    rds = clients.rds(region)
    best: tuple[dt.datetime | None, str] = (None, "")
    for backup in _replicated_backups(clients, region, db):
        latest = backup.get("RestoreWindow", {}).get("LatestTime")
        if latest and (best[0] is None or latest > best[0]):
            best = (latest, f"replicated automated backups {backup.get('DBInstanceAutomatedBackupsArn', '')}")
    for snap in rds.describe_db_snapshots().get("DBSnapshots", []):
        if _snapshot_of(snap, db) and snap.get("Status") == "available":
            created = snap.get("SnapshotCreateTime")
            if created and (best[0] is None or created > best[0]):
                best = (created, f"snapshot {snap['DBSnapshotIdentifier']}")
    return best


def _replicated_backups(clients: Clients, region: str, db: dict[str, Any]) -> list[dict[str, Any]]:
    """Automated backups of ``db`` held in ``region`` (replicated ones keep the source's ARN)."""
    backups = clients.rds(region).describe_db_instance_automated_backups().get("DBInstanceAutomatedBackups", [])
    arn, resource = db.get("DBInstanceArn"), db.get("DbiResourceId")
    return [b for b in backups if (arn and b.get("DBInstanceArn") == arn) or (resource and b.get("DbiResourceId") == resource)]


def _snapshot_of(snap: dict[str, Any], db: dict[str, Any]) -> bool:
    return snap.get("DBInstanceIdentifier") == db["DBInstanceIdentifier"] or (
        bool(snap.get("DbiResourceId")) and snap.get("DbiResourceId") == db.get("DbiResourceId")
    )


def status(clients: Clients, stack: str, cfg: cfgmod.PlatformConfig, *, db_identifier: str | None = None) -> Status:
    if cfg.cloud != "aws" or not cfg.region:
        raise OpsError(f"stack {stack!r} is not an AWS stack; the DR tooling covers cloud 'aws'")
    result = Status(stack=stack, region=cfg.region, dr_region=cfg.dr_region)
    pairs = discovery.lake_pairs(clients, cfg.environment)
    if not pairs:
        result.checks.append(Check("data lake", False, f"no primary lake buckets tagged for environment {cfg.environment!r}"))
    for pair in pairs:
        result.checks.append(_replication_check(clients, f"lake zone {pair.zone}", pair.primary, cfg.dr_region))
    result.checks.extend(_database_checks(clients, cfg, db_identifier))
    found = discovery.state_buckets(clients)
    replicas = {discovery.replication_destination(clients, b)[1] for b in found}
    states = [b for b in found if b.name not in replicas]  # the primaries: not another state bucket's replica
    if not states:
        result.checks.append(Check("pulumi state", False, "no state bucket from `ops bootstrap-backend` in this account"))
    for bucket in states:
        result.checks.append(_replication_check(clients, "pulumi state", bucket, cfg.dr_region))
    return result


# ---- prepare ----------------------------------------------------------------------------------


def _with_region(url: str, region: str) -> str:
    if "region=" in url:
        return re.sub(r"region=[^&]*", f"region={region}", url)
    return url + ("&" if "?" in url else "?") + f"region={region}"


def prepare(
    from_stack: str,
    new_stack: str,
    region: str,
    *,
    dr_region: str | None = None,
    stacks_dir: Path | None = None,
    force: bool = False,
) -> tuple[Path, cfgmod.PlatformConfig]:
    """Write ``Pulumi.<new_stack>.yaml``: the ``from_stack`` config moved to ``region``.

    The old DR region holds the replicas, so it becomes the primary region; the new DR region is
    ``dr_region`` or DR is turned off. Secure values and the secrets-provider settings are kept
    (an ``awskms://`` provider is pointed at the new region, where the multi-Region key has a
    replica). The result is validated with :func:`infra.config.parse` before it is written.

    :raises ConfigError: when the new stack would be invalid (nothing is written).
    """
    src = cfgmod.stack_file(from_stack, stacks_dir)
    dest = cfgmod.stack_file(new_stack, stacks_dir)
    if dest.exists() and not force:
        raise OpsError(f"{dest} exists; pass --force to overwrite it")
    raw, _ = cfgmod.read_stack_file(src)
    old = cfgmod.parse(raw)
    if old.cloud != "aws":
        raise OpsError(f"stack {from_stack!r} is cloud {old.cloud!r}; `dr prepare` moves AWS stacks")
    doc = yaml.safe_load(src.read_text())
    new_doc = copy.deepcopy(doc)
    conf = new_doc["config"]
    ns = cfgmod.NAMESPACE
    conf[f"{ns}:region"] = region
    conf[f"{ns}:dr"] = {"enabled": True, "region": dr_region} if dr_region else {"enabled": False}
    if "secretsprovider" in new_doc and str(new_doc["secretsprovider"]).startswith("awskms://"):
        new_doc["secretsprovider"] = _with_region(str(new_doc["secretsprovider"]), region)
    new_raw = {k[len(ns) + 1 :]: cfgmod.mask_secure_values(v)[0] for k, v in conf.items() if k.startswith(ns + ":")}
    new_cfg = cfgmod.parse(new_raw)
    header = (
        f"# Disaster recovery: {from_stack!r} moved to {region} by `python -m infra ops dr prepare`"
        f" on {_now():%Y-%m-%d %H:%M} UTC.\n"
        f"# The replicas in {region} become the primaries; DR {'to ' + dr_region if dr_region else 'is off'}.\n"
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(header + yaml.safe_dump(new_doc, sort_keys=False, default_flow_style=False))
    return dest, new_cfg


# ---- failover ---------------------------------------------------------------------------------


@dataclass
class Failover:
    source: str
    target: str
    region: str
    method: str
    status: str
    restore_point: str = ""
    endpoint: str = ""
    commands: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _db_instance(rds: Any, ident: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except Exception as exc:
        if error_code(exc) == "DBInstanceNotFound":
            return None
        raise


def _restore_options(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if v not in (None, "", [])}


def failover(
    clients: Clients,
    cfg: cfgmod.PlatformConfig,
    *,
    region: str,
    new_stack: str,
    db_identifier: str | None = None,
    target_identifier: str | None = None,
    subnet_group: str | None = None,
    security_groups: list[str] | None = None,
    kms_key_id: str | None = None,
    backend_url: str | None = None,
    secrets_provider: str | None = None,
    stacks_dir: Path | None = None,
    import_path: Path | None = None,
    log: Any = print,
) -> Failover:
    """Restore the MLflow database in ``region``; return what was done and the commands to run next.

    In order of preference: point-in-time restore from the automated backups replicated into
    ``region`` (the newest restorable time); else the newest snapshot already in ``region``; else
    copy the newest snapshot from the primary region (when it still answers) and restore that.
    """
    assert cfg.region
    primary = cfg.region
    dr_rds = clients.rds(region)
    source_db: dict[str, Any] | None = None
    try:
        found = discovery.mlflow_databases(clients, primary, cfg.environment, db_identifier)
        source_db = found[0] if found else None
    except Exception as exc:  # the primary region may be down: go on with what the DR region holds
        if db_identifier is None:
            raise
        log(f"primary region {primary} did not answer ({error_code(exc) or type(exc).__name__}); using what {region} holds")
    if source_db is None:
        if db_identifier is None:
            raise OpsError(f"no MLflow database of {cfg.environment} found in {primary}; pass --db-identifier")
        arn = f"arn:aws:rds:{primary}:{clients.account_id(region)}:db:{db_identifier}"
        source_db = {"DBInstanceIdentifier": db_identifier, "DBInstanceArn": arn}
    ident = source_db["DBInstanceIdentifier"]
    target = target_identifier or f"{ident}-{region}"
    common = _restore_options(
        {
            "DBSubnetGroupName": subnet_group,
            "VpcSecurityGroupIds": security_groups,
            "MultiAZ": bool(cfg.mlflow.database.multi_az) if cfg.mlflow.database.multi_az is not None else None,
            "DBInstanceClass": cfg.mlflow.database.instance_class,
            "CopyTagsToSnapshot": True,
            "DeletionProtection": cfg.is_prod or None,
            "Tags": [{"Key": k, "Value": v} for k, v in (_tags_of(source_db) or {}).items()] or None,
        }
    )
    result = Failover(source=ident, target=target, region=region, method="", status="")
    existing = _db_instance(dr_rds, target)
    if existing is not None:
        result.method, result.status = "already restored (nothing done)", existing.get("DBInstanceStatus", "")
        result.endpoint = (existing.get("Endpoint") or {}).get("Address", "")
    else:
        _restore(clients, result, source_db, primary, region, common, kms_key_id, log)
    import_file, providers = None, None
    if backend_url is None:
        backend_url = state_backend_in(clients, region, log=log)
    if cfgmod.stack_file(new_stack, stacks_dir).is_file():
        adoption = write_adoption(clients, new_stack, stacks_dir=stacks_dir, path=import_path, log=log)
        import_file, providers = str(adoption[0]), adoption[1]
    result.commands = pulumi_commands(
        new_stack,
        region,
        backend_url=backend_url,
        secrets_provider=secrets_provider,
        import_file=import_file,
        providers=providers,
    )
    return result


def state_backend_in(clients: Clients, region: str, *, log: Any = print) -> str | None:
    """``pulumi login`` URL of the (replicated) state bucket in ``region``, if exactly one is found.

    The buckets are those ``ops bootstrap-backend`` tagged; ``None`` when there is none or several
    in ``region`` (then the operator passes ``--backend-url``).
    """
    try:
        found = [b for b in discovery.state_buckets(clients) if b.region == region]
    except Exception as exc:  # the database is restored already: report, do not fail the command
        reason = str(exc) if isinstance(exc, OpsError) else describe_error(exc)
        if reason is None:
            raise
        log(f"could not look for the state bucket in {region} ({reason}); pass --backend-url")
        return None
    if len(found) != 1:
        names = ", ".join(b.name for b in found) or "none"
        log(f"state bucket in {region}: {names}; pass --backend-url to print the exact login")
        return None
    return f"s3://{found[0].name}?region={region}"


def write_adoption(
    clients: Clients, new_stack: str, *, stacks_dir: Path | None = None, path: Path | None = None, log: Any = print
) -> tuple[Path, list[str]]:
    """Write the ``pulumi import`` file adopting the existing buckets; return it and the provider URNs."""
    import json

    from infra.ops import adopt

    found = adopt.adoption(clients, new_stack, stacks_dir=stacks_dir)
    path = path or Path("build") / f"import-{new_stack}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found.import_file, indent=2) + "\n")
    for logical, bucket in sorted(found.buckets.items()):
        log(f"  adopt {bucket} as {logical}")
    log(f"wrote {path}: {len(found.buckets)} existing bucket(s) for {new_stack} to import")
    return path, found.providers


def _tags_of(db: dict[str, Any]) -> dict[str, str]:
    """The source DB's tags (AWS-reserved ``aws:`` tags cannot be set, so they are left out)."""
    return {t["Key"]: t["Value"] for t in db.get("TagList", []) if not t["Key"].startswith("aws:")}


def _restore(
    clients: Clients,
    result: Failover,
    source_db: dict[str, Any],
    primary: str,
    region: str,
    common: dict[str, Any],
    kms_key_id: str | None,
    log: Any,
) -> None:
    dr_rds = clients.rds(region)
    backups = _replicated_backups(clients, region, source_db) if source_db.get("DBInstanceArn") else []
    backups = [b for b in backups if b.get("RestoreWindow", {}).get("LatestTime")]
    if backups:
        newest = max(backups, key=lambda b: b["RestoreWindow"]["LatestTime"])
        log(f"restoring {result.target} in {region} from replicated automated backups (latest restorable time)")
        out = dr_rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceAutomatedBackupsArn=newest["DBInstanceAutomatedBackupsArn"],
            TargetDBInstanceIdentifier=result.target,
            UseLatestRestorableTime=True,
            **common,
        )["DBInstance"]
        result.method = "point-in-time restore from replicated automated backups"
        result.restore_point = newest["RestoreWindow"]["LatestTime"].isoformat()
        result.status = out.get("DBInstanceStatus", "")
        return
    snapshot = _newest_snapshot(dr_rds, source_db)
    if snapshot is None:
        snapshot = _copy_newest_snapshot(clients, source_db, primary, region, kms_key_id, log)
        result.method = f"snapshot copied from {primary}, then restored"
    else:
        result.method = f"snapshot already in {region}, restored"
    log(f"restoring {result.target} in {region} from snapshot {snapshot['DBSnapshotIdentifier']}")
    out = dr_rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=result.target, DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"], **common
    )["DBInstance"]
    created = snapshot.get("SnapshotCreateTime")
    result.restore_point = created.isoformat() if created else ""
    result.status = out.get("DBInstanceStatus", "")
    result.endpoint = (out.get("Endpoint") or {}).get("Address", "")


def _newest_snapshot(rds: Any, db: dict[str, Any]) -> dict[str, Any] | None:
    snaps = []
    for page in rds.get_paginator("describe_db_snapshots").paginate():
        snaps += [s for s in page["DBSnapshots"] if _snapshot_of(s, db) and s.get("Status") == "available"]
    return max(snaps, key=lambda s: s["SnapshotCreateTime"], default=None)


def _copy_newest_snapshot(
    clients: Clients, db: dict[str, Any], primary: str, region: str, kms_key_id: str | None, log: Any
) -> dict[str, Any]:
    source = _newest_snapshot(clients.rds(primary), db)
    if source is None:
        raise OpsError(
            f"no backups of {db['DBInstanceIdentifier']} to restore: none replicated to {region}, no snapshot in {primary}"
        )
    name = re.sub(r"[^a-zA-Z0-9-]", "-", f"dr-{source['DBSnapshotIdentifier'].removeprefix('rds:')}")[:255]
    dr_rds = clients.rds(region)
    kwargs: dict[str, Any] = {
        "SourceDBSnapshotIdentifier": source["DBSnapshotArn"],
        "TargetDBSnapshotIdentifier": name,
        "SourceRegion": primary,
        "CopyTags": True,
    }
    if source.get("Encrypted"):
        kwargs["KmsKeyId"] = kms_key_id or "alias/aws/rds"
    log(f"copying snapshot {source['DBSnapshotIdentifier']} from {primary} to {region} as {name}")
    copied = dr_rds.copy_db_snapshot(**kwargs)["DBSnapshot"]
    dr_rds.get_waiter("db_snapshot_available").wait(
        DBSnapshotIdentifier=copied["DBSnapshotIdentifier"], WaiterConfig={"Delay": 30, "MaxAttempts": 240}
    )
    return copied


def pulumi_commands(
    new_stack: str,
    region: str,
    *,
    backend_url: str | None,
    secrets_provider: str | None,
    import_file: str | None = None,
    providers: list[str] | None = None,
) -> list[str]:
    """The exact Pulumi commands that bring the platform up as ``new_stack`` in ``region``.

    With ``import_file`` (from :mod:`infra.ops.adopt`) the stack first creates its AWS providers,
    then imports the old replica buckets, which become its primary buckets.
    """
    backend = backend_url or f"s3://<state-bucket>-{region}?region={region}"
    secrets = secrets_provider or f"awskms://alias/mlp-pulumi-state?region={region}"
    packs = " ".join(f"--policy-pack {p}" for p in POLICY_PACKS)
    commands = [
        f"pulumi login '{backend}'",
        f"pulumi stack select --create {new_stack} --secrets-provider '{secrets}'",
    ]
    if import_file:
        commands += [f"pulumi up --stack {new_stack} --yes --target '{urn}'" for urn in providers or []]
        commands.append(f"pulumi import --stack {new_stack} --file {import_file} --generate-code=false")
    else:
        commands.append(f"python -m infra ops dr adopt --stack {new_stack}  # then the commands it prints")
    commands += [
        f"pulumi preview --stack {new_stack} {packs}",
        f"pulumi up --stack {new_stack} {packs}",
        f"python -m infra ops dr status --stack {new_stack}",
    ]
    return commands
