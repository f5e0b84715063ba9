"""Monthly chargeback: per team and cost center, GPU-hours by model, spend, budget and variance, idle GPU-hours.

``python -m infra report chargeback --stack S --month YYYY-MM [--json|--csv|--markdown]``

Sources:

- **OpenCost** (any cluster): ``/allocation/compute`` (per pod: namespace, node, GPU-hours, costs,
  GPU usage) and ``/assets`` (per node: labels, GPU count, GPU cost). It splits the cluster's cost
  between pods. A device the kubelet hands out on a MIG or time-sliced pool is a fraction of a GPU
  (1 / slices per GPU, 1 / replicas): GPU-hours and GPU cost are counted as that fraction, and what
  the fractions leave of a node's GPU cost stays ``(unallocated)`` instead of being billed twice.
- **The bill** (optional) scales the split to what was invoiced: Cost Explorer on AWS
  (``GetCostAndUsage``, EC2 compute of the environment's nodes by the ``project`` / ``environment`` tags), the
  BigQuery billing export on GCP (``SUM(cost)`` of the cluster's rows); the report's totals equal the
  source's total either way (``total_usd == source_total_usd``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from infra import config

IDLE_UTILISATION = 0.30
"""A GPU allocation averaging under this utilisation is idle."""
UNALLOCATED = "(unallocated)"
TEAM_LABEL_KEYS = ("label_ml_platform_io_team", "ml-platform.io/team")
POOL_LABEL_KEYS = ("label_ml_platform_io_pool", "ml-platform.io/pool")


class ChargebackError(RuntimeError):
    """A source answered something the report cannot use."""


def month_window(month: str) -> tuple[date, date]:
    """``YYYY-MM`` -> (first day, first day of the next month)."""
    m = re.fullmatch(r"([0-9]{4})-(0[1-9]|1[0-2])", month)
    if not m:
        raise ValueError(f"--month {month!r} is not YYYY-MM (for example 2026-11)")
    year, mon = int(m.group(1)), int(m.group(2))
    return date(year, mon, 1), date(year + (mon == 12), mon % 12 + 1, 1)


@dataclass
class TeamLine:
    team: str
    cost_center: str
    spend_usd: float = 0.0
    gpu_hours: dict[str, float] = field(default_factory=dict)
    """GPU model -> GPU-hours (fractions of a GPU for MIG slices and time-sliced shares)."""
    idle_gpu_hours: float = 0.0
    budget_usd: float | None = None

    @property
    def variance_usd(self) -> float | None:
        """Budget minus spend (negative: over budget)."""
        return None if self.budget_usd is None else round(self.budget_usd - self.spend_usd, 2)


@dataclass
class Report:
    stack: str
    month: str
    source: str
    teams: list[TeamLine]
    total_usd: float
    source_total_usd: float
    opencost_total_usd: float

    def by_cost_center(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for t in self.teams:
            row = out.setdefault(
                t.cost_center, {"spend_usd": 0.0, "budget_usd": 0.0, "gpu_hours": 0.0, "idle_gpu_hours": 0.0, "teams": []}
            )
            row["spend_usd"] = round(row["spend_usd"] + t.spend_usd, 2)
            row["budget_usd"] = round(row["budget_usd"] + (t.budget_usd or 0.0), 2)
            row["gpu_hours"] = round(row["gpu_hours"] + sum(t.gpu_hours.values()), 4)
            row["idle_gpu_hours"] = round(row["idle_gpu_hours"] + t.idle_gpu_hours, 4)
            row["teams"].append(t.team)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "month": self.month,
            "source": self.source,
            "total_usd": self.total_usd,
            "source_total_usd": self.source_total_usd,
            "opencost_total_usd": self.opencost_total_usd,
            "teams": [{**asdict(t), "variance_usd": t.variance_usd} for t in self.teams],
            "cost_centers": self.by_cost_center(),
        }


# ---- OpenCost ------------------------------------------------------------------------------------


def _label(labels: Mapping[str, Any] | None, keys: Sequence[str]) -> str | None:
    for k in keys:
        if labels and labels.get(k):
            return str(labels[k])
    return None


def _entries(payload: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
    if payload.get("code") not in (200, None) or "data" not in payload:
        raise ChargebackError(f"OpenCost {what}: unexpected answer {str(payload)[:200]}")
    data = payload["data"]
    sets = data if isinstance(data, list) else [data]
    return [v for s in sets for v in (s or {}).values()]


@dataclass(frozen=True)
class NodeInfo:
    pool: str | None
    gpu_model: str | None
    device_share: float
    """Fraction of a physical GPU one advertised device is."""
    gpu_usd_per_gpu_hour: float
    gpu_cost: float


def node_infos(cfg: config.PlatformConfig, assets: Mapping[str, Any]) -> dict[str, NodeInfo]:
    pools = {p.name: p for p in cfg.gpu_pools}
    out: dict[str, NodeInfo] = {}
    for a in _entries(assets, "assets"):
        if a.get("type") != "Node":
            continue
        props = a.get("properties") or {}
        name = props.get("name") or a.get("name")
        pool = pools.get(_label(a.get("labels"), POOL_LABEL_KEYS) or "")
        share, model = 1.0, None
        if pool is not None:
            gpu = cfg.pool_gpu(pool)
            model = gpu.key
            if pool.mig_profile:
                share = 1.0 / gpu.mig_profiles[pool.mig_profile]
            elif pool.time_slicing_replicas:
                share = 1.0 / pool.time_slicing_replicas
        hours = float(a.get("minutes", 0.0)) / 60.0
        gpus = float(a.get("gpuCount", 0.0))
        cost = float(a.get("gpuCost", 0.0))
        rate = cost / (gpus * hours) if gpus and hours else 0.0
        out[str(name)] = NodeInfo(pool.name if pool else None, model, share, rate, cost)
    return out


def from_opencost(
    cfg: config.PlatformConfig, allocations: Mapping[str, Any], assets: Mapping[str, Any]
) -> tuple[dict[str, TeamLine], float]:
    """Team lines (unscaled) and OpenCost's total, from ``/allocation/compute`` (aggregate=pod) and ``/assets``."""
    nodes = node_infos(cfg, assets)
    teams = {t.name: t for t in cfg.teams}
    lines: dict[str, TeamLine] = {}
    total = 0.0
    for a in _entries(allocations, "allocation"):
        props = a.get("properties") or {}
        cost = float(a.get("totalCost", 0.0))
        total += cost
        ns = str(props.get("namespace") or "")
        team = _label(props.get("namespaceLabels"), TEAM_LABEL_KEYS) or (ns if ns in teams else None)
        name = team if team in teams else UNALLOCATED
        line = lines.setdefault(
            name,
            TeamLine(
                name,
                teams[name].cost_center if name in teams else "platform",
                budget_usd=teams[name].budget_usd if name in teams else None,
            ),
        )
        device_hours = float(a.get("gpuHours", 0.0))
        node = nodes.get(str(props.get("node") or ""))
        if device_hours and node is not None:
            gpu_hours = device_hours * node.device_share
            # bill the fraction of the GPU the device is, at the node's per-GPU price; the rest of
            # OpenCost's GPU cost for this allocation stays unallocated (not billed as a whole GPU)
            fair = gpu_hours * node.gpu_usd_per_gpu_hour
            gpu_cost = float(a.get("gpuCost", 0.0))
            moved = max(gpu_cost - fair, 0.0) if node.device_share < 1.0 else 0.0
            cost -= moved
            lines.setdefault(UNALLOCATED, TeamLine(UNALLOCATED, "platform")).spend_usd += moved
            model = node.gpu_model or "unknown"
            line.gpu_hours[model] = line.gpu_hours.get(model, 0.0) + gpu_hours
            usage = a.get("gpuAllocation") or {}
            used, requested = usage.get("gpuUsageAverage"), usage.get("gpuRequestAverage")
            if used is not None and requested:
                if float(used) / float(requested) < IDLE_UTILISATION:
                    line.idle_gpu_hours += gpu_hours
        line.spend_usd += cost
    return lines, total


