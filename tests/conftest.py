"""Shared fixtures: every stack is planned once per test session and the result is shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.plan import engine
from tests.helpers import STACKS, UPSTREAM, plan_stack, stack_doc


@pytest.fixture(scope="session")
def plan_of() -> Callable[[str], engine.Plan]:
    return plan_stack


@pytest.fixture(params=STACKS)
def any_plan(request: pytest.FixtureRequest) -> engine.Plan:
    return plan_stack(request.param)


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The pinned upstream data (CRDs, chart values); tests using it skip with a reason if absent."""
    if not (UPSTREAM / "SOURCES.tsv").is_file():
        pytest.skip(f"pinned upstream data not found at {UPSTREAM}: set ML_PLATFORM_UPSTREAM or run `make upstream`")
    return UPSTREAM


@pytest.fixture
def write_stack(tmp_path: Path) -> Callable[..., Path]:
    """Write a stack file derived from a real one, with overrides, into a temp stacks dir."""
    import yaml

    def write(base: str, name: str = "case", **overrides: object) -> Path:
        doc = stack_doc(base)  # a standalone copy (no fleet key) unless an override sets one
        for key, value in overrides.items():
            full = f"ml-platform:{key}"
            if value is None:
                doc["config"].pop(full, None)
            else:
                doc["config"][full] = value
        path = tmp_path / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    return write
