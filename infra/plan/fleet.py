"""The plan's ``fleet`` section: a manager's workers in dispatch order with what bursting there costs,
and the cross-stack order (workers are deployed before the manager that reads their outputs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra import config

HOURS_PER_MONTH = 730
CLOUDS = ("aws", "gcp")


def _worker_cost(peer: config.PlatformConfig) -> tuple[int, float]:
    """(GPU ceiling, monthly USD of the GPU pools at ceiling) of a worker stack, from its config."""
    from infra import cost

    monthly = sum(cost.config_pool_item(peer, pool).monthly_usd_ceiling for pool in peer.gpu_pools)
    return peer.gpu_ceiling, monthly


def summary(cfg: config.PlatformConfig) -> dict[str, Any]:
    """``{"role": "none"}``, a worker's manager and exports, or a manager's workers and burst shares."""
    from infra.layers import k8s_fleet

    fleet = cfg.fleet
    if fleet.role == "none":
        return {"role": "none"}
    if fleet.role == "worker":
        return {"role": "worker", "manager": fleet.manager, "exports": list(k8s_fleet.WORKER_OUTPUTS)}
    peers = k8s_fleet.worker_configs(cfg)
    workers = []
    burst: dict[str, list[int]] = {t.name: [0, 0] for t in cfg.teams}
    for order, worker in enumerate(fleet.workers, start=1):
        accelerators = {t: k8s_fleet.accelerators(r) for t, r in k8s_fleet.worker_team_resources(cfg, worker, peers).items()}
        entry: dict[str, Any] = {"name": worker.name, "order": order, "stack": worker.stack, "team_accelerators": accelerators}
        if worker.stack:
            peer = peers[worker.name]
            ceiling, monthly = _worker_cost(peer)
            entry |= {
                "cloud": peer.cloud,
                "region": peer.region,
                "reads": [k8s_fleet.KUBECONFIG_OUTPUT],
                "gpu_ceiling": ceiling,
                "monthly_usd_at_ceiling": round(monthly, 2),
                "usd_per_gpu_hour": round(monthly / (ceiling * HOURS_PER_MONTH), 2) if ceiling else 0.0,
            }
        else:  # a cluster we do not manage: capacity as stated, price unknown
            entry |= {
                "cloud": "existing",
                "region": None,
                "reads": [],
                "gpu_ceiling": None,
                "monthly_usd_at_ceiling": None,
                "usd_per_gpu_hour": None,
            }
        for team, n in accelerators.items():
            if team in burst:
                burst[team][1] += n
                if entry["cloud"] in CLOUDS:
                    burst[team][0] += n
        workers.append(entry)
    return {
        "role": "manager",
        "dispatcher": fleet.dispatcher,
        "step_size": fleet.step_size,
        "workers": workers,
        "deploy_after": [w.stack for w in fleet.workers if w.stack],
        "burst_share": {team: round(b / t, 4) if t else 0.0 for team, (b, t) in burst.items()},
    }


def order_problems(plans: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """Cross-stack lifecycle of a fleet, over plan JSONs by stack: every output a manager reads exists
    as a secret output of that worker's plan, and the stacks can be deployed in some order (no cycle)."""
    problems: list[dict[str, str]] = []
    edges: dict[str, set[str]] = {}
    for stack, plan in plans.items():
        fleet = plan.get("fleet") or {}
        if fleet.get("role") != "manager":
            continue
        for worker in fleet.get("workers", []):
            peer_stack = worker.get("stack")
            if not peer_stack:
                continue
            edges.setdefault(stack, set()).add(peer_stack)
            peer = plans.get(peer_stack)
            if peer is None:
                problems.append(
                    {
                        "check": "fleet-worker-planned",
                        "stack": stack,
                        "message": f"worker stack {peer_stack!r} is not planned with its manager {stack!r}",
                    }
                )
                continue
            for output in worker.get("reads", []):
                value = (peer.get("outputs") or {}).get(output)
                if value is None:
                    problems.append(
                        {
                            "check": "fleet-output-exists",
                            "stack": stack,
                            "message": f"{stack!r} reads output {output!r} that worker stack {peer_stack!r} does not export",
                        }
                    )
                elif value != "[secret]":
                    problems.append(
                        {
                            "check": "fleet-output-secret",
                            "stack": stack,
                            "message": f"worker stack {peer_stack!r} exports {output!r} in plain text; it holds a credential",
                        }
                    )
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(node: str) -> bool:
        if node in visiting:
            return False
        if node in seen:
            return True
        visiting.add(node)
        ok = all(visit(n) for n in edges.get(node, ()))
        visiting.discard(node)
        seen.add(node)
        return ok

    for node in sorted(edges):
        if not visit(node):
            problems.append(
                {"check": "fleet-order", "stack": node, "message": f"the fleet of {node!r} has a cycle: no deploy order"}
            )
            break
    return problems


def deploy_order(plans: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Stacks in an order the fleet can be deployed in: every worker before its manager."""
    after = {s: set((p.get("fleet") or {}).get("deploy_after", [])) for s, p in plans.items()}
    order: list[str] = []
    while len(order) < len(after):
        ready = sorted(s for s, deps in after.items() if s not in order and deps <= set(order) | (deps - set(after)))
        if not ready:
            break
        order += ready
    return order
