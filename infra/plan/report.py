"""Render a plan: terminal summary (rich), plan JSON, pull-request Markdown, Kubernetes manifests."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.plan import lifecycle as lifecycle_model
from infra.plan.model import Plan, RecordedResource

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def component_of(plan: Plan, res: RecordedResource) -> str:
    """The outermost component a resource belongs to (its type), or ``(stack)``."""
    parents = {r.urn: r for r in plan.resources}
    top: RecordedResource | None = None
    cur = parents.get(res.parent)
    while cur is not None:
        if not cur.custom:
            top = cur
        cur = parents.get(cur.parent)
    if top is None and not res.custom:
        return res.type
    return top.type if top else "(stack)"


def counts(plan: Plan) -> Counter[tuple[str, str]]:
    return Counter(
        (component_of(plan, r), r.type) for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")
    )


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def print_summary(plan: Plan, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"{plan.project} / {plan.stack}: {len(plan.resources)} resources")
    table.add_column("component")
    table.add_column("type")
    table.add_column("count", justify="right")
    for (component, type_), n in sorted(counts(plan).items()):
        table.add_row(component, type_, str(n))
    console.print(table)
    if plan.violations:
        vt = Table(title=f"policy violations ({len(plan.mandatory_violations)} mandatory)")
        for col in ("pack", "policy", "enforcement", "resource", "message"):
            vt.add_column(col)
        for v in plan.violations:
            # messages quote keys such as spec.limits[aws.amazon.com/neuron]: not Rich markup
            vt.add_row(v.pack, v.policy, v.enforcement, escape(v.urn.rsplit("::", 1)[-1]), escape(v.message))
        console.print(vt)
    else:
        console.print("policy violations: none")
    print_lifecycle(plan.lifecycle or lifecycle_model.Lifecycle(), console)
    cost = plan.cost
    idle = cost.get("monthly_usd_idle")
    line = f"estimated monthly cost: {_usd(cost.get('monthly_usd', 0.0))}"
    if idle is not None:
        line += f" at ceiling, {_usd(idle)} idle"
    console.print(line)
    for title, key, cols in (
        ("cost by GPU pool", "by_pool", ("idle", "ceiling")),
        ("cost by team", "by_team", ("monthly_usd_idle", "monthly_usd")),
    ):
        rows = cost.get(key) or {}
        if rows:
            ct = Table(title=f"{title} (USD/month)")
            for col in (key[3:], "idle", "at ceiling"):
                ct.add_column(col, justify="left" if col == key[3:] else "right")
            for name, value in sorted(rows.items()):
                ct.add_row(name, *(_usd(value.get(c, 0.0)) for c in cols))
            console.print(ct)


def print_lifecycle(lifecycle: lifecycle_model.Lifecycle, console: Console) -> None:
    """The deploy-lifecycle verdict: waves, and a table of problems (each fails the plan)."""
    waves = f"{len(lifecycle.create_waves)} create waves, {len(lifecycle.destroy_waves)} destroy waves"
    if not lifecycle.problems:
        console.print(f"deploy lifecycle: no problems ({waves})")
        return
    table = Table(title=f"deploy-lifecycle problems ({len(lifecycle.problems)}; {waves})")
    for col in ("check", "resource", "message"):
        table.add_column(col)
    for p in lifecycle.problems:
        table.add_row(p.check, lifecycle_model.short(p.urn), p.message)
    console.print(table)


def _lifecycle_markdown(lifecycle: lifecycle_model.Lifecycle) -> list[str]:
    lines = ["", "### Deploy lifecycle", ""]
    if lifecycle.problems:
        lines += [
            f"> [!CAUTION]\n> **{len(lifecycle.problems)} deploy-lifecycle problem(s)**: a first `pulumi up` or a `pulumi destroy` "
            "of this stack would fail or leak (docs/first-deploy.md).",
            "",
            "| check | resource | problem |",
            "|---|---|---|",
        ]
        for p in lifecycle.problems:
            msg = p.message.replace("|", "\\|")
            lines.append(f"| {p.check} | `{lifecycle_model.short(p.urn)}` | {msg} |")
    else:
        lines.append("No problems: every resource is created after what it needs and deleted before it.")
    for title, waves in (("Create waves", lifecycle.create_waves), ("Destroy waves", lifecycle.destroy_waves)):
        lines += ["", f"<details><summary>{title} ({len(waves)})</summary>", "", "| wave | resources |", "|---:|---|"]
        for i, wave in enumerate(waves, 1):
            lines.append(f"| {i} | {', '.join(f'`{lifecycle_model.short(u)}`' for u in wave)} |")
        lines += ["", "</details>"]
    return lines


def write_json(plan: Plan, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=False) + "\n")


def markdown(plan: Plan) -> str:
    lines = [f"## ml-platform plan: `{plan.stack}`", ""]
    mandatory = len(plan.mandatory_violations)
    status = (
        "no policy violations" if not plan.violations else f"{len(plan.violations)} policy violations ({mandatory} mandatory)"
    )
    lifecycle = plan.lifecycle or lifecycle_model.Lifecycle()  # a Plan built by hand may have none
    if lifecycle.problems:
        status += f" · **{len(lifecycle.problems)} deploy-lifecycle problems**"
    lines += [
        f"**{len(plan.resources)} resources** · {status} · estimated **{_usd(plan.cost.get('monthly_usd', 0.0))}/month**"
        + (f" at ceiling, {_usd(plan.cost['monthly_usd_idle'])}/month idle" if "monthly_usd_idle" in plan.cost else ""),
        "",
        "| component | type | count |",
        "|---|---|---:|",
    ]
    for (component, type_), n in sorted(counts(plan).items()):
        lines.append(f"| `{component}` | `{type_}` | {n} |")
    lines += ["", "### Policy violations", ""]
    if plan.violations:
        lines += ["| pack | policy | enforcement | resource | message |", "|---|---|---|---|---|"]
        for v in plan.violations:
            msg = v.message.replace("|", "\\|")
            lines.append(f"| {v.pack} | {v.policy} | {v.enforcement} | `{v.urn.rsplit('::', 1)[-1]}` | {msg} |")
    else:
        lines.append("None.")
    lines += _lifecycle_markdown(lifecycle)
    from infra.plan import pictures

    lines += pictures.sections(plan)
    lines += ["", "### Cost by team", ""]
    by_team = plan.cost.get("by_team", {})
    if by_team:
        lines += ["| team | at ceiling USD/month | idle USD/month |", "|---|---:|---:|"]
        for team, value in sorted(by_team.items()):
            amount = value.get("monthly_usd", 0.0) if isinstance(value, dict) else value
            idle = _usd(value["monthly_usd_idle"]) if isinstance(value, dict) and "monthly_usd_idle" in value else ""
            lines.append(f"| {team} | {_usd(amount)} | {idle} |")
    else:
        lines.append("No estimate yet.")
    by_pool = plan.cost.get("by_pool", {})
    lines += ["", "### Cost by GPU pool", ""]
    if by_pool:
        lines += ["| pool | idle USD/month | at ceiling USD/month |", "|---|---:|---:|"]
        for pool, value in sorted(by_pool.items()):
            lines.append(f"| {pool} | {_usd(value.get('idle', 0.0))} | {_usd(value.get('ceiling', 0.0))} |")
    else:
        lines.append("No GPU pools.")
    if "price_date" in plan.cost:
        lines += [
            "",
            f"List prices of {plan.cost['price_date']} ({', '.join(plan.cost.get('reference_region', {}).values())}), "
            f"{plan.cost.get('hours_per_month', 730)} h/month, spot price for spot and spot-with-fallback pools; "
            "idle = pools at min nodes, at ceiling = pools at max nodes / GPU limit (docs/cost.md).",
        ]
    items = sorted(plan.cost.get("by_item", []), key=lambda i: -i.get("monthly_usd", 0.0))
    if items:
        lines += [
            "",
            "<details><summary>Cost by resource</summary>",
            "",
            "| resource | at ceiling | idle | basis |",
            "|---|---:|---:|---|",
        ]
        for i in items:
            basis = str(i.get("basis", "")).replace("|", "\\|")
            lines.append(
                f"| `{i['urn'].rsplit('::', 1)[-1]}` | {_usd(i['monthly_usd'])} | {_usd(i.get('monthly_usd_idle', i['monthly_usd']))} | {basis} |"
            )
        lines += ["", "</details>"]
    lines += fleet_markdown(plan.fleet)
    return "\n".join(lines) + "\n"


def fleet_markdown(fleet: dict[str, Any]) -> list[str]:
    """A fleet manager's workers in dispatch order, with the price of bursting there (docs/hybrid.md)."""
    if fleet.get("role") != "manager":
        return []
    lines = [
        "",
        f"### Fleet: {len(fleet['workers'])} workers, dispatcher `{fleet['dispatcher']}` (step {fleet['step_size']})",
        "",
    ]
    lines += [
        "| order | worker | stack | cloud | GPU ceiling | $/GPU-hour | at ceiling / month |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for w in fleet["workers"]:
        price = "unknown" if w["usd_per_gpu_hour"] is None else f"${w['usd_per_gpu_hour']:,.2f}"
        monthly = "unknown" if w["monthly_usd_at_ceiling"] is None else _usd(w["monthly_usd_at_ceiling"])
        ceiling = "?" if w["gpu_ceiling"] is None else str(w["gpu_ceiling"])
        lines.append(
            f"| {w['order']} | `{w['name']}` | {w['stack'] or '(kubeconfig)'} | {w['cloud']} | {ceiling} | {price} | {monthly} |"
        )
    shares = ", ".join(f"{team} {share:.0%}" for team, share in sorted(fleet["burst_share"].items()))
    lines += ["", f"Share of each team's fleet accelerators on cloud workers: {shares}."]
    return lines


def write_markdown(plan: Plan, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(plan))


def _manifest(res: RecordedResource) -> dict[str, Any] | None:
    if not res.type.startswith("kubernetes:") or res.type.startswith("pulumi:providers"):
        return None
    if res.type == HELM_RELEASE:
        i = res.inputs
        return {
            "kind": "HelmRelease",
            "name": i.get("name", res.name),
            "namespace": i.get("namespace"),
            "chart": i.get("chart"),
            "version": i.get("version"),
            "repo": (i.get("repositoryOpts") or {}).get("repo"),
            "values": i.get("values", {}),
        }
    _, group_version, kind = res.type.split(":")
    doc = {k: v for k, v in res.inputs.items() if k not in ("apiVersion", "kind")}
    api = res.inputs.get("apiVersion") or ("v1" if group_version.startswith("core/") else group_version)
    return {"apiVersion": api, "kind": res.inputs.get("kind", kind), **doc}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def write_manifests(plan: Plan, directory: Path) -> list[Path]:
    """One YAML file per Kubernetes object (Helm releases: chart, version, repo and values)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for res in plan.resources:
        doc = _manifest(res)
        if doc is None:
            continue
        meta = doc.get("metadata") or {}
        ns = meta.get("namespace") or doc.get("namespace") or "cluster"
        name = meta.get("name") or doc.get("name") or res.name
        path = directory / f"{_safe(doc['kind'].lower())}-{_safe(ns)}-{_safe(name)}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        written.append(path)
    return written
