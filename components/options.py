"""Resource-option helpers shared by every component (cloud-agnostic)."""

from __future__ import annotations

import pulumi


def inherited_depends_on(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """The component's own ``depends_on``, for its children.

    Pulumi does not pass a component's ``depends_on`` to its children, so children that need what
    the component waits for (a ready cluster, a CRD-installing release) get it explicitly.
    Outputs and other non-resource entries are dropped.
    """
    deps = opts.depends_on if opts is not None else None
    if deps is None:
        return []
    return [d for d in (deps if isinstance(deps, (list, tuple)) else [deps]) if isinstance(d, pulumi.Resource)]
