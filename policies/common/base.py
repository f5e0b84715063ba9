"""Shared plumbing for the policy packs: building policies, reading config and resource props.

Policies here run in two places with the same objects: inside ``pulumi preview`` (the CLI hands
the pack the engine's camelCase inputs wrapped in ``pulumi_policy``'s read-only proxies, which
are ``Mapping`` / ``Sequence`` but not ``dict`` / ``list``) and in the offline plan
(``infra/policy_hook.py`` builds the same argument objects from recorded resources). Everything
below therefore reads props through ``Mapping`` / ``Sequence`` checks and never assumes ``dict``.

Only the standard library, ``pulumi_policy`` and ``catalog/`` may be imported: a pack's
virtualenv holds nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from catalog import conventions as cv

# Re-exported: the packs read inputs through this module; the decoding itself is catalog.inputs's.
from catalog.inputs import decoded as decoded
from catalog.inputs import number
from catalog.inputs import truthy as truthy

as_number = number
"""A number from an int, a float or a numeric string (Kubernetes quantities without units)."""

ENVIRONMENT_PROPERTY: dict[str, Any] = {
    "type": "string",
    "enum": list(cv.ENVIRONMENTS),
    "description": "Environment the stack belongs to; default: the resource's (or its provider's) "
    "`environment` tag, else prod (the strictest).",
}


class Report(Protocol):
    """How a check reports a violation: the SDK's ``report_violation(message, urn=None)``.

    ``pulumi_policy`` annotates it as ``ReportViolation = Callable[[str, Optional[str]], None]``
    (``urn`` required) while the function it passes has ``urn: Optional[str] = None``; checks call
    it with the message alone, so they are typed against this protocol.
    """

    def __call__(self, message: str, urn: str | None = None, /) -> None: ...


ResourceCheck = Callable[[ResourceValidationArgs, Report, dict[str, Any]], None]
StackCheck = Callable[[StackValidationArgs, Report, dict[str, Any]], None]


# ---- reading props ---------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A deep copy of ``value`` as plain ``dict`` / ``list`` (reading through policy proxies)."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence):
        return [plain(value[i]) for i in range(len(value))]
    return value


def plain_lenient(value: Any) -> Any:
    """Like :func:`plain`, but values unknown during preview become ``None`` instead of raising."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k in value:
            try:
                out[k] = plain_lenient(value[k])
            except UnknownValueError:
                out[k] = None
        return out
    if isinstance(value, Sequence):
        out_list = []
        for i in range(len(value)):
            try:
                out_list.append(plain_lenient(value[i]))
            except UnknownValueError:
                out_list.append(None)
        return out_list
    return value


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Walk ``path`` through mappings and sequences; ``default`` where a step is missing.

    JSON-encoded objects on the way (and at the end) are decoded: the engine hands provider
    inputs such as ``defaultTags`` to packs as JSON strings.
    """
    cur = obj
    for step in path:
        cur = decoded(cur)
        if isinstance(step, int):
            if isinstance(cur, Sequence) and not isinstance(cur, str) and -len(cur) <= step < len(cur):
                cur = cur[step]
            else:
                return default
        elif isinstance(cur, Mapping) and step in cur:
            cur = cur[step]
        else:
            return default
    cur = decoded(cur)
    return default if cur is None else cur


def items(value: Any) -> list[Any]:
    """``value`` as a list (``[]`` for missing, a JSON string decoded, a scalar wrapped)."""
    value = decoded(value)
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [value[i] for i in range(len(value))]
    return [value]


def k8s_meta(props: Mapping[str, Any]) -> tuple[str, str, dict[str, str]]:
    """``(name, namespace, labels)`` of a Kubernetes object's inputs."""
    meta = get(props, "metadata", default={})
    labels = plain(get(meta, "labels", default={})) or {}
    return str(get(meta, "name", default="")), str(get(meta, "namespace", default="")), labels


def aws_tags(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None) -> dict[str, str]:
    """A resource's effective tags: the provider's ``defaultTags.tags`` overlaid with its own ``tags``."""
    tags: dict[str, str] = {}
    if provider_props is not None:
        tags.update(plain(get(provider_props, "defaultTags", "tags", default={})) or {})
    tags.update(plain(get(props, "tags", default={})) or {})
    return {str(k): str(v) for k, v in tags.items() if v is not None}


def gcp_labels(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None, prop: str = "labels") -> dict[str, str]:
    """A GCP resource's effective labels: the provider's ``defaultLabels`` overlaid with its own."""
    labels: dict[str, str] = {}
    if provider_props is not None:
        labels.update(plain(get(provider_props, "defaultLabels", default={})) or {})
    labels.update(plain(get(props, prop, default={})) or {})
    return {str(k): str(v) for k, v in labels.items() if v is not None}


# ---- config ----------------------------------------------------------------------------------


