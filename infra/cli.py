"""``python -m infra``: the offline plan, the saved-plan check, the plan diff and the ops tooling.

Exit codes: 0 clean, 1 mandatory policy violations or deploy-lifecycle problems (or a failed operation, or
``diff --fail-on`` tripped), 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from rich.console import Console

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # one line per problem, whatever the width


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with a one-line reason
        self.print_usage(sys.stderr)
        err_console.print(f"error: {message}")
        raise SystemExit(EXIT_USAGE)


def _cmd_plan(args: argparse.Namespace) -> int:
    from infra import config
    from infra.plan import engine, report

    try:
        result = engine.plan(args.stack, stacks_dir=Path(args.stacks_dir) if args.stacks_dir else None)
    except config.ConfigError as err:
        err_console.print(f"invalid stack config for {args.stack!r}:")
        for path, reason in err.problems:
            err_console.print(f"  {path}: {reason}", markup=False)
        return EXIT_USAGE
    except engine.PlanError as err:
        err_console.print(f"plan failed: {err}", markup=False)
        return EXIT_VIOLATIONS
    if args.json:
        report.write_json(result, Path(args.json))
    if args.markdown:
        report.write_markdown(result, Path(args.markdown))
    if args.manifests:
        report.write_manifests(result, Path(args.manifests))
    report.print_summary(result, Console(highlight=False))
    return EXIT_VIOLATIONS if result.failed else EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        from infra import check
    except ImportError:
        err_console.print("check is not available in this version")
        return EXIT_USAGE
    return check.run(args)


def _cmd_diff(args: argparse.Namespace) -> int:
    import json

    from infra.plan import diff

    try:
        result = diff.diff(diff.load(Path(args.base)), diff.load(Path(args.head)))
    except diff.DiffInputError as err:
        err_console.print(f"error: {err}", markup=False)
        return EXIT_USAGE
    outputs = {args.json: json.dumps(result, indent=2) + "\n", args.markdown: diff.markdown(result)}
    for path, text in outputs.items():
        if not path:
            continue
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        except OSError as err:
            err_console.print(f"error: cannot write {path}: {err.strerror or err}", markup=False)
            return EXIT_USAGE
    console = Console(highlight=False)
    console.print(f"{result['stack']}: " + ("no change" if result["empty"] else diff.headline(result)), markup=False)
    for p in result["protected"]:
        console.print(f"  PROTECTED {p['action']}: {p['urn']}", markup=False)
    if args.fail_on == "replace-protected" and result["protected"]:
        err_console.print(f"{len(result['protected'])} protected resource(s) would be deleted or replaced", markup=False)
        return EXIT_VIOLATIONS
    return EXIT_OK


def _cmd_workload(args: argparse.Namespace) -> int:
    from infra import workload

    return workload.run(args, lambda line: err_console.print(f"error: {line}", markup=False))


def _cmd_ops(args: argparse.Namespace) -> int:
    from infra.ops import cli as ops_cli

    return ops_cli.run(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from infra import report_cli

    return report_cli.run(args, err_console)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m infra", description="ml-platform: offline plan, policy check and ops tooling")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("plan", help="plan a stack offline under Pulumi's mock engine (no cloud, no Pulumi CLI)")
    p.add_argument("--stack", required=True, help="stack name: reads stacks/Pulumi.<stack>.yaml")
    p.add_argument("--json", metavar="PATH", help="write the plan JSON here")
    p.add_argument("--markdown", metavar="PATH", help="write a pull-request comment here")
    p.add_argument("--manifests", metavar="DIR", help="write every Kubernetes object as YAML into DIR")
    p.add_argument("--stacks-dir", metavar="DIR", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_plan)

    c = sub.add_parser("check", help="evaluate the policy packs against a saved plan JSON or `pulumi preview --json`")
    c.add_argument("file", help="plan JSON of ours, or the output of `pulumi preview --json`")
    c.add_argument("--stack", help="stack whose config sets environment and budget (default: from the file)")
    c.set_defaults(func=_cmd_check)

    d = sub.add_parser("diff", help="what changes between two plan JSONs: resources, replacements, cost, violations")
    d.add_argument("base", help="plan JSON of the base (e.g. the target branch)")
    d.add_argument("head", help="plan JSON of the head (the pull request)")
    d.add_argument("--markdown", metavar="PATH", help="write a pull-request comment here")
    d.add_argument("--json", metavar="PATH", help="write the diff as JSON here")
    d.add_argument(
        "--fail-on", choices=["replace-protected"], help="exit 1 when a protected resource would be replaced or deleted"
    )
    d.set_defaults(func=_cmd_diff)

    w = sub.add_parser("workload", help="workload templates: render a training / batch / serving manifest for a team")
    from infra import workload

    workload.add_arguments(w)
    w.set_defaults(func=_cmd_workload)

    r = sub.add_parser("report", help="reports from the running platform (chargeback)")
    from infra import report_cli

    report_cli.add_arguments(r)
    r.set_defaults(func=_cmd_report)

    ops_cli: ModuleType | None
    try:
        from infra.ops import cli as ops_cli
    except ImportError:
        ops_cli = None
    if ops_cli is not None:
        o = sub.add_parser(
            "ops", help="state backend and CI identity bootstrap, audit queries (who-read), disaster-recovery tooling (boto3)"
        )
        ops_cli.add_arguments(o)
        o.set_defaults(func=_cmd_ops)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