# ---- the bill ------------------------------------------------------------------------------------


def cost_explorer_total(ce: Any, *, environment: str, start: date, end: date, project: str = "ml-platform") -> float:
    """Unblended EC2 compute cost of the environment's nodes for the month (Cost Explorer).

    The nodes carry the platform's ``project`` / ``environment`` tags (Karpenter EC2NodeClass, node groups);
    both must be active cost allocation tags (``monitoring.costAllocationTags``)."""
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        Filter={
            "And": [
                {"Tags": {"Key": "project", "Values": [project], "MatchOptions": ["EQUALS"]}},
                {"Tags": {"Key": "environment", "Values": [environment], "MatchOptions": ["EQUALS"]}},
                {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Elastic Compute Cloud - Compute"]}},
            ]
        },
    )
    if not answer.get("ResultsByTime"):
        raise ChargebackError(
            f"Cost Explorer returned no cost data for {start:%Y-%m} (are the project / environment cost allocation tags active?)"
        )
    total = 0.0
    for period in answer["ResultsByTime"]:
        amount = (period.get("Total") or {}).get("UnblendedCost")
        if amount is None:
            raise ChargebackError(f"Cost Explorer returned no UnblendedCost for {period.get('TimePeriod')}")
        if amount.get("Unit") != "USD":
            raise ChargebackError(f"Cost Explorer returned {amount.get('Unit')}, not USD")
        total += float(amount["Amount"])
    return total


