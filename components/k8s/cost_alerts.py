"""Team budget alerts from OpenCost's metrics (chargeback data), as Prometheus rule groups.

Cloud budgets cannot see what a team spends on shared GPU nodes: the nodes are platform
resources, and the per-pod split of their cost (AWS split cost allocation data, GKE cost
allocation) lands only in the Cost and Usage Report / the BigQuery billing export, which AWS
Budgets and Cloud Billing budgets do not filter on. So each team budget is a rule over OpenCost's
allocation metrics, summed over the team's namespace, routed to the team by its ``namespace``
label (see :mod:`components.k8s.alert_routing`).

Metric names are OpenCost's (``container_*_allocation``, ``node_*_hourly_cost``; see
https://www.opencost.io/docs/integrations/prometheus).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HOURS_PER_MONTH = 730


def hourly_cost_expr(namespace: str) -> str:
    """PromQL: the namespace's cost per hour at the nodes' prices (CPU, memory, GPU allocations)."""
    sel = f'{{namespace="{namespace}"}}'
    return (
        f"(sum(container_cpu_allocation{sel} * on(node) group_left() avg by (node) (node_cpu_hourly_cost))"
        f" + sum(container_memory_allocation_bytes{sel} / 1073741824 * on(node) group_left() avg by (node) (node_ram_hourly_cost))"
        f" + (sum(container_gpu_allocation{sel} * on(node) group_left() avg by (node) (node_gpu_hourly_cost)) or vector(0)))"
    )


def budget_rules(budgets: Mapping[str, tuple[str, float]], *, forecast_ratio: float = 0.8) -> list[dict[str, Any]]:
    """Rule groups: team -> (namespace, monthly USD). A warning at ``forecast_ratio`` of the budget
    on the month's run-rate, critical at 100%."""
    if not 0 < forecast_ratio < 1:
        raise ValueError(f"budget_rules: forecast_ratio must be in (0, 1), got {forecast_ratio}")
    rules: list[dict[str, Any]] = []
    for team, (namespace, usd) in sorted(budgets.items()):
        if usd <= 0:
            raise ValueError(f"budget_rules: team {team!r} budget must be positive, got {usd}")
        monthly = f"{hourly_cost_expr(namespace)} * {HOURS_PER_MONTH}"
        labels = {"team": team, "namespace": namespace}
        rules += [
            {
                "alert": "TeamSpendForecastOverBudget",
                "expr": f"{monthly} > {usd * forecast_ratio:g}",
                "for": "6h",
                "labels": {**labels, "severity": "warning"},
                "annotations": {
                    "summary": f"team {team} is on course to spend over {forecast_ratio:.0%} of its ${usd:,.0f} monthly budget",
                    "description": "Run-rate from OpenCost allocations: {{ $value | humanize }} USD/month.",
                },
            },
            {
                "alert": "TeamSpendOverBudget",
                "expr": f"{monthly} > {usd:g}",
                "for": "1h",
                "labels": {**labels, "severity": "critical"},
                "annotations": {
                    "summary": f"team {team} runs above its ${usd:,.0f} monthly budget",
                    "description": "Run-rate from OpenCost allocations: {{ $value | humanize }} USD/month.",
                },
            },
        ]
    return [{"name": "ml-platform.team-budgets", "rules": rules}] if rules else []
