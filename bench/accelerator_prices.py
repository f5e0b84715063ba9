"""Print the accelerator catalog as a price table: per family, $ per accelerator-hour by region.

    python bench/accelerator_prices.py [--region aws=eu-central-1] [--region gcp=europe-west4]

Numbers are printed (Markdown), never asserted; README's catalog table is this output. Per family:
the accelerator, the largest shape's accelerators per node, EFA interfaces (AWS) / GPU NICs (GCP),
and the on-demand and estimated spot price per accelerator-hour of the family's cheapest shape per
accelerator, in the reference region and in the region given (catalog regional factor).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog import gpus  # noqa: E402


def rows(cloud: str, region: str) -> list[list[str]]:
    out = []
    for family in gpus.families(cloud):
        shapes = [n for n in gpus.node_types(cloud) if n.family == family]
        cheapest = min(shapes, key=lambda n: (n.on_demand_usd_hour / n.gpus, n.name))
        biggest = max(shapes, key=lambda n: (n.gpus, n.vcpu))
        per = cheapest.gpus
        out.append(
            [
                cloud,
                family,
                cheapest.gpu,
                str(biggest.gpus),
                str(biggest.efa_interfaces if cloud == "aws" else biggest.gpu_nics),
                f"{cheapest.hourly_usd(spot=False) / per:.2f}",
                f"{cheapest.hourly_usd(spot=False, region=region) / per:.2f}",
                f"{cheapest.hourly_usd(spot=True, region=region) / per:.2f}",
            ]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--region", action="append", default=[], help="cloud=region to price in (default aws=eu-central-1, gcp=europe-west4)"
    )
    args = parser.parse_args(argv)
    regions = {"aws": "eu-central-1", "gcp": "europe-west4"}
    regions.update(dict(r.split("=", 1) for r in args.region))
    print(
        f"prices of {gpus.PRICE_DATE}; reference regions {gpus.REFERENCE_REGION['aws']} / {gpus.REFERENCE_REGION['gcp']}; "
        f"other regions {regions['aws']} (x {gpus.region_multiplier('aws', regions['aws']):g}) / "
        f"{regions['gcp']} (x {gpus.region_multiplier('gcp', regions['gcp']):g})\n"
    )
    head = [
        "cloud",
        "family",
        "accelerator",
        "per node (max)",
        "EFA / GPU NICs",
        "$/accel-h ref",
        "$/accel-h region",
        "spot $/accel-h region",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
    for cloud in ("aws", "gcp"):
        for row in rows(cloud, regions[cloud]):
            print("| " + " | ".join(row) + " |")
    refused = ", ".join(f"{n} ({c})" for c, n in gpus.UNSUPPORTED)
    print(f"\nrefused (config exits 2 with the reason): {refused}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
