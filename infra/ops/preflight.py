"""``python -m infra ops preflight --stack S``: is this account / project ready for a first deploy?

Each cloud's checks live in their own module and share one interface::

    run(cfg: PlatformConfig, *, clients: Any = None, backend_url: str | None = None, **kwargs) -> list[Finding]

``infra.ops.preflight_aws`` (boto3) and ``infra.ops.preflight_gcp`` (Google client libraries). A check
that cannot be made (an API the caller may not call) is a finding with ``ok=False`` and a message
saying what to do, never an exception: the command prints every finding, one line each, and exits 1
if any is not ok. ``cloud: existing`` has nothing to check in a cloud account.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One preflight check: ``check`` a short stable id (``quota.aws.gpu-g-vt-on-demand``,
    ``slr.autoscaling``, ``backend``...), ``ok`` whether it passed, ``message`` one line for a human
    (what is there, or what is missing and how to fix it)."""

    check: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


PREFLIGHT_MODULES = {"aws": "infra.ops.preflight_aws", "gcp": "infra.ops.preflight_gcp"}
"""Cloud -> the module whose ``run(cfg, ...)`` returns the findings."""


def runner(cloud: str) -> Callable[..., list[Finding]] | None:
    """The ``run`` function of ``cloud``'s preflight module, or ``None`` if the cloud has none."""
    name = PREFLIGHT_MODULES.get(cloud)
    if name is None:
        return None
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise  # a missing dependency of the module is a real error
        return _not_available(cloud)
    run_checks: Callable[..., list[Finding]] = module.run
    return run_checks


def _not_available(cloud: str) -> Callable[..., list[Finding]]:
    def run(cfg: Any, **_: Any) -> list[Finding]:
        return [Finding("cloud", False, f"no preflight checks for cloud {cloud!r} in this version")]

    return run


def run(cfg: Any, **kwargs: Any) -> list[Finding]:
    """Every finding for ``cfg``'s cloud (``kwargs`` go to the cloud module unchanged)."""
    fn = runner(cfg.cloud)
    if fn is None:
        return [Finding("cloud", True, f"cloud {cfg.cloud!r}: no cloud account to check (the cluster is yours)")]
    return fn(cfg, **kwargs)


def format_line(finding: Finding) -> str:
    """``ok   check: message`` / ``MISSING check: message`` (one line)."""
    return f"{'ok     ' if finding.ok else 'MISSING'} {finding.check}: {finding.message}"
