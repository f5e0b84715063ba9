"""Cross-field checks: what one key cannot tell alone. One module per concern; each yields
``(key path, reason)`` problems, one per mistake, never two lines for one mistake.

:func:`cross_checks` runs them all in a fixed order (the order of the lines of a :class:`ConfigError`).
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.config.base import Problem
from infra.config.checks.audit import audit_checks
from infra.config.checks.cluster import cluster_checks, runner_problems
from infra.config.checks.data import data_lake_checks
from infra.config.checks.fleet import fleet_checks
from infra.config.checks.gcp import gcp_checks
from infra.config.checks.gpu_operator import gpu_operator_checks
from infra.config.checks.monitoring import monitoring_checks
from infra.config.checks.notebooks import notebook_checks
from infra.config.checks.pools import PROD_SERVING_CAPACITY, pool_checks
from infra.config.checks.secrets import SECRET_ONLY_KEYS, plain_text_secrets
from infra.config.checks.services import ml_services_checks
from infra.config.checks.teams import RESERVED_NAMESPACES, gpu_capacity, team_checks
from infra.config.models import PlatformConfig

__all__ = [
    "PROD_SERVING_CAPACITY",
    "RESERVED_NAMESPACES",
    "SECRET_ONLY_KEYS",
    "cross_checks",
    "gpu_capacity",
    "plain_text_secrets",
    "runner_problems",
]


def cross_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    """Every cross-field problem of a config that passed its models' own validation."""
    yield from fleet_checks(cfg)
    yield from cluster_checks(cfg)
    yield from gpu_operator_checks(cfg)
    yield from data_lake_checks(cfg)
    yield from audit_checks(cfg)
    yield from monitoring_checks(cfg)
    yield from ml_services_checks(cfg)
    yield from gcp_checks(cfg)
    yield from notebook_checks(cfg)
    pool_problems = list(pool_checks(cfg))
    yield from pool_problems
    # quota totals need every pool's shape: with a bad pool they would only echo its problem
    yield from team_checks(cfg, totals=not pool_problems)
