"""PriorityClasses shared by every workload (Kueue's WorkloadPriorityClasses use the same names and values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component

USER_PRIORITY_MAX = 1_000_000_000
"""Kubernetes reserves values above this for system classes."""


@dataclass(frozen=True)
class PriorityClassesArgs:
    """Arguments of :class:`PriorityClasses`.

    :param classes: Class name -> value (default: :data:`catalog.conventions.PRIORITY_CLASSES`).
    :param non_preempting: Classes that never preempt other pods (their own pods may still be preempted).
    :param descriptions: Optional description per class.
    """

    classes: Mapping[str, int] | None = None
    non_preempting: frozenset[str] = frozenset({"experiments-low"})
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        classes = dict(cv.PRIORITY_CLASSES if self.classes is None else self.classes)
        for cls, value in classes.items():
            if not 0 <= value <= USER_PRIORITY_MAX:
                raise ValueError(f"PriorityClasses: {cls!r} value {value} must be 0..{USER_PRIORITY_MAX}")
        unknown = set(self.non_preempting) - set(classes)
        if unknown:
            raise ValueError(f"PriorityClasses: non_preempting names unknown classes {sorted(unknown)}")
        object.__setattr__(self, "classes", classes)


class PriorityClasses(Component):
    """One cluster-wide ``PriorityClass`` per entry of ``args.classes`` (the Kubernetes provider comes through ``opts``)."""

    classes: dict[str, k8s.scheduling.v1.PriorityClass]
    names: list[str]

    def __init__(self, resource_name: str, args: PriorityClassesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:PriorityClasses", resource_name, opts)
        classes: dict[str, k8s.scheduling.v1.PriorityClass] = {}
        for cls, value in dict(args.classes or {}).items():
            never = cls in args.non_preempting
            classes[cls] = k8s.scheduling.v1.PriorityClass(
                f"{resource_name}-{cls}",
                metadata={"name": cls, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                value=value,
                global_default=False,
                preemption_policy="Never" if never else "PreemptLowerPriority",
                description=args.descriptions.get(cls)
                or (
                    f"{cls}: may be preempted by higher classes; never preempts others"
                    if never
                    else f"{cls}: preempts lower classes"
                ),
                opts=self.child_opts(),
            )
        self.classes = classes
        self.publish(names=list(classes))
