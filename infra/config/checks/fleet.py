"""A fleet stack on its own (its peers are checked by :func:`infra.config.load.check_fleet_stacks`)."""

from __future__ import annotations

from collections.abc import Iterator

from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def fleet_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """``fleet``: what one stack file can tell (the other stacks are checked by :func:`check_fleet_stacks`)."""
    fleet = cfg.fleet
    key = f"{NAMESPACE}:fleet"
    if fleet.role == "none":
        if fleet.workers or fleet.manager or fleet.api_server:
            yield (f"{key}.role", "is 'none' but workers / manager / apiServer are set; allowed roles: manager, worker")
        return
    if not cfg.kueue.enabled:
        yield (f"{NAMESPACE}:kueue.enabled", f"is false, but fleet.role is {fleet.role!r}: MultiKueue is part of Kueue")
    if not cfg.teams:
        yield (f"{NAMESPACE}:teams", f"is empty, but fleet.role is {fleet.role!r}: a fleet dispatches the teams' jobs")
    teams = [t.name for t in cfg.teams]
    if fleet.role == "manager":
        if fleet.manager or fleet.api_server:
            yield (f"{key}.manager", "manager and apiServer are worker settings; a manager lists its workers")
        if not fleet.workers:
            yield (f"{key}.workers", "is empty; a manager needs at least one worker (stack or kubeconfig)")
        if len(fleet.workers) > 20:
            yield (f"{key}.workers", f"has {len(fleet.workers)} workers; a MultiKueueConfig holds at most 20")
        names = [w.name for w in fleet.workers]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            yield (f"{key}.workers", f"worker name {dup!r} is used twice; names must be unique")
        for i, w in enumerate(fleet.workers):
            where = f"{key}.workers[{i}]"
            if (w.stack is None) == (w.kubeconfig is None):
                yield (
                    where,
                    f"worker {w.name!r} needs exactly one of 'stack' (a stack of this project) or 'kubeconfig' (a cluster we do not manage)",
                )
            elif w.kubeconfig is not None:
                missing = [t for t in teams if t not in w.quotas]
                unknown = [t for t in w.quotas if t not in teams]
                if missing:
                    yield (
                        f"{where}.quotas",
                        f"lacks teams {missing}; a kubeconfig worker states what it admits for every team: {teams}",
                    )
                if unknown:
                    yield (f"{where}.quotas", f"names teams {unknown} the manager does not have; allowed: {teams}")
            elif w.quotas:
                yield (f"{where}.quotas", f"is read from stack {w.stack!r}; set quotas only on a kubeconfig worker")
    else:  # worker
        if fleet.workers:
            yield (f"{key}.workers", "a worker lists no workers; set fleet.role: manager on the manager stack")
        if not fleet.manager:
            yield (f"{key}.manager", "is missing; a worker names the manager stack whose teams it mirrors")
        if cfg.cloud == "existing" and not fleet.api_server:
            yield (
                f"{key}.apiServer",
                "is missing; on cloud: existing give the https:// URL the manager reaches this cluster's API at",
            )
