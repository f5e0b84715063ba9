"""How a bad stack file is reported: :class:`ConfigError`, one ``key path: reason`` line per mistake.

The CLI prints the lines and exits 2 (see ``infra/cli.py``); nothing is registered before the
config is valid.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from infra.config.base import NAMESPACE, Problem


class ConfigError(ValueError):
    """The stack configuration is invalid. ``problems`` holds ``(key path, reason)`` pairs."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {reason}" for path, reason in problems))


def key_path(loc: tuple[Any, ...]) -> str:
    """The stack-file key path of a pydantic location: ``ml-platform:gpuPools[0].maxNodes``."""
    out = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if i else "") + str(part)
    return out


def pydantic_problems(err: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error of validating ``model``: key path, the bad value, what is allowed."""
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = tuple(loc[:-1])
            msg = f"unknown key {loc[-1]!r}; allowed: {', '.join(allowed_keys(model, parent))}"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        problems.append((key_path(loc), msg))
    return problems


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at ``loc`` (under ``model``) may hold, as spelled in the stack file."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            for c in args:
                nested = next((a for a in getattr(c, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)), None)
                if nested:
                    break
        if nested is None:
            return []
        current = nested
    return sorted(f.alias or n for n, f in current.model_fields.items())