def settings(config: Mapping[str, Any], schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """The policy's effective config: the schema's defaults overlaid with what the pack config sets."""
    out: dict[str, Any] = {}
    if schema is not None:
        for key, spec in schema.properties.items():
            if "default" in spec:
                out[key] = json.loads(json.dumps(spec["default"]))
    out.update(plain(config) or {})
    out.pop("enforcementLevel", None)
    return out


def environment_of(cfg: Mapping[str, Any], *tag_sources: Mapping[str, str]) -> str:
    """The environment: config ``environment``, else an ``environment`` tag/label, else ``prod``."""
    env = cfg.get("environment")
    if env:
        return str(env)
    for tags in tag_sources:
        value = tags.get(cv.TAG_ENVIRONMENT)
        if value in cv.ENVIRONMENTS:
            return str(value)
    return "prod"


def stack_environment(cfg: Mapping[str, Any], resources: Iterable[PolicyResource]) -> str:
    """The environment of a whole stack: config, else the first provider ``environment`` default tag."""
    if cfg.get("environment"):
        return str(cfg["environment"])
    for res in resources:
        if res.resource_type.startswith("pulumi:providers:"):
            tags = plain(get(res.props, "defaultTags", "tags", default={})) or {}
            labels = plain(get(res.props, "defaultLabels", default={})) or {}
            for source in (tags, labels):
                if source.get(cv.TAG_ENVIRONMENT) in cv.ENVIRONMENTS:
                    return str(source[cv.TAG_ENVIRONMENT])
    return "prod"


def per_env(value: Any, env: str) -> Any:
    """A config value that may be given per environment (``{"dev": ..., "prod": ...}``)."""
    if isinstance(value, Mapping) and set(value) <= set(cv.ENVIRONMENTS):
        return value.get(env)
    return value


# ---- building policies -----------------------------------------------------------------------


def environments(default: Sequence[str], description: str) -> dict[str, Any]:
    """The ``environments`` property of a policy that applies in some environments only."""
    return {
        "type": "array",
        "items": {"type": "string", "enum": list(cv.ENVIRONMENTS)},
        "default": list(default),
        "description": description,
    }


def per_environment(value: Mapping[str, Any], default: Mapping[str, Any], description: str) -> dict[str, Any]:
    """An object property with one ``value``-typed entry per environment (no other keys)."""
    return {
        "type": "object",
        "properties": {e: dict(value) for e in cv.ENVIRONMENTS},
        "additionalProperties": False,
        "default": dict(default),
        "description": description,
    }


def schema(properties: Mapping[str, Mapping[str, Any]] | None = None, *, env: bool = False) -> PolicyConfigSchema:
    """A config schema from ``properties`` (each with a ``default``), plus ``environment`` if ``env``."""
    props = {k: dict(v) for k, v in (properties or {}).items()}
    if env:
        props["environment"] = dict(ENVIRONMENT_PROPERTY)
    return PolicyConfigSchema(properties=props)


def resource_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    types: Iterable[str] | Callable[[str], bool],
    check: ResourceCheck,
    config: PolicyConfigSchema | None = None,
    remediation: str | None = None,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    tags: list[str] | None = None,
) -> ResourceValidationPolicy:
    """A resource policy that runs ``check(args, report, settings)`` on resources of ``types``."""
    accepts = types if callable(types) else frozenset(types).__contains__
    cfg_schema = config or schema()

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if accepts(args.resource_type):
            check(args, cast(Report, report), settings(args.get_config(), cfg_schema))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        config_schema=cfg_schema,
        severity=severity,
        remediation_steps=remediation,
        tags=tags,
    )


def stack_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    check: StackCheck,
    config: PolicyConfigSchema | None = None,
    remediation: str | None = None,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    tags: list[str] | None = None,
) -> StackValidationPolicy:
    """A stack policy that runs ``check(args, report, settings)`` once over all resources."""
    cfg_schema = config or schema()

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        check(args, cast(Report, report), settings(args.get_config(), cfg_schema))

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        config_schema=cfg_schema,
        severity=severity,
        remediation_steps=remediation,
        tags=tags,
    )


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def known(obj: Any, *path: str | int) -> Any:
    """Like :func:`get`, but ``None`` where the value is unknown during preview."""
    try:
        return get(obj, *path)
    except UnknownValueError:
        return None


def linked(resource: PolicyResource, target: PolicyResource, *props: str) -> bool:
    """Whether ``resource`` configures ``target`` through one of ``props`` (``bucket``).

    A known prop value is compared with the target's name / id (an S3 bucket's id is its name);
    where the value is unknown (preview of a new resource), the resource's dependencies decide.
    """
    names = {v for key in ("bucket", "name", "id") if isinstance(v := known(target.props, key), str) and v}
    deps = resource.property_dependencies or {}
    for prop in props:
        value = known(resource.props, prop)
        if isinstance(value, str) and value and names:
            return value in names
        if any(dep.urn == target.urn for dep in deps.get(prop, [])):
            return True
    return any(dep.urn == target.urn for dep in resource.dependencies)