def bigquery_sql(table: str, *, cluster: str, start: date, end: date) -> str:
    """The billing-export query: the cluster's cost (GKE cost allocation rows carry ``goog-k8s-cluster-name``)."""
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", table):
        raise ValueError(f"{table!r} is not a BigQuery table id (project.dataset.table)")
    return (
        "SELECT SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) c), 0)) AS total "
        f"FROM `{table}` WHERE EXISTS (SELECT 1 FROM UNNEST(labels) l WHERE l.key = 'goog-k8s-cluster-name' AND l.value = '{cluster}') "
        f"AND usage_start_time >= TIMESTAMP('{start.isoformat()}') AND usage_start_time < TIMESTAMP('{end.isoformat()}')"
    )


def bigquery_total(rows: Sequence[Mapping[str, Any]]) -> float:
    """``SUM`` row of :func:`bigquery_sql` as the BigQuery ``jobs.query`` REST answer gives it (``rows[0].f[0].v``)."""
    if len(rows) != 1:
        raise ChargebackError(f"BigQuery returned {len(rows)} rows for one SUM")
    value = rows[0]["f"][0]["v"]
    return float(value) if value is not None else 0.0


# ---- the report ----------------------------------------------------------------------------------


def build(
    cfg: config.PlatformConfig,
    *,
    stack: str,
    month: str,
    allocations: Mapping[str, Any],
    assets: Mapping[str, Any],
    bill_total: float | None = None,
    bill_source: str = "opencost",
) -> Report:
    """The report; with ``bill_total`` the OpenCost split is scaled so that the teams add up to the bill."""
    month_window(month)
    lines, oc_total = from_opencost(cfg, allocations, assets)
    for team in cfg.teams:  # every team appears, with its budget, even without spend
        lines.setdefault(team.name, TeamLine(team.name, team.cost_center, budget_usd=team.budget_usd))
    source_total = oc_total if bill_total is None else bill_total
    factor = source_total / oc_total if oc_total else 0.0
    for line in lines.values():
        line.spend_usd = round(line.spend_usd * factor, 2)
        line.gpu_hours = {k: round(v, 4) for k, v in sorted(line.gpu_hours.items())}
        line.idle_gpu_hours = round(line.idle_gpu_hours, 4)
    ordered = sorted(lines.values(), key=lambda t: (t.team == UNALLOCATED, t.team))
    # rounding: put the last cent on the unallocated line so the total is the source's to the cent
    drift = round(round(source_total, 2) - sum(t.spend_usd for t in ordered), 2)
    if drift:
        lines.setdefault(UNALLOCATED, TeamLine(UNALLOCATED, "platform")).spend_usd = round(
            lines[UNALLOCATED].spend_usd + drift, 2
        )
        ordered = sorted(lines.values(), key=lambda t: (t.team == UNALLOCATED, t.team))
    return Report(
        stack,
        month,
        bill_source,
        ordered,
        round(sum(t.spend_usd for t in ordered), 2),
        round(source_total, 2),
        round(oc_total, 2),
    )


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["team", "cost_center", "gpu_model", "gpu_hours", "idle_gpu_hours", "spend_usd", "budget_usd", "variance_usd"])
    for t in report.teams:
        models = t.gpu_hours or {"": 0.0}
        for i, (model, hours) in enumerate(models.items()):
            first = i == 0
            w.writerow(
                [
                    t.team,
                    t.cost_center,
                    model,
                    f"{hours:.4f}",
                    f"{t.idle_gpu_hours:.4f}" if first else "",
                    f"{t.spend_usd:.2f}" if first else "",
                    "" if t.budget_usd is None or not first else f"{t.budget_usd:.2f}",
                    "" if t.variance_usd is None or not first else f"{t.variance_usd:.2f}",
                ]
            )
    return buf.getvalue()


