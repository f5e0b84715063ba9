"""Pulumi policy packs of ml-platform: ``tagging``, ``security`` and ``cost``.

Each pack is a directory holding ``PulumiPolicy.yaml``, ``requirements.txt``, ``__main__.py``
(builds the ``PolicyPack``; run by the Pulumi CLI only), one module per rule and
``config/<environment>.json`` (the pack config for ``--policy-pack-config``). The offline plan
loads the same rule lists and the same config files through :func:`load_pack` / :func:`pack_config`.

Policies import only the standard library, ``pulumi_policy`` and ``catalog/`` - never
``components/`` or ``infra/``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

PACKS = ("tagging", "security", "cost")
"""Pack directories under ``policies/``, in evaluation order."""
ROOT = Path(__file__).resolve().parent


def load_pack(pack: str) -> ModuleType:
    """The pack's package (``NAME``, ``DESCRIPTION``, ``ENFORCEMENT``, ``POLICIES``)."""
    if pack not in PACKS:
        raise ValueError(f"unknown policy pack {pack!r}; packs: {', '.join(PACKS)}")
    return importlib.import_module(f"policies.{pack}")


def config_path(pack: str, environment: str) -> Path:
    return ROOT / pack / "config" / f"{environment}.json"


def pack_config(pack: str, environment: str) -> dict[str, Any]:
    """The pack config shipped for ``environment`` (what ``--policy-pack-config`` is given)."""
    path = config_path(pack, environment)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
