"""``python -m infra ops``: state-backend and CI-identity bootstrap, the first-deploy preflight, audit queries and disaster-recovery commands.

Exit codes: 0 done / healthy / in sync, 1 a failed operation, an unhealthy status or objects
still missing, 2 bad config or usage. AWS errors are reported in one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DR_COMMANDS = ("status", "verify", "backfill", "prepare", "adopt", "failover")
"""The ``ops dr`` sub-commands, in runbook order (named in ``ops --help``)."""


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``ops`` sub-commands to ``parser`` (called by :mod:`infra.cli`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", help="AWS profile (default: the usual boto3 credential chain)")
    common.add_argument("--endpoint-url", help="send every AWS call to this endpoint (testing; AWS_ENDPOINT_URL works too)")
    common.add_argument("--json", metavar="PATH", help="also write the result as JSON here")
    stack_args = argparse.ArgumentParser(add_help=False)
    stack_args.add_argument("--stack", required=True, help="stack whose config names the environment and regions")
    stack_args.add_argument("--stacks-dir", metavar="DIR", help="directory of the Pulumi.<stack>.yaml files (default: stacks/)")

    sub = parser.add_subparsers(dest="ops_command", required=True, parser_class=type(parser))
    b = sub.add_parser("bootstrap-backend", parents=[common], help="create the S3 state bucket and KMS key (idempotent)")
    b.add_argument("--region", required=True, help="primary region of the state bucket and key")
    b.add_argument("--dr-region", help="replicate the bucket and key to this region")
    b.add_argument("--name", help="state bucket name (default: mlp-pulumi-state-<account>-<region>)")
    b.add_argument("--key-alias", default="alias/mlp-pulumi-state", help="KMS alias (default: %(default)s)")

    pf = sub.add_parser(
        "preflight",
        parents=[common, stack_args],
        help="check the account / project before the first deploy: GPU quotas, service-linked roles / APIs, state backend, permissions",
    )
    pf.add_argument(
        "--backend-url",
        help="Pulumi state backend to check (default: $PULUMI_BACKEND_URL, e.g. s3://bucket?region=... or gs://bucket)",
    )

    c = sub.add_parser(
        "bootstrap-ci", parents=[common], help="GitHub OIDC provider and deploy / preview roles trusted for one repository"
    )
    c.add_argument("--repo", required=True, help="the GitHub repository, owner/name")
    c.add_argument(
        "--deploy-environment",
        action="append",
        help="GitHub environment the deploy jobs run in (repeatable; default: development, staging, production)",
    )
    c.add_argument(
        "--deploy-policy-arn", action="append", default=[], help="managed policy to attach to the deploy role (repeatable)"
    )
    c.add_argument(
        "--preview-policy-arn", action="append", default=[], help="managed policy to attach to the preview role (repeatable)"
    )
    c.add_argument("--gcp-project", help="also print the gcloud commands for this GCP project's workload identity federation")
    c.add_argument("--gcp-project-number", help="its number (principal URIs use it)")
    c.add_argument("--gcp-pool", default="github", help="workload identity pool id (default: %(default)s)")
    c.add_argument("--gcp-deploy-sa", help="deploy service account email")
    c.add_argument("--gcp-preview-sa", help="preview service account email")

    au = sub.add_parser("audit", help="audit queries: who-read")
    aus = au.add_subparsers(dest="audit_command", required=True, parser_class=type(parser))
    w = aus.add_parser(
        "who-read",
        parents=[common, stack_args],
        help="who read or wrote lake objects under a prefix (data events: Athena / CloudTrail Lake query; "
        "bucket management events: LookupEvents)",
    )
    w.add_argument("--prefix", required=True, help="lake key prefix, e.g. teams/<team>/datasets/")
    w.add_argument("--since", required=True, help="start: 2026-01-31, 2026-01-31T12:00:00Z, or 7d / 12h ago")
    w.add_argument("--until", help="end (default: now)")
    w.add_argument("--zone", action="append", help="only this lake zone (repeatable; default: every zone)")
    w.add_argument("--athena-database", default="mlp_audit", help="database of the CloudTrail table (default: %(default)s)")
    w.add_argument("--athena-table", default="cloudtrail_logs", help="the CloudTrail table (default: %(default)s)")
    w.add_argument("--print-ddl", action="store_true", help="also print the CREATE TABLE for the trail bucket")
    w.add_argument("--run-athena", action="store_true", help="run the Athena query and print the events found")
    w.add_argument("--athena-output", help="s3:// location for Athena results (with --run-athena)")
    w.add_argument("--workgroup", help="Athena workgroup (with --run-athena)")
    w.add_argument("--event-data-store", help="CloudTrail Lake event data store id: also print the Lake query")
    w.add_argument("--no-lookup", action="store_true", help="skip LookupEvents (management events on the buckets)")

    dr = sub.add_parser("dr", help="disaster recovery: " + ", ".join(DR_COMMANDS))
    drs = dr.add_subparsers(dest="dr_command", required=True, parser_class=type(parser))
    s = drs.add_parser("status", parents=[common, stack_args], help="replication health and an RPO estimate")
    s.add_argument("--db-identifier", help="MLflow RDS instance (default: found by its tags)")
    for name, helptext in (
        ("verify", "compare primary and replica lake buckets"),
        ("backfill", "copy objects missing from the replicas (never deletes; re-run to resume)"),
    ):
        v = drs.add_parser(name, parents=[common, stack_args], help=helptext)
        v.add_argument("--zone", action="append", help="only this lake zone (repeatable)")
        v.add_argument("--source-bucket", help="compare this bucket ... (instead of the lake buckets)")
        v.add_argument("--dest-bucket", help="... with this one")
        v.add_argument("--prefix", default="", help="only keys under this prefix")
        if name == "backfill":
            v.add_argument("--limit", type=int, help="copy at most this many objects per bucket in this run")
    p = drs.add_parser("prepare", help="write the stack file for bringing a stack up in another region")
    p.add_argument("--from", dest="from_stack", required=True, help="the stack to move (e.g. prod)")
    p.add_argument("--region", required=True, help="the new primary region (where the replicas are)")
    p.add_argument("--stack", required=True, help="name of the new stack (e.g. prod-dr)")
    p.add_argument("--dr-region", help="DR region of the new stack (default: DR off)")
    p.add_argument("--stacks-dir", metavar="DIR", help="where stack files live (default: stacks/)")
    p.add_argument("--force", action="store_true", help="overwrite an existing stack file")
    a = drs.add_parser("adopt", parents=[common], help="write the pulumi import file adopting the replica buckets")
    a.add_argument("--stack", required=True, help="the stack made by `dr prepare` (e.g. prod-dr)")
    a.add_argument("--stacks-dir", metavar="DIR", help="where stack files live (default: stacks/)")
    a.add_argument("--out", metavar="PATH", help="import file (default: build/import-<stack>.json)")
    f = drs.add_parser("failover", parents=[common, stack_args], help="restore the MLflow DB in the DR region")
    f.add_argument("--region", help="region to restore into (default: the stack's dr.region)")
    f.add_argument("--new-stack", help="stack to bring up there (default: <stack>-dr)")
    f.add_argument("--db-identifier", help="source MLflow RDS instance (default: found by its tags)")
    f.add_argument("--target-identifier", help="name of the restored instance (default: <source>-<region>)")
    f.add_argument("--subnet-group", help="DB subnet group in the DR region")
    f.add_argument("--security-group", action="append", help="VPC security group id in the DR region (repeatable)")
    f.add_argument("--kms-key-id", help="KMS key in the DR region for copying an encrypted snapshot")
    f.add_argument("--backend-url", help="pulumi login URL (default: the state bucket in --region, found by its tag)")
    f.add_argument("--secrets-provider", help="secrets provider URL in the DR region")
    f.add_argument(
        "--import-file", metavar="PATH", help="where to write the adoption import file (default: build/import-<new stack>.json)"
    )


def _clients(args: argparse.Namespace) -> Any:
    from infra.ops.aws import Clients

    return Clients(profile=getattr(args, "profile", None), endpoint_url=getattr(args, "endpoint_url", None))


def _write_json(args: argparse.Namespace, payload: Any) -> None:
    if getattr(args, "json", None):
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _load(args: argparse.Namespace) -> Any:
    from infra import config

    return config.load_stack(args.stack, Path(args.stacks_dir) if args.stacks_dir else None)


def run(args: argparse.Namespace, clients: Any = None) -> int:
    """Run one ``ops`` command; AWS and config errors become a message and an exit code."""
    from infra import config
    from infra.ops.aws import OpsError, describe_error

    try:
        if args.ops_command == "preflight":
            return _preflight(args, clients)
        clients = clients or _clients(args)
        if args.ops_command == "bootstrap-backend":
            return _bootstrap(args, clients)
        if args.ops_command == "bootstrap-ci":
            return _bootstrap_ci(args, clients)
        if args.ops_command == "audit":
            return _who_read(args, clients)
        return {
            "status": _status,
            "verify": _sync,
            "backfill": _sync,
            "prepare": _prepare,
            "adopt": _adopt,
            "failover": _failover,
        }[args.dr_command](args, clients)
    except config.ConfigError as err:
        _err("invalid stack config:")
        for path, reason in err.problems:
            _err(f"  {path}: {reason}")
        return EXIT_USAGE
    except OpsError as err:
        _err(f"error: {err}")
        return EXIT_FAILED
    except Exception as exc:
        message = describe_error(exc)
        if message is None:
            raise
        _err(f"error: {message}")
        return EXIT_FAILED


def _preflight(args: argparse.Namespace, clients: Any) -> int:
    """Print one line per finding; exit 1 if anything is missing.

    The AWS module gets an :class:`infra.ops.aws.Clients`; other clouds get ``clients`` as passed
    (``None`` from the command line: the cloud module builds its own).
    """
    import os

    from infra.ops import preflight

    cfg = _load(args)
    backend_url = args.backend_url or os.environ.get("PULUMI_BACKEND_URL") or None
    if cfg.cloud == "aws":
        clients = clients or _clients(args)
    findings = preflight.run(cfg, clients=clients, backend_url=backend_url)
    _out(f"preflight of stack {args.stack} (cloud {cfg.cloud}):")
    for finding in findings:
        _out("  " + preflight.format_line(finding))
    missing = [f for f in findings if not f.ok]
    _out(f"{len(missing)} missing" if missing else "ready for the first deploy")
    _write_json(args, {"stack": args.stack, "cloud": cfg.cloud, "ok": not missing, "findings": [f.to_json() for f in findings]})
    return EXIT_FAILED if missing else EXIT_OK


def _bootstrap(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import bootstrap

    info = bootstrap.bootstrap(
        clients, region=args.region, dr_region=args.dr_region, name=args.name, alias=args.key_alias, log=_out
    )
    _out()
    _out("Use this backend:")
    _out(f"  pulumi login '{info.login_url}'")
    _out(f"  pulumi stack init <stack> --secrets-provider '{info.secrets_provider}'")
    if info.replica_bucket:
        _out(f"In a disaster ({info.dr_region}):")
        _out(f"  pulumi login 's3://{info.replica_bucket}?region={info.dr_region}'")
        _out(f"  --secrets-provider 'awskms://{info.alias}?region={info.dr_region}'")
    _out("GitHub repository variables for the workflows:")
    _out(f"  PULUMI_BACKEND_URL={info.login_url}")
    _out(f"  PULUMI_SECRETS_PROVIDER={info.secrets_provider}")
    _write_json(args, info.__dict__ | {"login_url": info.login_url, "secrets_provider": info.secrets_provider})
    return EXIT_OK


def _bootstrap_ci(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import ci_identity

    gcp = None
    if args.gcp_project:
        missing = [
            f"--{k}" for k in ("gcp-project-number", "gcp-deploy-sa", "gcp-preview-sa") if not getattr(args, k.replace("-", "_"))
        ]
        if missing:
            _err(f"error: --gcp-project needs {', '.join(missing)}")
            return EXIT_USAGE
        gcp = {
            "project": args.gcp_project,
            "project_number": args.gcp_project_number,
            "pool": args.gcp_pool,
            "deploy_sa": args.gcp_deploy_sa,
            "preview_sa": args.gcp_preview_sa,
        }
    try:
        ci_identity.check_repo(args.repo)
        ci_identity.deploy_subjects(args.repo, args.deploy_environment or ci_identity.DEPLOY_ENVIRONMENTS)
    except ValueError as err:
        _err(f"error: {err}")
        return EXIT_USAGE
    info = ci_identity.bootstrap_ci(
        clients,
        repo=args.repo,
        environments=args.deploy_environment or ci_identity.DEPLOY_ENVIRONMENTS,
        deploy_policies=args.deploy_policy_arn,
        preview_policies=args.preview_policy_arn,
        gcp=gcp,
        log=_out,
    )
    _out("GitHub repository variables for the workflows:")
    _out(f"  AWS_DEPLOY_ROLE_ARN={info.deploy_role_arn}   (trusted for: {', '.join(info.deploy_subjects)})")
    _out(f"  AWS_PREVIEW_ROLE_ARN={info.preview_role_arn}   (trusted for: {', '.join(info.preview_subjects)})")
    if not args.deploy_policy_arn or not args.preview_policy_arn:
        _out("note: a role without --deploy-policy-arn / --preview-policy-arn has no permissions yet; attach them")
    if info.gcp_commands:
        _out("GCP workload identity federation (run these):")
        for cmd in info.gcp_commands:
            _out(f"  {cmd}")
    _write_json(args, info.__dict__)
    return EXIT_OK


def _who_read_gcp(args: argparse.Namespace, cfg: Any, prefix: str, since: Any) -> int:
    """GCP: the Data Access logs are in the stack's audit log bucket; print the query (no Google client here)."""
    from components.gcp.data_lake import DataLakeArgs
    from infra.ops import audit
    from infra.ops.aws import OpsError

    if not cfg.audit_enabled:
        raise OpsError(
            f"stack {args.stack!r} has audit logging off (audit.enabled): Cloud Storage Data Access logs are not recorded"
        )
    project = str(cfg.gcp.project)
    zones = args.zone or list(cfg.data_lake.zones)
    buckets = [f"{project}-{cfg.environment}-{zone}" for zone in zones]
    location = DataLakeArgs(
        bucket_prefix=f"{project}-{cfg.environment}",
        zones=tuple(cfg.data_lake.zones),
        region=str(cfg.region),
        kms_key_id="",
        dr_region=cfg.dr_region,
    ).kms_location
    log_filter = audit.gcp_logging_filter(buckets=buckets, prefix=prefix, since=since)
    command = audit.gcp_read_command(
        project=project, bucket_id=f"{cfg.cluster_name}-audit", location=location, log_filter=log_filter
    )
    _out(
        f"who read / wrote gs://<lake>/{prefix}* in {args.stack} since {since:%Y-%m-%d %H:%M} UTC (Cloud Storage Data Access logs)"
    )
    _out("Logging query (Logs Explorer, scope: the audit log bucket):")
    _out(log_filter)
    _out("Or:")
    _out(command)
    _write_json(
        args,
        {
            "stack": args.stack,
            "buckets": buckets,
            "prefix": prefix,
            "since": since.isoformat(),
            "filter": log_filter,
            "command": command,
        },
    )
    return EXIT_OK


