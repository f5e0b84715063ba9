"""PriorityClasses shared by every workload (Kueue's WorkloadPriorityClasses use the same names and values)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.options import inherited_depends_on

USER_PRIORITY_MAX = 1_000_000_000
"""Kubernetes reserves values above this for system classes."""


class PriorityClasses(pulumi.ComponentResource):
    """One cluster-wide ``PriorityClass`` per entry of ``classes``.

    :param name: Component name.
    :param classes: Class name -> value (default: :data:`catalog.conventions.PRIORITY_CLASSES`).
    :param non_preempting: Classes that never preempt other pods (their own pods may still be preempted).
    :param descriptions: Optional description per class.
    :param k8s_provider: Provider of the cluster.
    """

    def __init__(
        self,
        name: str,
        *,
        k8s_provider: k8s.Provider,
        classes: Mapping[str, int] | None = None,
        non_preempting: frozenset[str] = frozenset({"experiments-low"}),
        descriptions: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        classes = dict(cv.PRIORITY_CLASSES if classes is None else classes)
        for cls, value in classes.items():
            if not 0 <= value <= USER_PRIORITY_MAX:
                raise ValueError(f"PriorityClasses: {cls!r} value {value} must be 0..{USER_PRIORITY_MAX}")
        unknown = set(non_preempting) - set(classes)
        if unknown:
            raise ValueError(f"PriorityClasses: non_preempting names unknown classes {sorted(unknown)}")
        super().__init__("ml-platform:k8s:PriorityClasses", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=inherited_depends_on(opts))
        descriptions = dict(descriptions or {})
        self.classes: dict[str, k8s.scheduling.v1.PriorityClass] = {}
        for cls, value in classes.items():
            never = cls in non_preempting
            self.classes[cls] = k8s.scheduling.v1.PriorityClass(
                f"{name}-{cls}",
                metadata={"name": cls, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                value=value,
                global_default=False,
                preemption_policy="Never" if never else "PreemptLowerPriority",
                description=descriptions.get(cls)
                or (f"{cls}: may be preempted by higher classes; never preempts others" if never else f"{cls}: preempts lower classes"),
                opts=child,
            )
        self.register_outputs({"classes": list(self.classes)})
