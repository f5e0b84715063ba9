"""Plan-time check that every zone the config names is a zone of the VPC (``network.azCount``).

The VPC spans the first ``network.azCount`` available zones of the region, which only the
``get_availability_zones`` invoke knows (``components.aws.network``): a pool pinned to another zone
(``gpuPools[].zone``, or its reservation's ``reservation.zone``) gets a NodePool requirement no subnet
satisfies, so Karpenter never launches it (a reservation in that zone is paid and never used), and a
managed node group or the Lustre file system has no subnet at all. The check runs on the invoke's
answer, in ``pulumi preview`` as in the offline plan, and fails like a config check: exit 2, one line
per key (a ``ConfigError`` raised by an apply that no resource consumes reaches the CLI unwrapped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from infra import config

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation


def zone_problems(cfg: config.PlatformConfig, vpc_zones: Sequence[str]) -> list[tuple[str, str]]:
    """``(key path, reason)`` for each configured zone outside ``vpc_zones``."""
    zones = list(vpc_zones)
    named: list[tuple[str, str | None]] = []
    for i, pool in enumerate(cfg.gpu_pools):
        key = f"{config.NAMESPACE}:gpuPools[{i}]"
        named.append((f"{key}.zone", pool.zone))
        if pool.reserved and pool.reservation is not None:
            named.append((f"{key}.reservation.zone", pool.reservation.zone))
    lustre = cfg.data_lake.lustre
    if lustre is not None:
        named.append((f"{config.NAMESPACE}:dataLake.lustre.availabilityZone", lustre.availability_zone))
    allowed = ", ".join(zones)
    return [
        (
            path,
            f"{zone!r} is not a zone of this VPC, which spans the region's first {len(zones)} zones (network.azCount): "
            f"no subnet there, so nothing launches; allowed: {allowed} (or raise network.azCount)",
        )
        for path, zone in named
        if zone is not None and zone not in zones
    ]


def check(cfg: config.PlatformConfig, foundation: AwsFoundation) -> None:
    """Fail the program with a :class:`~infra.config.ConfigError` once the VPC's zones are known."""

    def verify(zones: list[str]) -> list[str]:
        problems = zone_problems(cfg, zones)
        if problems:
            raise config.ConfigError(problems)
        return zones

    foundation.vpc.availability_zones.apply(verify)
