"""Evaluate the policy packs against a plan offline (filled in by the policy issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.plan.engine import Plan, Violation


def evaluate(plan: Plan) -> list[Violation]:
    """Run every policy of every pack in ``policies/`` against ``plan``."""
    return []
