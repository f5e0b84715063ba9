"""Diff two plan JSONs (the public contract): what a pull request adds, changes, replaces and deletes.

Pure functions over plain data: :func:`load` reads and checks a plan JSON file, :func:`diff` compares
two of them and returns plain data (the ``--json`` output of ``python -m infra diff``),
:func:`markdown` renders that for a pull-request comment.

A change is a **replace** when it touches a property the provider cannot update in place: the table in
``catalog/replace_on_changes.json`` (generated from the providers' schemas, see
``bench/gen_replace_on_changes.py``). Secret values never appear: a path that is ``[secret]`` on
either side is shown as ``[secret]`` on both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from catalog import replace_on_changes

SECRET = "[secret]"
OPTIONS = ("protect", "retain_on_delete")
"""Resource options compared besides the inputs (shown as ``(protect)``, ``(retain_on_delete)``)."""
_REQUIRED = {"project": str, "stack": str, "resources": list}


class DiffInputError(ValueError):
    """A file that is not a plan JSON, or two plans that cannot be compared (exit code 2)."""


# ---------------------------------------------------------------- input


def load(path: Path) -> dict[str, Any]:
    """Read a plan JSON written by ``python -m infra plan --json``.

    :raises DiffInputError: missing or unreadable file, not JSON, or not a plan JSON.
    """
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise DiffInputError(f"{path}: cannot read: {err.strerror or err}") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise DiffInputError(f"{path}: not JSON (line {err.lineno}: {err.msg})") from err
    check(doc, str(path))
    return doc


def check(doc: Any, where: str = "plan") -> None:
    """Raise :class:`DiffInputError` unless ``doc`` has the plan JSON's required fields."""
    if not isinstance(doc, dict):
        raise DiffInputError(f"{where}: not a plan JSON (expected an object with project, stack, resources)")
    for key, kind in _REQUIRED.items():
        if not isinstance(doc.get(key), kind):
            raise DiffInputError(f"{where}: not a plan JSON: {key!r} missing or not a {kind.__name__}")
    for i, res in enumerate(doc["resources"]):
        if not isinstance(res, dict) or not isinstance(res.get("urn"), str) or not isinstance(res.get("type"), str):
            raise DiffInputError(f"{where}: not a plan JSON: resources[{i}] has no urn/type")
    if "cost" in doc and not isinstance(doc["cost"], dict):
        raise DiffInputError(f"{where}: not a plan JSON: 'cost' is not an object")


# ---------------------------------------------------------------- property changes


def _is_secret(value: Any) -> bool:
    return value == SECRET


