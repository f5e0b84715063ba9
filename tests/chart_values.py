"""Reusable checks against pinned upstream data: Helm values keys and CRD schemas.

``assert_keys_exist(values, upstream_values_yaml)`` fails when a value key we set does not exist
in the chart's own ``values.yaml`` (a typo or a key the pinned chart version dropped would be
silently ignored by Helm). ``crd_validator(path, version)`` returns a jsonschema validator for a
CRD's ``openAPIV3Schema``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers import deep_freeze

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def yaml_documents(path: Path) -> tuple[Any, ...]:
    """Every document of a pinned upstream YAML file, parsed once per test process (with libyaml where
    PyYAML has it: the pinned CRDs are 7 MB) and frozen, since the tests share them (change a copy)."""
    return tuple(deep_freeze(doc) for doc in yaml.load_all(path.read_text(), Loader=_LOADER))


def _load(upstream: Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(upstream, Path):
        docs = yaml_documents(upstream)
        return (docs[0] if docs else None) or {}
    return upstream


def missing_keys(values: Mapping[str, Any], upstream: Path | Mapping[str, Any], *, free_form: Iterable[str] = ()) -> list[str]:
    """Dotted paths of ``values`` keys that the upstream ``values.yaml`` does not have.

    A key whose upstream default is an empty map (``annotations: {}``) or ``null`` takes anything
    below it; so do the dotted paths in ``free_form`` (maps with example defaults, such as
    ``nodeSelector``). Lists and scalars are leaves.
    """
    allowed = set(free_form)
    found: list[str] = []

    def walk(ours: Mapping[str, Any], theirs: Any, prefix: str) -> None:
        for key, value in ours.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if path in allowed:
                continue
            if not isinstance(theirs, Mapping) or key not in theirs:
                found.append(path)
                continue
            default = theirs[key]
            if isinstance(value, Mapping):
                if default is None or default == {}:
                    continue
                if not isinstance(default, Mapping):
                    found.append(f"{path} (upstream is a {type(default).__name__}, not a map)")
                    continue
                walk(value, default, path)

    walk(values, _load(upstream), "")
    return found


def assert_keys_exist(values: Mapping[str, Any], upstream: Path | Mapping[str, Any], *, free_form: Iterable[str] = ()) -> None:
    """Fail listing every value key missing from the upstream ``values.yaml``."""
    missing = missing_keys(values, upstream, free_form=free_form)
    assert not missing, f"Helm value keys not in the upstream values.yaml: {', '.join(missing)}"


def chart_version(chart_yaml: Path) -> str:
    return str(yaml_documents(chart_yaml)[0]["version"])


def crd_validator(path: Path, version: str) -> jsonschema.protocols.Validator:
    """A validator for ``version`` of the CRD in ``path``.

    Fails the calling test when the file is not a CRD, for example a git symlink stored as its
    target path (``../../../pkg/apis/crds/...``): the pinned data is present (the ``upstream``
    fixture skips only when it is absent altogether) but wrong, so it must be re-fetched - a
    schema check that silently skips would pass on any object.
    """
    docs = yaml_documents(path)
    doc = docs[0] if docs else None
    if not isinstance(doc, Mapping) or doc.get("kind") != "CustomResourceDefinition":
        text = path.read_text()
        pytest.fail(
            f"{path} is not a CRD (content {text.strip()[:80]!r}: a git symlink?); "
            "fetch the pinned CRD into another directory with `python tests/fetch_upstream.py --dest DIR` "
            "and set ML_PLATFORM_UPSTREAM=DIR"
        )
    for v in doc["spec"]["versions"]:
        if v["name"] == version:
            schema = v["schema"]["openAPIV3Schema"]
            return jsonschema.Draft7Validator(schema)
    raise AssertionError(f"{path} has no version {version!r}")


def schema_errors(validator: jsonschema.protocols.Validator, obj: Mapping[str, Any]) -> list[str]:
    """Readable schema errors of ``obj`` (empty when it validates)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj)]
