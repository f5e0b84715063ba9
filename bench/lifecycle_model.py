"""Print what the deploy-lifecycle model costs per stack, and its waves as Mermaid.

    python bench/lifecycle_model.py [--repeat N] [STACK ...]   (default: every stack in stacks/)
    python bench/lifecycle_model.py --mermaid dev              (the create waves of one stack, for docs)

Numbers are printed, never asserted. Per stack: the plan time, the best and median time of
``lifecycle.analyze`` on the planned resources over ``--repeat`` runs, wave counts and problems.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.plan import engine, lifecycle  # noqa: E402


def _stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stacks to plan (default: all in stacks/)")
    parser.add_argument("--repeat", type=int, default=20, help="model runs per stack (default 20)")
    parser.add_argument("--mermaid", metavar="STACK", help="print the create waves of STACK as a Mermaid flowchart and exit")
    parser.add_argument("--destroy", action="store_true", help="with --mermaid: the destroy waves")
    args = parser.parse_args(argv)
    if args.mermaid:
        print(lifecycle.mermaid(engine.plan(args.mermaid).lifecycle, destroy=args.destroy))
        return 0
    header = f"{'stack':<10} {'plan s':>7} {'model best ms':>14} {'model median ms':>16} {'custom':>7} {'create waves':>13} {'destroy waves':>14} {'problems':>9}"
    print(header)
    print("-" * len(header))
    for stack in args.stacks or _stacks():
        start = time.perf_counter()
        plan = engine.plan(stack)
        plan_s = time.perf_counter() - start
        times = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            lc = lifecycle.analyze(plan.resources, plan.config.environment)
            times.append((time.perf_counter() - start) * 1000)
        custom = sum(1 for r in plan.resources if r.custom)
        print(
            f"{stack:<10} {plan_s:>7.2f} {min(times):>14.1f} {statistics.median(times):>16.1f} {custom:>7} "
            f"{len(lc.create_waves):>13} {len(lc.destroy_waves):>14} {len(lc.problems):>9}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
