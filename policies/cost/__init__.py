"""The ``mlp-cost`` policy pack: GPU guardrails and budgets.

Advisory in dev and mandatory in staging and prod through the per-environment pack config
(``config/<env>.json``). One rule per module (``POLICY``); :data:`POLICIES` is the rule list shared
by ``__main__.py`` (the real pack) and the offline plan (``infra/policy_hook.py``).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

from policies.cost import (
    allowed_gpu_types,
    fleet_burst_share,
    gpu_ceiling_per_environment,
    gpu_ceiling_per_pool,
    gpu_scale_to_zero,
    monthly_budget,
    nodepool_limits,
    spot_for_training,
    team_budgets,
)

NAME = "mlp-cost"
DESCRIPTION = "ml-platform cost guardrails: allowed GPU types, GPU ceilings, spot for training, NodePool limits, budgets."
ENFORCEMENT = EnforcementLevel.MANDATORY
POLICIES = [
    m.POLICY
    for m in (
        allowed_gpu_types,
        gpu_ceiling_per_pool,
        gpu_ceiling_per_environment,
        spot_for_training,
        nodepool_limits,
        gpu_scale_to_zero,
        team_budgets,
        monthly_budget,
        fleet_burst_share,
    )
]