def _who_read(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import audit
    from infra.ops.aws import OpsError

    cfg = _load(args)
    if cfg.cloud not in ("aws", "gcp"):
        raise OpsError(f"stack {args.stack!r} is on cloud {cfg.cloud!r}: no cloud audit log to read (who-read knows aws and gcp)")
    prefix = audit.check_prefix(args.prefix, [t.name for t in cfg.teams])
    since = audit.parse_since(args.since)
    if cfg.cloud == "gcp":
        return _who_read_gcp(args, cfg, prefix, since)
    until = audit.parse_since(args.until) if args.until else None
    zones = args.zone or list(cfg.data_lake.zones)
    unknown = sorted(set(zones) - set(cfg.data_lake.zones))
    if unknown:
        raise OpsError(f"--zone {', '.join(unknown)}: not a lake zone; zones: {', '.join(cfg.data_lake.zones)}")
    if args.run_athena and not args.athena_output:
        raise OpsError("--run-athena needs --athena-output s3://<bucket>/<prefix>/ for the query results")
    region = str(cfg.region)
    regions = [region] + ([cfg.dr_region] if cfg.dr_region else [])
    account = clients.account_id(region)
    buckets = audit.lake_bucket_names(cfg.environment, zones, account, regions)
    query = audit.athena_query(
        database=args.athena_database, table=args.athena_table, buckets=buckets, prefix=prefix, since=since, until=until
    )
    lake = (
        audit.lake_query(event_data_store=args.event_data_store, buckets=buckets, prefix=prefix, since=since)
        if args.event_data_store
        else None
    )
    result = audit.WhoRead(
        stack=args.stack, buckets=buckets, prefix=prefix, since=since.isoformat(), athena_query=query, lake_query=lake
    )
    _out(f"who read / wrote s3://<lake>/{prefix}* in {args.stack} since {since:%Y-%m-%d %H:%M} UTC")
    _out("Object reads and writes are CloudTrail data events: LookupEvents does not return them. Athena query:")
    _out(query)
    if args.print_ddl:
        _out("Table over the trail bucket (run once):")
        _out(
            audit.athena_ddl(
                database=args.athena_database,
                table=args.athena_table,
                bucket=f"mlp-{cfg.environment}-audit-{account}-{region}",
                account_id=account,
                regions=regions,
            )
        )
    if lake:
        _out("CloudTrail Lake query:")
        _out(lake)
    if not args.no_lookup:
        result.management_events = audit.management_events(clients.client("cloudtrail", region), buckets, since, until)
        _out(
            f"Bucket management events on the lake buckets (LookupEvents, last 90 days, {region}): {len(result.management_events)}"
        )
        for ev in result.management_events:
            _out(f"  {ev.time}  {ev.principal}  {ev.event}  {ev.bucket}  {ev.source_ip}")
    if args.run_athena:
        exec_id, rows = audit.run_athena(
            clients.client("athena", region), query, output=args.athena_output, workgroup=args.workgroup
        )
        result.query_execution_id, result.data_events = exec_id, rows
        _out(f"Data events under the prefix (Athena {exec_id}): {len(rows)}")
        for row in rows:
            _out(
                "  "
                + "  ".join(row.get(c, "") for c in ("eventtime", "principal", "eventname", "bucket", "objectkey", "sourceip"))
            )
    _out(
        "Not covered: reads before the trail recorded data events, copies outside S3 (pod disks, caches, the online store), "
        "the last ~15 minutes (delivery delay); presigned URLs show the signer."
    )
    _write_json(args, result.to_json())
    return EXIT_OK


def _status(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import dr

    result = dr.status(clients, args.stack, _load(args), db_identifier=args.db_identifier)
    _out(f"DR status of {result.stack}: {result.region} -> {result.dr_region or '(no DR region)'}")
    for check in result.checks:
        rpo_note = f"  [RPO ~{check.rpo_minutes:g} min]" if check.rpo_minutes is not None else ""
        _out(f"  {'ok  ' if check.ok else 'FAIL'} {check.what}: {check.detail}{rpo_note}")
    rpo = result.rpo_minutes
    _out("RPO estimate: " + (f"{rpo:g} minutes" if rpo is not None else "unbounded (something is not replicated)"))
    _write_json(args, result.to_json())
    return EXIT_OK if result.healthy else EXIT_FAILED


def _pairs(args: argparse.Namespace, clients: Any) -> list[tuple[str, str, str, str, str]]:
    """(label, source, source region, dest, dest region) of every bucket pair to compare."""
    from infra.ops import discovery
    from infra.ops.aws import OpsError

    if args.source_bucket or args.dest_bucket:
        if not (args.source_bucket and args.dest_bucket):
            raise OpsError("--source-bucket and --dest-bucket go together")
        src, dst = args.source_bucket, args.dest_bucket
        return [(src, src, discovery.bucket_region(clients, src), dst, discovery.bucket_region(clients, dst))]
    cfg = _load(args)
    pairs = discovery.lake_pairs(clients, cfg.environment)
    if args.zone:
        unknown = set(args.zone) - {p.zone for p in pairs}
        if unknown:
            raise OpsError(f"no primary lake bucket for zone(s) {', '.join(sorted(unknown))} in {cfg.environment}")
        pairs = [p for p in pairs if p.zone in args.zone]
    if not pairs:
        raise OpsError(f"no primary lake buckets tagged for environment {cfg.environment!r}")
    out = []
    for p in pairs:
        if p.replica is None:
            raise OpsError(f"lake zone {p.zone}: {p.primary.name} has no replica bucket (no replication rule, no replica tag)")
        if not p.replica.exists:
            raise OpsError(f"lake zone {p.zone}: replica bucket {p.replica.name} does not exist; recreate it (pulumi up) first")
        out.append((f"zone {p.zone}", p.primary.name, p.primary.region, p.replica.name, p.replica.region))
    return out


def _sync(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import inventory

    copy = args.dr_command == "backfill"
    report = []
    all_ok = True
    for label, src, src_region, dst, dst_region in _pairs(args, clients):
        cmp = inventory.compare(clients, src, src_region, dst, dst_region, args.prefix)
        entry: dict[str, Any] = {"label": label, "before": cmp.to_json()}
        line = cmp.to_json()
        _out(
            f"{label}: {src} -> {dst}: {line['source_objects']} objects ({line['source_bytes']} B), "
            f"{line['equal']} equal, {line['missing']} missing ({line['missing_bytes']} B), "
            f"{line['different']} different ({line['different_bytes']} B), {line['only_in_replica']} only in the replica (kept)"
        )
        if copy and cmp.to_copy:
            done = inventory.backfill(clients, cmp, src_region, dst_region, limit=args.limit, log=_out)
            entry["backfill"] = done.to_json()
            _out(f"  copied {done.copied} objects ({done.copied_bytes} B); {done.remaining} left for the next run")
            cmp = inventory.compare(clients, src, src_region, dst, dst_region, args.prefix)
            entry["after"] = cmp.to_json()
        all_ok &= cmp.in_sync
        report.append(entry)
    _out("in sync" if all_ok else ("not in sync: run `ops dr backfill`" if not copy else "not in sync yet: run backfill again"))
    _write_json(args, {"in_sync": all_ok, "pairs": report})
    return EXIT_OK if all_ok else EXIT_FAILED


def _prepare(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import dr

    path, cfg = dr.prepare(
        args.from_stack,
        args.stack,
        args.region,
        dr_region=args.dr_region,
        stacks_dir=Path(args.stacks_dir) if args.stacks_dir else None,
        force=args.force,
    )
    _out(f"wrote {path}: region {cfg.region}, DR {cfg.dr_region or 'off'} (validated)")
    _out(f"check it offline: python -m infra plan --stack {args.stack}")
    return EXIT_OK


def _adopt(args: argparse.Namespace, clients: Any) -> int:
    from infra.ops import dr

    path, providers = dr.write_adoption(
        clients,
        args.stack,
        stacks_dir=Path(args.stacks_dir) if args.stacks_dir else None,
        path=Path(args.out) if args.out else None,
        log=_out,
    )
    _out("then:")
    for urn in providers:
        _out(f"  pulumi up --stack {args.stack} --yes --target '{urn}'")
    _out(f"  pulumi import --stack {args.stack} --file {path} --generate-code=false")
    _write_json(args, {"import_file": str(path), "providers": providers})
    return EXIT_OK


def _failover(args: argparse.Namespace, clients: Any) -> int:
    from infra import config
    from infra.ops import dr
    from infra.ops.aws import OpsError

    cfg = _load(args)
    region = args.region or cfg.dr_region
    if not region:
        raise OpsError(f"stack {args.stack!r} has no dr.region; pass --region")
    if region == cfg.region:
        raise OpsError(f"--region {region} is the stack's primary region; fail over to another region")
    result = dr.failover(
        clients,
        cfg,
        region=region,
        new_stack=args.new_stack or f"{args.stack}-dr",
        db_identifier=args.db_identifier,
        target_identifier=args.target_identifier,
        subnet_group=args.subnet_group,
        security_groups=args.security_group,
        kms_key_id=args.kms_key_id,
        backend_url=args.backend_url,
        secrets_provider=args.secrets_provider,
        stacks_dir=Path(args.stacks_dir) if args.stacks_dir else None,
        import_path=Path(args.import_file) if args.import_file else None,
        log=_out,
    )
    _out(f"MLflow database {result.source} -> {result.target} in {result.region}: {result.method}")
    _out(f"  restore point: {result.restore_point or '?'}, status: {result.status or '?'} {result.endpoint}")
    _out("Bring the platform up there:")
    new_stack = args.new_stack or f"{args.stack}-dr"
    if not config.stack_file(new_stack, Path(args.stacks_dir) if args.stacks_dir else None).is_file():
        _out(f"  python -m infra ops dr prepare --from {args.stack} --region {region} --stack {new_stack}")
    for command in result.commands:
        _out(f"  {command}")
    _write_json(args, result.to_json())
    return EXIT_OK
