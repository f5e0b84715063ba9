"""Print each stack's cost estimate broken down by category and its most expensive items.

    python bench/cost_breakdown.py [--top N] [STACK ...]     (default: every stack in stacks/)

Numbers are printed, never asserted. Categories come from ``catalog.cost_model`` (gpu, compute,
network, control-plane, database, cache, storage, security).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.plan import engine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stacks (default: all in stacks/)")
    parser.add_argument("--top", type=int, default=5, help="most expensive items to list (default 5)")
    args = parser.parse_args(argv)
    stacks = args.stacks or sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    for stack in stacks:
        c = engine.plan(stack).cost
        print(
            f"\n== {stack}: ${c['monthly_usd']:,.0f}/month at ceiling, ${c['monthly_usd_idle']:,.0f} idle (prices of {c.get('price_date')})"
        )
        cats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for item in c["by_item"]:
            cats[item["category"]][0] += item["monthly_usd_idle"]
            cats[item["category"]][1] += item["monthly_usd"]
        print(f"  {'category':<14} {'idle $/mo':>12} {'ceiling $/mo':>13}")
        for cat, (idle, ceiling) in sorted(cats.items(), key=lambda kv: -kv[1][1]):
            print(f"  {cat:<14} {idle:>12,.0f} {ceiling:>13,.0f}")
        print(f"  top {args.top} items at ceiling:")
        for item in sorted(c["by_item"], key=lambda i: -i["monthly_usd"])[: args.top]:
            print(f"  {item['monthly_usd']:>12,.0f}  {item['urn'].rsplit('::', 1)[-1]}: {item['basis']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
