"""Activate cost allocation tags (``aws.costexplorer.CostAllocationTag``).

The API only accepts tag keys that have already appeared in the account's billing data, so activation
follows the first bill of tagged resources (or, for Kubernetes pod labels, split cost allocation data for
EKS switched on in the billing console of the management account).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


class CostAllocationTags(pulumi.ComponentResource):
    """:param keys: tag keys to activate (unique, non-empty)."""

    def __init__(self, name: str, *, keys: Sequence[str], provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> None:
        if not keys or len(set(keys)) != len(keys) or not all(keys):
            raise ValueError(f"CostAllocationTags: keys must be unique and non-empty, got {list(keys)}")
        super().__init__("ml-platform:aws:CostAllocationTags", name, None, opts)
        for key in keys:
            aws.costexplorer.CostAllocationTag(
                f"{name}-{key}", tag_key=key, status="Active", opts=pulumi.ResourceOptions(parent=self, provider=provider)
            )
        self.register_outputs({"keys": list(keys)})
