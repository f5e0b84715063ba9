"""The plan's Mermaid pictures: generated from the plan, consistent with it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from infra.plan import engine, pictures, report
from tests.helpers import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_component_diagram_shows_every_top_level_component_and_valid_edges(
    plan_of: Callable[[str], engine.Plan], stack: str
) -> None:
    plan = plan_of(stack)
    md = report.markdown(plan)
    block = re.search(r"### Components\n\n```mermaid\nflowchart LR\n(.*?)```", md, re.S)
    assert block, "no component diagram in the PR comment"
    body = block.group(1)
    declared = dict(re.findall(r'^\s+(c[0-9]+)\["([^"]+)"\]', body, re.M))
    comps = {r.urn: r for r in plan.resources if not r.custom and r.type.startswith("ml-platform:")}
    top = {r.type.rsplit(":", 1)[-1] for r in comps.values() if r.parent not in comps}
    assert {re.sub(r" x[0-9]+$", "", n) for n in declared.values()} == top
    edges = re.findall(r"^\s+(c[0-9]+) --> (c[0-9]+)$", body, re.M)
    assert edges and all(a in declared and b in declared for a, b in edges)
    name = {v.split(" x")[0]: k for k, v in declared.items()}
    if "Monitoring" in name and "GpuOperator" in name:
        assert (name["Monitoring"], name["GpuOperator"]) in edges, "the GPU operator waits for the metrics stack"


@pytest.mark.parametrize("stack", ["dev", "prod", "gcp-prod"])
def test_cost_pie_matches_the_cost_table(plan_of: Callable[[str], engine.Plan], stack: str) -> None:
    plan = plan_of(stack)
    pie = "\n".join(pictures.cost_pie(plan))
    values = {k: float(v) for k, v in re.findall(r'^\s+"([^"]+)" : ([0-9.]+)$', pie, re.M)}
    expected = {t: v["monthly_usd"] for t, v in plan.cost["by_team"].items() if v["monthly_usd"] > 0}
    assert values == pytest.approx(expected, abs=0.01)
    assert pie in report.markdown(plan)


def test_the_pr_comment_says_how_team_budgets_are_enforced(plan_of: Callable[[str], engine.Plan]) -> None:
    plan = plan_of("prod")
    md = report.markdown(plan)
    assert "### Team budgets" in md and "No per-team cloud budget" in md
    for team in plan.config.teams:
        assert f"| {team.name} | {team.budget_usd:,.0f} | chargeback-alert (opencost) | namespace={team.name}" in md
