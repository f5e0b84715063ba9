"""``python -m infra report chargeback``: argument parsing and sources for :mod:`infra.chargeback`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="report", required=True, parser_class=type(parser))
    c = sub.add_parser(
        "chargeback", help="per team / cost center: GPU-hours by model, spend, budget and variance, idle GPU-hours"
    )
    c.add_argument("--stack", required=True, help="stack name: reads stacks/Pulumi.<stack>.yaml (teams, budgets, pools)")
    c.add_argument("--month", required=True, help="YYYY-MM")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", dest="format", const="json")
    fmt.add_argument("--csv", action="store_const", dest="format", const="csv")
    fmt.add_argument("--markdown", action="store_const", dest="format", const="markdown")
    c.add_argument("--opencost-url", help="OpenCost API base URL (e.g. http://localhost:9003 after kubectl port-forward)")
    c.add_argument("--opencost-recorded", metavar="DIR", help="DIR/allocation.json and DIR/assets.json instead of the API")
    c.add_argument(
        "--bill",
        choices=("none", "aws", "gcp"),
        default="none",
        help="scale the split to the bill: aws = Cost Explorer, gcp = BigQuery billing export",
    )
    c.add_argument("--bigquery-table", help="gcp: billing export table project.dataset.table")
    c.add_argument("--bigquery-recorded", metavar="FILE", help="gcp: a recorded jobs.query answer (JSON) instead of BigQuery")
    c.add_argument("--stacks-dir", metavar="DIR", help=argparse.SUPPRESS)


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def run(args: argparse.Namespace, err: Any) -> int:
    from infra import chargeback, config

    try:
        start, end = chargeback.month_window(args.month)
    except ValueError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_USAGE
    try:
        cfg = config.load_stack(args.stack, Path(args.stacks_dir) if args.stacks_dir else None)
    except config.ConfigError as exc:
        err.print(f"invalid stack config for {args.stack!r}:")
        for path, reason in exc.problems:
            err.print(f"  {path}: {reason}", markup=False)
        return EXIT_USAGE
    if bool(args.opencost_url) == bool(args.opencost_recorded):
        err.print("error: give exactly one of --opencost-url or --opencost-recorded")
        return EXIT_USAGE
    if (args.bill == "aws" and cfg.cloud != "aws") or (args.bill == "gcp" and cfg.cloud != "gcp"):
        err.print(f"error: --bill {args.bill} does not match the stack's cloud {cfg.cloud!r}")
        return EXIT_USAGE
    try:
        if args.opencost_recorded:
            d = Path(args.opencost_recorded)
            allocations, assets = _load(d / "allocation.json"), _load(d / "assets.json")
        else:
            allocations, assets = chargeback.fetch_opencost(args.opencost_url, start, end)
        bill = None
        if args.bill == "aws":
            import boto3

            bill = chargeback.cost_explorer_total(
                boto3.client("ce", region_name="us-east-1"), environment=cfg.environment, start=start, end=end
            )
        elif args.bill == "gcp":
            if not args.bigquery_recorded:
                err.print(
                    "error: --bill gcp reads a recorded jobs.query answer (--bigquery-recorded); run the query printed by "
                    "`--bigquery-table T` with bq / the console (live BigQuery access is not built in)"
                )
                if args.bigquery_table:
                    print(chargeback.bigquery_sql(args.bigquery_table, cluster=cfg.cluster_name, start=start, end=end))
                return EXIT_USAGE
            bill = chargeback.bigquery_total(_load(Path(args.bigquery_recorded))["rows"])
        report = chargeback.build(
            cfg,
            stack=args.stack,
            month=args.month,
            allocations=allocations,
            assets=assets,
            bill_total=bill,
            bill_source={"none": "opencost", "aws": "cost-explorer", "gcp": "bigquery"}[args.bill],
        )
    except (chargeback.ChargebackError, OSError, KeyError, ValueError) as exc:
        err.print(f"chargeback failed: {type(exc).__name__}: {exc}", markup=False)
        return EXIT_FAILED
    except Exception as exc:  # botocore errors and the like: one line, no traceback
        err.print(f"chargeback failed: {type(exc).__name__}: {exc}", markup=False)
        return EXIT_FAILED
    if args.format == "csv":
        print(chargeback.to_csv(report), end="")
    elif args.format == "markdown":
        print(chargeback.to_markdown(report), end="")
    else:
        print(json.dumps(report.to_json(), indent=2))
    return EXIT_OK
