"""Activate cost allocation tags (``aws.costexplorer.CostAllocationTag``).

The API only accepts tag keys that have already appeared in the account's billing data, so activation
follows the first bill of tagged resources (or, for Kubernetes pod labels, split cost allocation data for
EKS switched on in the billing console of the management account).

This is the template of a component (see :mod:`components.base`): frozen, self-validating args; the
provider only through ``opts``; children through ``child_opts``; outputs through ``publish``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.base import Component


@dataclass(frozen=True)
class CostAllocationTagsArgs:
    """Arguments of :class:`CostAllocationTags`.

    :param keys: tag keys to activate (unique, non-empty).
    """

    keys: Sequence[str]

    def __post_init__(self) -> None:
        keys = list(self.keys)
        if not keys or len(set(keys)) != len(keys) or not all(keys):
            raise ValueError(f"CostAllocationTags: keys must be unique and non-empty, got {keys}")
        object.__setattr__(self, "keys", tuple(keys))


class CostAllocationTags(Component):
    """Activates each key of ``args.keys`` for cost allocation (the AWS provider comes through ``opts``)."""

    keys: tuple[str, ...]

    def __init__(self, resource_name: str, args: CostAllocationTagsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:CostAllocationTags", resource_name, opts)
        for key in args.keys:
            aws.costexplorer.CostAllocationTag(f"{resource_name}-{key}", tag_key=key, status="Active", opts=self.child_opts())
        self.publish(keys=tuple(args.keys))
