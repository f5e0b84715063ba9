"""Node pools (Karpenter NodePools, EKS node groups, GKE node pools) for the cost rules.

The reading itself lives in :mod:`catalog.pools`, shared with the cost estimate, so a policy and
the estimate can never size the same pool differently; this module names what the rules use.
"""

from __future__ import annotations

from catalog.pools import (
    EKS_NODE_GROUP,
    GKE_NODE_POOL,
    KARPENTER_NODEPOOL,
    POOL_TYPES,
    Pool,
    family,
    pool_of,
)

NODE_POOL = KARPENTER_NODEPOOL
NODE_GROUP = EKS_NODE_GROUP
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"

__all__ = [
    "GKE_NODE_POOL",
    "INSTANCE",
    "LAUNCH_TEMPLATE",
    "NODE_GROUP",
    "NODE_POOL",
    "POOL_TYPES",
    "Pool",
    "family",
    "pool_of",
]
