"""Teams: names, access entries, and whether their quotas fit the pools."""

from __future__ import annotations

from collections.abc import Iterator

from catalog import conventions as cv
from catalog import gpus as catalog
from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig

RESERVED_NAMESPACES = frozenset(cv.KUBERNETES_NAMESPACES + cv.PLATFORM_NAMESPACES)
"""Names no team may have: Kubernetes' own namespaces and the platform's."""


def team_checks(cfg: PlatformConfig, *, totals: bool = True) -> Iterator[Problem]:
    ns = NAMESPACE + ":"
    seen: set[str] = set()
    profiles = {p.mig_profile for p in cfg.gpu_pools if p.mig_profile}
    for i, team in enumerate(cfg.teams):
        key = f"{ns}teams[{i}]"
        if team.name in seen:
            yield f"{key}.name", f"duplicate team name {team.name!r}; team names must be unique"
        if team.name in RESERVED_NAMESPACES:
            yield f"{key}.name", f"{team.name!r} is a platform namespace; reserved: {', '.join(sorted(RESERVED_NAMESPACES))}"
        seen.add(team.name)
        if (team.owner_role_arns or team.viewer_role_arns) and cfg.cloud != "aws":
            yield f"{key}.ownerRoleArns", f"EKS access entries; on cloud {cfg.cloud!r} map the groups in your identity provider"
        if team.pod_security == "privileged" and not any(p.gpu_direct for p in cfg.gpu_pools):
            yield (
                f"{key}.podSecurity",
                "'privileged' lifts Pod Security for GPUDirect jobs (hostPath to the node's NCCL plugin) and needs a "
                "gpuPools[] entry with gpuDirect: true; allowed here: baseline, restricted",
            )
        if team.viewer_role_arns and not team.viewers:
            yield f"{key}.viewerRoleArns", "needs viewers (the group these roles join)"
        for arn in {*team.owner_role_arns, *team.viewer_role_arns} & set(cfg.cluster.admin_role_arns):
            yield (
                f"{key}.ownerRoleArns",
                f"{arn!r} is already a cluster admin (cluster.adminRoleArns); one access entry per principal",
            )
        for profile in team.quotas.mig:
            if totals and profile not in profiles:  # with a bad pool its profile may be what is missing
                offered = ", ".join(sorted(profiles)) or "none (no pool sets migProfile)"
                yield f"{key}.quotas.mig.{profile}", f"no GPU pool offers MIG profile {profile!r}; allowed: {offered}"
    if not totals:
        return
    try:
        capacity = gpu_capacity(cfg)
    except (catalog.CatalogError, IndexError, ValueError):
        return  # already reported by the pool checks
    neuron = capacity.pop(catalog.NEURON_RESOURCE, 0)
    wanted = sum(t.quotas.neuron for t in cfg.teams)
    if wanted > int(neuron * cfg.gpu_overcommit):
        yield (
            f"{ns}teams[*].quotas.neuron",
            f"team Neuron quotas add up to {wanted} devices, above the {neuron} Neuron devices of the Trainium / Inferentia "
            f"pools x gpuOvercommit {cfg.gpu_overcommit:g} = {int(neuron * cfg.gpu_overcommit)}; lower the quotas or raise the pools",
        )
    wanted = sum(t.quotas.gpu for t in cfg.teams)
    allowed = int(capacity.get(None, 0) * cfg.gpu_overcommit)
    if wanted > allowed:
        yield (
            f"{ns}teams[*].quotas.gpu",
            f"team GPU quotas add up to {wanted}, above the GPU ceiling {capacity.get(None, 0)} of the pools without "
            f"migProfile x gpuOvercommit {cfg.gpu_overcommit:g} = {allowed}; lower the quotas, raise the pools or gpuOvercommit",
        )
    for profile in sorted(p for p in capacity if p is not None):
        wanted = sum(t.quotas.mig.get(profile, 0) for t in cfg.teams)
        allowed = int(capacity[profile] * cfg.gpu_overcommit)
        if wanted > allowed:
            yield (
                f"{ns}teams[*].quotas.mig.{profile}",
                f"team MIG quotas add up to {wanted} slices, above the {capacity[profile]} {profile} slices the pools can "
                f"hold x gpuOvercommit {cfg.gpu_overcommit:g} = {allowed}; lower the quotas, raise the pools or gpuOvercommit",
            )


def gpu_capacity(cfg: PlatformConfig) -> dict[str | None, int]:
    """What team quotas draw on: ``None`` -> whole GPUs of the pools without ``migProfile``,
    MIG profile -> slices of the pools partitioned with it (GPU ceiling x slices per GPU),
    ``aws.amazon.com/neuron`` -> Neuron devices of the Trainium / Inferentia pools.

    A MIG-partitioned pool offers no whole GPUs, so its GPUs never back ``quotas.gpu``.

    :raises catalog.CatalogError: a pool's GPU does not offer its ``migProfile``.
    """
    out: dict[str | None, int] = {None: 0}
    for pool in cfg.gpu_pools:
        if cfg.pool_gpu(pool).is_neuron:  # Neuron devices back quotas.neuron, never quotas.gpu
            out[catalog.NEURON_RESOURCE] = out.get(catalog.NEURON_RESOURCE, 0) + cfg.pool_gpu_ceiling(pool)
            continue
        per_gpu = cfg.pool_gpu(pool).mig_profiles.get(pool.mig_profile) if pool.mig_profile else 1
        if not per_gpu:
            raise catalog.CatalogError(f"pool {pool.name!r}: its GPU has no MIG profile {pool.mig_profile!r}")
        out[pool.mig_profile] = out.get(pool.mig_profile, 0) + cfg.pool_gpu_ceiling(pool) * per_gpu
    return out
