"""Mermaid pictures of a plan for the pull-request comment (GitHub renders Mermaid in Markdown).

- cost by team as a ``pie`` (the plan's estimate at ceiling),
- the platform's components as a ``flowchart``, generated from the components the plan registers
  (grouped by cloud / cluster layer) and the dependencies between them.
"""

from __future__ import annotations

import re
from collections import defaultdict

from infra.plan.engine import Plan
from infra.plan.model import RecordedResource

_LAYER_OF_PREFIX = {"ml-platform:aws:": "AWS", "ml-platform:gcp:": "GCP", "ml-platform:k8s:": "Kubernetes"}


def _label(text: str) -> str:
    return re.sub(r'["<>{}|]', "", text)


def cost_pie(plan: Plan) -> list[str]:
    by_team = plan.cost.get("by_team") or {}
    rows = []
    for team, value in sorted(by_team.items()):
        amount = value.get("monthly_usd", 0.0) if isinstance(value, dict) else float(value)
        if amount > 0:
            rows.append(f'    "{_label(team)}" : {amount:.2f}')
    if not rows:
        return []
    return ["```mermaid", f"pie showData title Estimated cost by team, USD/month at ceiling ({_label(plan.stack)})", *rows, "```"]


def components(plan: Plan) -> list[str]:
    """Top-level components (component type -> count) per layer, with an edge where one waits for another."""
    comps = {r.urn: r for r in plan.resources if not r.custom and r.type.startswith("ml-platform:")}
    top = {u: r for u, r in comps.items() if r.parent not in comps}
    if not top:
        return []
    kinds: dict[str, int] = defaultdict(int)
    for r in top.values():
        kinds[r.type] += 1
    ids = {t: f"c{i}" for i, t in enumerate(sorted(kinds))}
    lines = ["```mermaid", "flowchart LR"]
    for layer_prefix, title in _LAYER_OF_PREFIX.items():
        members = sorted(t for t in kinds if t.startswith(layer_prefix))
        if not members:
            continue
        lines.append(f'  subgraph {title.lower()}["{title}"]')
        for t in members:
            name = t.rsplit(":", 1)[-1]
            lines.append(f'    {ids[t]}["{_label(name)}{f" x{kinds[t]}" if kinds[t] > 1 else ""}"]')
        lines.append("  end")
    # a resource of component A depends on one of component B -> A waits for B
    owner: dict[str, str] = {}
    for r in plan.resources:
        cur: RecordedResource | None = r
        while cur is not None and cur.urn not in top:
            cur = comps.get(cur.parent)
        if cur is not None:
            owner[r.urn] = cur.type
    edges = set()
    for r in plan.resources:
        a = owner.get(r.urn)
        for dep in r.dependencies:
            b = owner.get(dep)
            if a and b and a != b:
                edges.add((b, a))
    lines += [f"  {ids[b]} --> {ids[a]}" for b, a in sorted(edges)]
    lines.append("```")
    return lines


def budget_notes(plan: Plan) -> list[str]:
    """How each team budget is enforced (the ``teamBudgets`` output): say it where reviewers look."""
    budgets = plan.outputs.get("teamBudgets") or {}
    if not budgets:
        return []
    lines = ["", "### Team budgets", "", "| team | USD/month | enforced by | dimension |", "|---|---:|---|---|"]
    for team, b in sorted(budgets.items()):
        dim = ", ".join(f"{k}={v}" for k, v in (b.get("dimension") or {}).items())
        lines.append(f"| {team} | {b.get('monthlyUsd', 0):,.0f} | {b.get('mechanism')} ({b.get('source')}) | {dim} |")
    why = next(iter(budgets.values())).get("why")
    if why:
        lines += ["", f"No per-team cloud budget: {why}."]
    return lines


def sections(plan: Plan) -> list[str]:
    """Markdown lines: the component diagram, the cost pie, how team budgets are enforced."""
    out: list[str] = budget_notes(plan)
    diagram = components(plan)
    if diagram:
        out += ["", "### Components", "", *diagram]
    pie = cost_pie(plan)
    if pie:
        out += ["", "### Cost by team (picture)", "", *pie]
    return out
