"""Reading a resource's inputs as the engine hands them over: the one place that decodes them.

Inputs reach us in three shapes: plain ``dict`` / ``list`` (the offline plan), ``pulumi_policy``'s
read-only proxies (``Mapping`` / ``Sequence`` but not ``dict`` / ``list``; reading an unknown value
raises its ``UnknownValueError``), and, for some provider inputs (``defaultTags``, objects inside
a preview's config), JSON-encoded strings. Every reader in ``catalog/``, ``policies/`` and
``infra/`` goes through these functions instead of decoding on its own.

Pure standard library: the policy packs' virtualenvs import it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

EMPTY: Mapping[str, Any] = {}


def decoded(value: Any) -> Any:
    """``value`` with a JSON-encoded object / array string decoded; anything else unchanged.

    A string that merely starts like JSON but does not parse is returned as it is.
    """
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def as_list(value: Any) -> Sequence[Any]:
    """A list input (lists, policy proxies, a JSON array string); anything else (``None``, scalars) is empty."""
    value = decoded(value)
    return value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else []


def as_map(value: Any) -> Mapping[str, Any]:
    """A mapping input (dicts, policy proxies, a JSON object string); anything else (``[unknown]``, ``None``) is empty."""
    value = decoded(value)
    return value if isinstance(value, Mapping) else EMPTY


def get_in(data: Any, *path: str) -> Any:
    """The value at ``path`` through nested mappings (JSON strings on the way decoded); ``None`` if a step is missing."""
    for key in path:
        data = decoded(data)
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def number(value: Any) -> float | None:
    """A number from an int, a float or a numeric string; ``None`` for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def truthy(value: Any) -> bool:
    """A boolean input as the engine may hand it: ``True`` or the string ``"true"`` (any case)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")
