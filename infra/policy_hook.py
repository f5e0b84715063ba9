"""Evaluate the policy packs offline, with the very same policy objects ``pulumi preview`` runs.

For every recorded resource this module builds the argument objects the Pulumi CLI's analyzer
would build (``pulumi_policy.ResourceValidationArgs`` / ``StackValidationArgs`` with
``PolicyResource`` / ``PolicyProviderResource``; props are the engine's camelCase inputs behind
``pulumi_policy``'s unknown-checking proxies) and calls ``policy.validate(args, report_violation)``.
Each pack gets the config file shipped for the stack's environment
(``policies/<pack>/config/<env>.json``), as ``--policy-pack-config`` would give it, so the
enforcement levels (cost advisory in dev, mandatory elsewhere) are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

import policies
from infra.plan.model import UNKNOWN, PlanError, RecordedResource, Violation
from infra.plan.sdk_compat import UNKNOWN_POLICY_VALUE, NotApplicableError, UnknownValueError, unknown_checking_proxy

if TYPE_CHECKING:
    from infra.plan.model import Plan

BUDGET_POLICY = "mlp-cost-008"


class PolicyCrashError(PlanError):
    """A policy raised while validating (a bug in the policy, reported without a traceback)."""


def _engine_value(value: Any) -> Any:
    """Plan JSON values as the engine hands them to a pack: ``[unknown]`` becomes the unknown sentinel."""
    if isinstance(value, dict):
        return {k: _engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_value(v) for v in value]
    if value == UNKNOWN:
        return UNKNOWN_POLICY_VALUE
    return value


def _props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return unknown_checking_proxy(_engine_value(dict(inputs)))


def _opts(res: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=res.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(res.additional_secret_outputs),
        parent=res.parent or None,
    )


class _Stack:
    """The policy-side view of a list of recorded resources."""

    def __init__(self, resources: Iterable[RecordedResource]) -> None:
        self.recorded = [r for r in resources if r.type != "pulumi:pulumi:Stack"]
        by_urn = {r.urn: r for r in self.recorded}
        self.providers: dict[str, PolicyProviderResource] = {}
        for r in self.recorded:
            if r.type.startswith("pulumi:providers:"):
                self.providers[r.urn] = PolicyProviderResource(r.type, _props(r.inputs), r.urn, r.name)
        self.resources: dict[str, PolicyResource] = {}
        for r in self.recorded:
            self.resources[r.urn] = PolicyResource(
                r.type, _props(r.inputs), r.urn, r.name, _opts(r), self.provider_of(r), None, [], {}
            )
        for r in self.recorded:
            res = self.resources[r.urn]
            res.parent = self.resources.get(r.parent)
            res.dependencies = [self.resources[d] for d in r.dependencies if d in by_urn]

    def provider_of(self, res: RecordedResource) -> PolicyProviderResource | None:
        return self.providers.get(res.provider_urn) if res.provider else None


def _level(policy: Policy, entry: Any, default: EnforcementLevel) -> EnforcementLevel:
    if isinstance(entry, str):
        return EnforcementLevel(entry)
    if isinstance(entry, Mapping) and entry.get("enforcementLevel"):
        return EnforcementLevel(entry["enforcementLevel"])
    return policy.enforcement_level or default


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def evaluate_resources(
    resources: Iterable[RecordedResource],
    environment: str,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    packs: Iterable[str] = policies.PACKS,
) -> list[Violation]:
    """Run every policy of ``packs`` over ``resources`` with the pack config of ``environment``.

    :param overrides: policy name -> config values used where the pack config file leaves them unset.
    """
    stack = _Stack(resources)
    out: list[Violation] = []
    for pack_name in packs:
        pack = policies.load_pack(pack_name)
        file_config = policies.pack_config(pack_name, environment)
        all_entry = file_config.get("all")
        for policy in pack.POLICIES:
            entry = file_config.get(policy.name)
            level = _level(policy, entry if entry is not None else all_entry, pack.ENFORCEMENT)
            if level == EnforcementLevel.DISABLED:
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            config = {**(overrides or {}).get(policy.name, {}), **(dict(entry) if isinstance(entry, Mapping) else {})}
            config.pop("enforcementLevel", None)
            out.extend(_evaluate(pack.NAME, policy, level, config, stack))
    return out


def _evaluate(pack: str, policy: Policy, level: EnforcementLevel, config: dict[str, Any], stack: _Stack) -> list[Violation]:
    found: list[Violation] = []

    def reporter(default_urn: str) -> Any:
        def report(message: str, urn: str | None = None) -> None:
            found.append(Violation(pack, policy.name, level.value, urn or default_urn, message or policy.description))

        return report

    def guarded(call: Any, urn: str) -> None:
        try:
            _run(call())
        except NotApplicableError:
            pass
        except UnknownValueError as err:  # as the CLI does: an advisory note, not a violation
            found.append(Violation(pack, policy.name, "advisory", urn, f"can't run during preview: {err.message}"))
        except Exception as err:
            raise PolicyCrashError(
                f"policy {policy.name} ({pack}) failed on {urn or 'the stack'}: {type(err).__name__}: {err}"
            ) from err

    if isinstance(policy, StackValidationPolicy):
        stack_args = StackValidationArgs(list(stack.resources.values()), config or None)
        guarded(lambda: policy.validate(stack_args, reporter("")), "")
    elif isinstance(policy, ResourceValidationPolicy):
        for rec in stack.recorded:
            if not rec.custom:
                continue
            res = stack.resources[rec.urn]
            args = ResourceValidationArgs(res.resource_type, res.props, res.urn, res.name, res.opts, res.provider, config or None)
            guarded(lambda args=args, urn=rec.urn: policy.validate(args, reporter(urn)), rec.urn)
    return found


def plan_overrides(cfg: Any) -> dict[str, dict[str, Any]]:
    """Stack-config facts the budget policy needs offline (a real run reads the budget resource)."""
    budget: dict[str, Any] = {}
    if cfg.budget.monthly_usd is not None:
        budget["monthlyBudgetUsd"] = cfg.budget.monthly_usd
    if cfg.data_lake.size_gb:
        budget["storageGb"] = dict(cfg.data_lake.size_gb)
    if budget and cfg.cloud != "existing" and cfg.region:
        budget["region"] = cfg.region  # GPU / CPU nodes priced in the stack's region, as the plan's estimate
    return {BUDGET_POLICY: budget} if budget else {}


def evaluate(plan: Plan) -> list[Violation]:
    """Run every policy of every pack in ``policies/`` against ``plan``."""
    return evaluate_resources(plan.resources, plan.config.environment, overrides=plan_overrides(plan.config))