def changes(old: Any, new: Any, path: str = "") -> Iterator[dict[str, Any]]:
    """Leaf-level changes between two input values: ``{path, old, new}`` (``None`` = absent).

    Objects are compared key by key, lists of equal length item by item (``path[i]``); a list whose
    length changed is one change. A value that is ``[secret]`` on either side is ``[secret]`` on both.
    """
    if old == new:
        return
    old, new = _decoded(old), _decoded(new)
    if old == new:  # the same JSON document written with another key order (provider config, policies)
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from changes(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from changes(a, b, f"{path}[{i}]")
        return
    if _holds_secret(old) or _holds_secret(new):  # secret on either side, or a list that grew holding one
        yield {
            "path": path,
            "old": SECRET if old is not None else None,
            "new": SECRET if new is not None else None,
            "secret": True,
        }
        return
    yield {"path": path, "old": old, "new": new}


def _decoded(value: Any) -> Any:
    """A string holding a JSON object or array (provider ``defaultTags``, IAM policies) as data."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return _is_secret(value)


def _pattern(prop: str) -> re.Pattern[str]:
    """A replace-on-change property (``a.b[*].c``) as a regex matching it and anything under it."""
    body = re.escape(prop).replace(r"\[\*\]", r"\[\d+\]")
    return re.compile(rf"^{body}(?=$|[.\[])")


def _under(prefix: str, prop: str) -> bool:
    """Whether ``prop`` (a replace property) lies under the changed path ``prefix`` (a whole object changed)."""
    generic = re.sub(r"\[\d+\]", "[*]", prefix)
    return prop.startswith(generic + ".") or prop.startswith(generic + "[")


def replace_properties(type_: str) -> tuple[str, ...]:
    return replace_on_changes.properties(type_)


def _forces_replace(type_: str, change: dict[str, Any]) -> bool:
    path = change["path"]
    for prop in replace_properties(type_):
        if _pattern(prop).match(path):
            return True
        if _under(path, prop):  # a whole object or list changed that holds a replace property
            return True
    return False


def resource_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The input and option changes of one resource, each marked ``replace`` where it forces one."""
    found = []
    for change in changes(old.get("inputs") or {}, new.get("inputs") or {}):
        change["replace"] = _forces_replace(new["type"], change)
        found.append(change)
    for opt in OPTIONS:
        if bool(old.get(opt)) != bool(new.get(opt)):
            found.append({"path": f"({opt})", "old": bool(old.get(opt)), "new": bool(new.get(opt)), "replace": False})
    return found


# ---------------------------------------------------------------- cost, violations, lifecycle


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _delta(old: float, new: float) -> dict[str, float]:
    return {"old": round(old, 2), "new": round(new, 2), "delta": round(new - old, 2)}


def _pair(old_idle: float, old_ceiling: float, new_idle: float, new_ceiling: float) -> dict[str, dict[str, float]]:
    return {"idle": _delta(old_idle, new_idle), "ceiling": _delta(old_ceiling, new_ceiling)}


def _changed(entry: dict[str, dict[str, float]]) -> bool:
    return any(entry[k]["delta"] != 0 for k in ("idle", "ceiling"))


def cost_delta(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Idle and at-ceiling monthly USD: total, by team, by GPU pool and by item (changed rows only)."""
    bc, hc = base.get("cost") or {}, head.get("cost") or {}

    def idle_of(cost: dict[str, Any]) -> float:
        return _num(cost.get("monthly_usd_idle", cost.get("monthly_usd")))

    out: dict[str, Any] = {"total": _pair(idle_of(bc), _num(bc.get("monthly_usd")), idle_of(hc), _num(hc.get("monthly_usd")))}
    for key, idle_key, ceiling_key in (("by_team", "monthly_usd_idle", "monthly_usd"), ("by_pool", "idle", "ceiling")):
        old, new = bc.get(key) or {}, hc.get(key) or {}
        rows: dict[str, dict[str, Any]] = {}
        for name in sorted(set(old) | set(new)):
            o, n = old.get(name) or {}, new.get(name) or {}
            o_ceiling, n_ceiling = _num(o.get(ceiling_key)), _num(n.get(ceiling_key))
            entry: dict[str, Any] = _pair(
                _num(o.get(idle_key, o.get(ceiling_key))), o_ceiling, _num(n.get(idle_key, n.get(ceiling_key))), n_ceiling
            )
            if _changed(entry) or (name in old) != (name in new):
                entry["status"] = "added" if name not in old else "removed" if name not in new else "changed"
                rows[name] = entry
        out[key] = rows
    old_items = {i["urn"]: i for i in bc.get("by_item") or [] if isinstance(i, dict) and "urn" in i}
    new_items = {i["urn"]: i for i in hc.get("by_item") or [] if isinstance(i, dict) and "urn" in i}
    items = []
    for urn in sorted(set(old_items) | set(new_items)):
        o, n = old_items.get(urn) or {}, new_items.get(urn) or {}
        entry = _pair(
            _num(o.get("monthly_usd_idle", o.get("monthly_usd"))),
            _num(o.get("monthly_usd")),
            _num(n.get("monthly_usd_idle", n.get("monthly_usd"))),
            _num(n.get("monthly_usd")),
        )
        if _changed(entry):
            items.append({"urn": urn, "type": (n or o).get("type", ""), "basis": n.get("basis", o.get("basis", "")), **entry})
    out["by_item"] = items
    return out


def _key(v: dict[str, Any], fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(v.get(f, "")) for f in fields)


def _set_diff(old: list[Any], new: list[Any], fields: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    old_by = {_key(v, fields): v for v in old if isinstance(v, dict)}
    new_by = {_key(v, fields): v for v in new if isinstance(v, dict)}
    return {
        "new": [new_by[k] for k in sorted(set(new_by) - set(old_by))],
        "fixed": [old_by[k] for k in sorted(set(old_by) - set(new_by))],
        "unchanged": [new_by[k] for k in sorted(set(new_by) & set(old_by))],
    }


VIOLATION_KEY = ("pack", "policy", "enforcement", "urn", "message")
LIFECYCLE_KEY = ("check", "urn", "message")


def lifecycle_delta(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """New / fixed lifecycle problems; ``available`` says which sides carry a ``lifecycle`` field."""

    def problems(doc: dict[str, Any]) -> list[Any] | None:
        lc = doc.get("lifecycle")
        return list(lc.get("problems") or []) if isinstance(lc, dict) else None

    old, new = problems(base), problems(head)
    out: dict[str, Any] = dict(_set_diff(old or [], new or [], LIFECYCLE_KEY))
    out["available"] = {"base": old is not None, "head": new is not None}
    return out


# ---------------------------------------------------------------- the diff


def diff(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Compare two plan JSONs of the same project and stack.

    :raises DiffInputError: either is not a plan JSON, or they are of different projects / stacks.
    """
    check(base, "base")
    check(head, "head")
    for key in ("project", "stack"):
        if base[key] != head[key]:
            raise DiffInputError(f"base and head are plans of different {key}s: {base[key]!r} vs {head[key]!r}")
    old = {r["urn"]: r for r in base["resources"]}
    new = {r["urn"]: r for r in head["resources"]}
    added = [{"urn": u, "type": new[u]["type"], "custom": bool(new[u].get("custom", True))} for u in sorted(set(new) - set(old))]
    deleted = [
        {"urn": u, "type": old[u]["type"], "custom": bool(old[u].get("custom", True)), "protect": bool(old[u].get("protect")),
         "retain_on_delete": bool(old[u].get("retain_on_delete"))}
        for u in sorted(set(old) - set(new))
    ]  # fmt: skip
    changed = []
    for urn in sorted(set(old) & set(new)):
        o, n = old[urn], new[urn]
        if o.get("type") != n.get("type"):  # same URN, other type cannot happen (the type is in the URN)
            continue
        found = resource_changes(o, n)
        if found:
            changed.append({
                "urn": urn, "type": n["type"], "custom": bool(n.get("custom", True)),
                "protect": bool(o.get("protect")) or bool(n.get("protect")),
                "replace": any(c["replace"] for c in found), "changes": found,
            })  # fmt: skip
    protected = [
        {"urn": d["urn"], "type": d["type"], "action": "delete", "retain_on_delete": d["retain_on_delete"], "paths": []}
        for d in deleted if d["protect"]
    ] + [
        {"urn": c["urn"], "type": c["type"], "action": "replace", "retain_on_delete": False,
         "paths": [x["path"] for x in c["changes"] if x["replace"]]}
        for c in changed if c["protect"] and c["replace"]
    ]  # fmt: skip
    custom = {
        "added": sum(1 for a in added if a["custom"]),
        "changed": sum(1 for c in changed if c["custom"] and not c["replace"]),
        "replaced": sum(1 for c in changed if c["custom"] and c["replace"]),
        "deleted": sum(1 for d in deleted if d["custom"]),
    }
    violations = _set_diff(base.get("violations") or [], head.get("violations") or [], VIOLATION_KEY)
    result = {
        "project": head["project"],
        "stack": head["stack"],
        "summary": custom,
        "protected": sorted(protected, key=lambda p: (p["action"], p["urn"])),
        "added": added,
        "deleted": deleted,
        "changed": changed,
        "cost": cost_delta(base, head),
        "violations": violations,
        "lifecycle": lifecycle_delta(base, head),
    }
    result["empty"] = is_empty(result)
    return result


def is_empty(d: dict[str, Any]) -> bool:
    """No resource, cost, violation or lifecycle change."""
    cost = d["cost"]
    return not (
        d["added"] or d["deleted"] or d["changed"]
        or _changed(cost["total"]) or cost["by_team"] or cost["by_pool"] or cost["by_item"]
        or d["violations"]["new"] or d["violations"]["fixed"] or d["lifecycle"]["new"] or d["lifecycle"]["fixed"]
    )  # fmt: skip


# ---------------------------------------------------------------- Markdown


def _usd(value: float, signed: bool = False) -> str:
    text = f"${abs(value):,.0f}"
    if not signed:
        return text if value >= 0 else "-" + text
    return ("+" if value >= 0 else "-") + text


def _short(urn: str) -> str:
    """``type::name`` of a URN, the part a reviewer recognises."""
    head, _, name = urn.rpartition("::")
    type_ = head.rsplit("::", 1)[-1].split("$")[-1]
    return f"{type_}::{name}"


def _cell(value: Any, limit: int = 80) -> str:
    if value is None:
        return "_(absent)_"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def headline(d: dict[str, Any]) -> str:
    s = d["summary"]
    total = d["cost"]["total"]["ceiling"]["delta"]
    return f"+{s['added']} ~{s['changed'] + s['replaced']} -{s['deleted']}, {_usd(total, signed=True)}/month at ceiling"


def _mermaid_by_team(rows: dict[str, Any]) -> list[str]:
    """A small xychart-beta bar chart of the at-ceiling delta per team (GitHub renders Mermaid)."""
    names = sorted(rows)
    if not names:
        return []
    values = [rows[n]["ceiling"]["delta"] for n in names]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    if lo == hi:
        hi = lo + 1
    labels = ", ".join(json.dumps(n) for n in names)
    return [
        "```mermaid",
        "xychart-beta",
        '    title "Cost delta by team at ceiling (USD/month)"',
        f"    x-axis [{labels}]",
        f'    y-axis "USD/month" {lo:.0f} --> {hi:.0f}',
        f"    bar [{', '.join(f'{v:.0f}' for v in values)}]",
        "```",
    ]


def _cost_table(title: str, rows: dict[str, Any]) -> list[str]:
    lines = [f"| {title} | idle | Δ idle | at ceiling | Δ at ceiling |", "|---|---:|---:|---:|---:|"]
    for name, e in sorted(rows.items()):
        note = "" if e.get("status", "changed") == "changed" else f" ({e['status']})"
        lines.append(
            f"| {name}{note} | {_usd(e['idle']['new'])} | {_usd(e['idle']['delta'], True)} "
            f"| {_usd(e['ceiling']['new'])} | {_usd(e['ceiling']['delta'], True)} |"
        )
    return lines


def _details(summary: str, body: list[str], *, open_: bool = False) -> list[str]:
    return [f"<details{' open' if open_ else ''}><summary>{summary}</summary>", "", *body, "", "</details>", ""]


MAX_COMMENT_CHARS = 60_000
"""GitHub rejects issue comments above 65,536 characters; leave room for the sticky-comment marker."""


def markdown(d: dict[str, Any], *, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """A pull-request comment: headline, protected resources first, then collapsible sections.

    Above ``max_chars`` the changed resources list their changed paths without values, and if that is
    still too long the comment is cut with a pointer to the full diff (``--json``, the artifact).
    """
    text = _markdown(d, compact=False)
    if len(text) <= max_chars:
        return text
    text = _markdown(d, compact=True)
    if len(text) <= max_chars:
        return text
    note = "\n\n_… cut to fit a GitHub comment: the full diff is in the workflow's artifact (`diff-<stack>.json`)._\n"
    cut = text[: max_chars - len(note) - 200].rsplit("\n", 1)[0]
    cut += "\n\n</details>" * (cut.count("<details") - cut.count("</details>"))  # close what the cut left open
    return cut + note


def _changed_section(title: str, rows: list[dict[str, Any]], *, compact: bool, open_: bool = False) -> list[str]:
    body = []
    for c in rows:
        name = f"**`{_short(c['urn'])}`**" + (" (protected)" if c["protect"] else "")
        if compact:
            paths = ", ".join(f"`{x['path']}`" + (" **(replace)**" if x["replace"] else "") for x in c["changes"])
            body.append(f"- {name}: {paths}")
            continue
        body += [name, "", "| property | old | new | |", "|---|---|---|---|"]
        body += [
            f"| `{x['path']}` | {_cell(x['old'])} | {_cell(x['new'])} | {'**replace**' if x['replace'] else ''} |"
            for x in c["changes"]
        ]
        body.append("")
    return _details(f"{title} ({len(rows)})", body, open_=open_)


def _markdown(d: dict[str, Any], *, compact: bool) -> str:
    if d["empty"]:  # one line: nothing to review for this stack
        return f"**ml-platform plan `{d['stack']}`: no change** (the same resources, cost, violations as the base branch).\n"
    title = f"## ml-platform plan diff: `{d['stack']}`"
    lines = [title, "", f"**{headline(d)}**", ""]
    total = d["cost"]["total"]
    lines += [
        f"Monthly cost: idle {_usd(total['idle']['old'])} → {_usd(total['idle']['new'])} ({_usd(total['idle']['delta'], True)}), "
        f"at ceiling {_usd(total['ceiling']['old'])} → {_usd(total['ceiling']['new'])} ({_usd(total['ceiling']['delta'], True)}).",
        "",
    ]
    if d["protected"]:
        lines += [f"> [!CAUTION]\n> **{len(d['protected'])} protected resource(s) would be deleted or replaced:**", ">"]
        for p in d["protected"]:
            why = f" (forced by {', '.join(f'`{x}`' for x in p['paths'])})" if p["paths"] else ""
            lines.append(f"> - **{p['action']}** `{_short(p['urn'])}`{why}")
        lines.append("")
    providers = [c for c in d["changed"] if c["type"].startswith("pulumi:providers:")]
    if providers:
        lines += ["> [!WARNING]", "> **Provider configuration changes** (every resource using the provider is affected):", ">"]
        for c in providers:
            paths = ", ".join(f"`{x['path']}` {_cell(x['old'], 40)} → {_cell(x['new'], 40)}" for x in c["changes"])
            lines.append(f"> - `{_short(c['urn'])}`: {paths}")
        lines.append("")
    v, lc = d["violations"], d["lifecycle"]
    if v["new"]:
        lines += [
            f"**{len(v['new'])} new policy violation(s)** ({sum(1 for x in v['new'] if x.get('enforcement') == 'mandatory')} mandatory)",
            "",
        ]
    if lc["new"]:
        lines += [f"**{len(lc['new'])} new lifecycle problem(s)**", ""]

    replaced = [c for c in d["changed"] if c["replace"]]
    updated = [c for c in d["changed"] if not c["replace"]]
    if replaced:
        lines += _changed_section("Replaced", replaced, compact=compact, open_=True)
    if updated:
        lines += _changed_section("Updated in place", updated, compact=compact)
    # resources a provider creates or deletes (components are groupings: the JSON lists them too)
    added = [a for a in d["added"] if a["custom"]]
    deleted = [x for x in d["deleted"] if x["custom"]]
    if added:
        lines += _details(f"Added ({len(added)})", [f"- `{_short(a['urn'])}`" for a in added])
    if deleted:
        lines += _details(
            f"Deleted ({len(deleted)})",
            [f"- `{_short(x['urn'])}`" + (" **(protected)**" if x["protect"] else "") for x in deleted],
        )
    cost = d["cost"]
    body = []
    if cost["by_team"]:
        body += [*_mermaid_by_team(cost["by_team"]), "", *_cost_table("team", cost["by_team"]), ""]
    if cost["by_pool"]:
        body += [*_cost_table("GPU pool", cost["by_pool"]), ""]
    if cost["by_item"]:
        body += ["| resource | idle | Δ idle | at ceiling | Δ at ceiling | basis |", "|---|---:|---:|---:|---:|---|"]
        for i in cost["by_item"]:
            basis = str(i.get("basis", "")).replace("|", "\\|")
            body.append(
                f"| `{_short(i['urn'])}` | {_usd(i['idle']['new'])} | {_usd(i['idle']['delta'], True)} "
                f"| {_usd(i['ceiling']['new'])} | {_usd(i['ceiling']['delta'], True)} | {basis} |"
            )
    if body:
        lines += _details("Cost delta by team, GPU pool and item (USD/month)", body)
    if v["new"] or v["fixed"]:
        body = ["| | pack | policy | enforcement | resource | message |", "|---|---|---|---|---|---|"]
        for status in ("new", "fixed"):
            for x in v[status]:
                msg = str(x.get("message", "")).replace("|", "\\|")
                body.append(
                    f"| {status} | {x.get('pack')} | {x.get('policy')} | {x.get('enforcement')} | `{_short(str(x.get('urn', '')))}` | {msg} |"
                )
        lines += _details(
            f"Policy violations: {len(v['new'])} new, {len(v['fixed'])} fixed, {len(v['unchanged'])} unchanged", body
        )
    if lc["new"] or lc["fixed"]:
        body = ["| | check | resource | message |", "|---|---|---|---|"]
        for status in ("new", "fixed"):
            for x in lc[status]:
                msg = str(x.get("message", "")).replace("|", "\\|")
                body.append(f"| {status} | {x.get('check')} | `{_short(str(x.get('urn', '')))}` | {msg} |")
        lines += _details(f"Lifecycle problems: {len(lc['new'])} new, {len(lc['fixed'])} fixed", body)
    if not all(lc["available"].values()):
        missing = [side for side, ok in lc["available"].items() if not ok]
        lines += [f"_Lifecycle checks not in the {' and '.join(missing)} plan: not compared._", ""]
    return "\n".join(lines).rstrip() + "\n"
