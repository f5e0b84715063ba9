"""Monthly cost estimate of a plan (filled in by the policy & cost issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.plan.engine import Plan


def estimate(plan: Plan) -> dict[str, Any]:
    """Return ``{"monthly_usd", "by_team", "by_item"}`` for ``plan``."""
    return {"monthly_usd": 0.0, "by_team": {}, "by_item": []}