def to_markdown(report: Report) -> str:
    lines = [
        f"## Chargeback `{report.stack}` {report.month}",
        "",
        f"Total **${report.total_usd:,.2f}** (source: {report.source}, source total ${report.source_total_usd:,.2f}).",
        "",
    ]
    spent = [t for t in report.teams if t.spend_usd > 0]
    if spent:
        lines += ["```mermaid", f"pie showData title Spend by team, {report.month} (USD)"]
        lines += [f'    "{t.team}" : {t.spend_usd:.2f}' for t in spent]
        lines += ["```", ""]
    lines += [
        "| team | cost center | GPU-hours by model | idle GPU-hours (<30% used) | spend USD | budget USD | variance USD |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for t in report.teams:
        gpu = ", ".join(f"{m}: {h:g}" for m, h in t.gpu_hours.items()) or "-"
        budget = "-" if t.budget_usd is None else f"{t.budget_usd:,.2f}"
        var = "-" if t.variance_usd is None else f"{t.variance_usd:,.2f}"
        lines.append(f"| {t.team} | {t.cost_center} | {gpu} | {t.idle_gpu_hours:g} | {t.spend_usd:,.2f} | {budget} | {var} |")
    lines += [
        "",
        "| cost center | teams | spend USD | budget USD | GPU-hours | idle GPU-hours |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for cc, row in sorted(report.by_cost_center().items()):
        lines.append(
            f"| {cc} | {', '.join(row['teams'])} | {row['spend_usd']:,.2f} | {row['budget_usd']:,.2f} | {row['gpu_hours']:g} | {row['idle_gpu_hours']:g} |"
        )
    return "\n".join(lines) + "\n"


def fetch_opencost(url: str, start: date, end: date, get: Callable[[str], Mapping[str, Any]] | None = None) -> tuple[dict, dict]:
    """``/allocation/compute`` by pod and ``/assets`` for the window, from an OpenCost API base URL."""
    window = f"{start.isoformat()}T00:00:00Z,{end.isoformat()}T00:00:00Z"
    get = get or _http_json
    base = url.rstrip("/")
    allocations = get(f"{base}/allocation/compute?window={window}&aggregate=pod&accumulate=true&includeIdle=false")
    assets = get(f"{base}/assets?window={window}&accumulate=true")
    return dict(allocations), dict(assets)


def _http_json(url: str) -> Mapping[str, Any]:
    from urllib.request import urlopen

    with urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())
