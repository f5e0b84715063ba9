"""What the Kubernetes layer builds for its own later steps (kept out of the cloud's :class:`CloudLayer`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.k8s.scheduling import PriorityClasses
from components.k8s.team import Team
from infra.layers.context import CloudLayer


@dataclass
class K8sPlatform:
    """What the Kubernetes layer built, for its later steps (never part of the cloud's contract)."""

    cloud: CloudLayer
    priorities: PriorityClasses
    monitoring_release: pulumi.Resource | None = None
    """The kube-prometheus-stack chart (its CRDs) when ``monitoring.backend`` is ``inCluster``."""
    teams: dict[str, Team] = field(default_factory=dict)

    @property
    def waits(self) -> list[pulumi.Resource]:
        """What every in-cluster workload waits for: the cloud's nodes and add-ons, then the PriorityClasses
        (pods naming one are rejected until it exists)."""
        return [*self.cloud.depends_on, self.priorities]
