"""Print how long the offline plan takes per stack, how big it is, and what it estimates.

    python bench/plan_speed.py [--repeat N] [STACK ...]     (default: every stack in stacks/)

Numbers are printed, never asserted: a benchmark, not a test. Per stack: best and median wall
time of ``engine.plan`` over ``--repeat`` runs, the time of the cost estimate alone, resource
counts (custom / component / Kubernetes / Helm), the plan JSON size, and the estimate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import cost  # noqa: E402
from infra.plan import engine  # noqa: E402


def _stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def bench(stack: str, repeat: int) -> dict[str, object]:
    times = []
    plan = None
    for _ in range(repeat):
        start = time.perf_counter()
        plan = engine.plan(stack)
        times.append(time.perf_counter() - start)
    assert plan is not None
    start = time.perf_counter()
    cost.estimate(plan)
    cost_ms = (time.perf_counter() - start) * 1000
    resources = plan.resources
    custom = [r for r in resources if r.custom and not r.type.startswith("pulumi:providers:")]
    return {
        "stack": stack,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "cost_ms": cost_ms,
        "resources": len(resources),
        "custom": len(custom),
        "components": sum(1 for r in resources if not r.custom),
        "kubernetes": sum(1 for r in custom if r.type.startswith("kubernetes:")),
        "helm": sum(1 for r in custom if r.type == "kubernetes:helm.sh/v3:Release"),
        "json_kb": len(json.dumps(plan.to_json(), indent=2)) / 1024,
        "violations": len(plan.violations),
        "idle_usd": plan.cost.get("monthly_usd_idle", 0.0),
        "ceiling_usd": plan.cost.get("monthly_usd", 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stacks to plan (default: all in stacks/)")
    parser.add_argument("--repeat", type=int, default=3, help="plans per stack (default 3)")
    args = parser.parse_args(argv)
    stacks = args.stacks or _stacks()
    header = f"{'stack':<10} {'best s':>7} {'median s':>9} {'cost ms':>8} {'res':>5} {'custom':>6} {'comp':>5} {'k8s':>5} {'helm':>5} {'JSON KB':>8} {'viol':>5} {'idle $/mo':>11} {'ceiling $/mo':>13}"
    print(header)
    print("-" * len(header))
    for stack in stacks:
        r = bench(stack, max(1, args.repeat))
        print(
            f"{r['stack']:<10} {r['best_s']:>7.2f} {r['median_s']:>9.2f} {r['cost_ms']:>8.1f} {r['resources']:>5} {r['custom']:>6} "
            f"{r['components']:>5} {r['kubernetes']:>5} {r['helm']:>5} {r['json_kb']:>8.1f} {r['violations']:>5} "
            f"{r['idle_usd']:>11,.0f} {r['ceiling_usd']:>13,.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
