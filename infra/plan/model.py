"""What an offline plan is made of: plain data, no Pulumi SDK, no imports from the rest of ``infra``.

The engine (:mod:`infra.plan.engine`) produces these; the cost estimate (:mod:`infra.cost`), the
policy evaluation (:mod:`infra.policy_hook`), ``check`` and the reports consume them. Keeping them
in this leaf module is what keeps those modules free of import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the annotation; a Plan holds whatever validated config it is given
    from infra.config import PlatformConfig

SECRET = "[secret]"
"""How a secret value is written in the plan JSON."""
UNKNOWN = "[unknown]"
"""How a value the engine does not know yet is written in the plan JSON."""


class PlanError(RuntimeError):
    """The program failed under the mock engine (not a config mistake)."""


@dataclass
class RecordedResource:
    """One registration request, in the plan JSON's shape."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    additional_secret_outputs: list[str] = field(default_factory=list)
    id: str = ""
    """The ID the engine answered (under the offline plan: the mock's); not part of the plan JSON."""
    state: dict[str, Any] = field(default_factory=dict)
    """The outputs the engine answered, secrets as ``[secret]``; not part of the plan JSON. Tests
    read computed values (IDs, ARNs) here instead of recomputing them with the mock's functions."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input, the resources its value came from (``dependencies`` is their union plus ``dependsOn``)."""
    deleted_with: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "dependencies": self.dependencies,
            "inputs": self.inputs,
            "property_dependencies": self.property_dependencies,
            "deleted_with": self.deleted_with,
        }

    @property
    def provider_urn(self) -> str:
        """The provider's URN (``provider`` is ``urn::id``)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Violation:
    pack: str
    policy: str
    enforcement: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "pack": self.pack,
            "policy": self.policy,
            "enforcement": self.enforcement,
            "urn": self.urn,
            "message": self.message,
        }


@dataclass
class Plan:
    """The outcome of one offline plan. ``to_json`` is the public plan JSON contract."""

    project: str
    stack: str
    config: PlatformConfig
    resources: list[RecordedResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=lambda: {"monthly_usd": 0.0, "by_team": {}, "by_item": []})
    transforms: list[Any] = field(default_factory=list)
    """Stack transforms the program registered (not part of the JSON; the mock engine does not run them)."""
    lifecycle: Any = None
    """The deploy-lifecycle model's waves and problems (:class:`infra.plan.lifecycle.Lifecycle`)."""
    fleet: dict[str, Any] = field(default_factory=lambda: {"role": "none"})
    """The hybrid fleet: a manager's workers in dispatch order, the price of bursting there (infra/plan/fleet.py)."""

    def by_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, urn: str) -> RecordedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def provider_of(self, res: RecordedResource) -> RecordedResource | None:
        return self.get(res.provider_urn) if res.provider else None

    @property
    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    @property
    def failed(self) -> bool:
        """Whether the plan fails (exit 1): mandatory policy violations or lifecycle problems."""
        return bool(self.mandatory_violations or (self.lifecycle is not None and self.lifecycle.problems))

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "config": self.config.model_dump(mode="json", by_alias=True),
            "resources": [r.to_json() for r in self.resources],
            "violations": [v.to_json() for v in self.violations],
            "cost": self.cost,
            "outputs": self.outputs,
            "fleet": self.fleet,
            "lifecycle": self.lifecycle.to_json()
            if self.lifecycle is not None
            else {"create_waves": [], "destroy_waves": [], "problems": []},
        }
