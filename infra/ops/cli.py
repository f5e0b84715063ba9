"""``python -m infra ops``: state-backend bootstrap and disaster-recovery commands.

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
    f.add_argument("--import-file", metavar="PATH", help="where to write the adoption import file (default: build/import-<new stack>.json)")


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
        clients = clients or _clients(args)
        if args.ops_command == "bootstrap-backend":
            return _bootstrap(args, clients)
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
