"""The dependency rules of README's Layout section, read from the source (every import, lazy ones too)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("infra", "components", "policies", "catalog")


@dataclass(frozen=True)
class Rule:
    """Modules under ``source`` must not import modules under any of ``forbidden``."""

    source: str
    forbidden: tuple[str, ...]
    why: str


RULES = (
    Rule("components", ("infra",), "components never import infra/"),
    Rule("components.k8s", ("components.aws", "components.gcp"), "components/k8s/ imports neither aws/ nor gcp/"),
    Rule("policies", ("components", "infra"), "policies never import components (their virtualenv has only catalog/)"),
    Rule(
        "catalog",
        ("components", "infra", "policies", "pulumi", "pulumi_policy", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes"),
        "catalog/ is data and pure lookups every layer reads",
    ),
    Rule(
        "infra.config",
        ("components", "infra.layers"),
        "the stack config reads cloud facts from catalog/, never from the components or layers it configures",
    ),
    *(
        Rule(
            cloud,
            ("infra.layers.k8s*",),
            "a cloud layer hands the Kubernetes layer facts (infra/layers/context.py), never imports it",
        )
        for cloud in ("infra.layers.aws*", "infra.layers.gcp*", "infra.layers.existing")
    ),
)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, relative ones resolved; ``from a import b`` yields ``a.b`` too."""
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _under(module: str, prefix: str) -> bool:
    """``module`` is ``prefix`` or inside it; ``prefix*`` matches every module whose name starts with ``prefix``."""
    if prefix.endswith("*"):
        return module.startswith(prefix[:-1])
    return module == prefix or module.startswith(prefix + ".")


def first_party_files(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def violations(root: Path) -> list[str]:
    """One line per import that breaks a :data:`RULES` entry, ``path:line: module (rule)``."""
    out = []
    for path in first_party_files(root):
        mod = module_name(root, path)
        for rule in RULES:
            if not _under(mod, rule.source):
                continue
            reported = set()
            for line, target in imports(root, path):
                if line not in reported and any(_under(target, f) for f in rule.forbidden):
                    reported.add(line)
                    out.append(f"{path.relative_to(root)}:{line}: imports {target} ({rule.why})")
    return sorted(out)


def graph(root: Path) -> dict[str, set[str]]:
    """First-party module -> the first-party modules it imports (anywhere in the file)."""
    files = {module_name(root, p): p for p in first_party_files(root)}
    out: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps = set()
        for _, target in imports(root, path):
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != mod and not _under(mod, target):  # a package's own __init__ is not a cycle
                deps.add(target)
        out[mod] = deps
    return out


def cycles(root: Path, among: tuple[str, ...]) -> list[list[str]]:
    """Import cycles through the modules under ``among``: one shortest cycle per strongly connected
    group of modules (Kosaraju's two passes, then a breadth-first search inside the group)."""
    full = graph(root)
    g = {m: {n for n in deps if any(_under(n, a) for a in among)} for m, deps in full.items() if any(_under(m, a) for a in among)}
    order: list[str] = []
    done: set[str] = set()
    for start in sorted(g):  # first pass: finishing order, iteratively
        if start in done:
            continue
        done.add(start)
        stack = [(start, iter(sorted(g[start])))]
        while stack:
            node, it = stack[-1]
            nxt = next((n for n in it if n in g and n not in done), None)
            if nxt is None:
                order.append(node)
                stack.pop()
            else:
                done.add(nxt)
                stack.append((nxt, iter(sorted(g[nxt]))))
    reverse: dict[str, set[str]] = {m: set() for m in g}
    for m, deps in g.items():
        for n in deps:
            if n in reverse:
                reverse[n].add(m)
    found: list[list[str]] = []
    assigned: set[str] = set()
    for start in reversed(order):  # second pass: each tree of the reversed graph is one group
        if start in assigned:
            continue
        group, todo = {start}, [start]
        assigned.add(start)
        while todo:
            for n in reverse[todo.pop()]:
                if n not in assigned:
                    assigned.add(n)
                    group.add(n)
                    todo.append(n)
        first = min(group)
        if len(group) == 1 and first not in g[first]:
            continue
        paths = {first: [first]}
        queue = [first]
        while queue:  # shortest way from ``first`` back to itself inside the group
            node = queue.pop(0)
            for n in sorted(g[node] & group):
                if n == first:
                    found.append([*paths[node], first])
                    queue = []
                    break
                if n not in paths:
                    paths[n] = [*paths[node], n]
                    queue.append(n)
    return sorted(found)
