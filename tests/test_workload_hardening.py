"""Our own pod specs (issue 16): pinned by digest, high non-root UID, read-only root, RuntimeDefault seccomp, limits.

"Our own" = the Kubernetes workload objects the program creates directly (not the charts' templates,
whose security context the charts' values set and the chart owners maintain)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.plan import engine
from tests.helpers import STACKS

WORKLOADS = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
}
MIN_UID = 10000


def pod_specs(plan: engine.Plan) -> Iterator[tuple[str, dict[str, Any]]]:
    for type_, path in WORKLOADS.items():
        for res in plan.by_type(type_):
            spec: Any = res.inputs
            for key in path:
                spec = spec[key]
            yield res.urn, spec


def problems(spec: dict[str, Any]) -> list[str]:
    out = []
    pod_ctx = spec.get("securityContext") or {}
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        ctx = {**pod_ctx, **(c.get("securityContext") or {})}
        name = c["name"]
        if "@sha256:" not in c["image"]:
            out.append(f"{name}: image {c['image']} is not pinned by digest")
        if ctx.get("runAsNonRoot") is not True or int(ctx.get("runAsUser", 0)) < MIN_UID:
            out.append(f"{name}: must run as a non-root UID >= {MIN_UID} (runAsUser {ctx.get('runAsUser')})")
        if ctx.get("readOnlyRootFilesystem") is not True:
            out.append(f"{name}: readOnlyRootFilesystem is not true")
        if (ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            out.append(f"{name}: seccompProfile is not RuntimeDefault")
        if ctx.get("allowPrivilegeEscalation") is not False or "ALL" not in (ctx.get("capabilities") or {}).get("drop", []):
            out.append(f"{name}: allowPrivilegeEscalation must be false and every capability dropped")
        limits = (c.get("resources") or {}).get("limits") or {}
        if not {"cpu", "memory"} <= set(limits):
            out.append(f"{name}: needs cpu and memory limits (has {sorted(limits)})")
        for env in c.get("env", []):
            if "value" in env and any(w in env["name"].upper() for w in ("PASSWORD", "TOKEN", "SECRET")):
                out.append(f"{name}: {env['name']} is a literal; take it from a Secret")
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_spec_we_write_is_hardened(stack: str, plan_of: Callable[[str], engine.Plan]) -> None:
    for urn, spec in pod_specs(plan_of(stack)):
        assert problems(spec) == [], urn


def test_there_are_pod_specs_to_check(plan_of: Callable[[str], engine.Plan]) -> None:
    found = [urn for stack in ("prod", "gcp-prod") for urn, _ in pod_specs(plan_of(stack))]
    assert any("feast-registry-db" in u for u in found), found


def test_the_checker_catches_each_weakness() -> None:
    good = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "x@sha256:" + "0" * 64,
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                "securityContext": {
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
    assert problems(good) == []
    import copy

    for mutate, says in (
        (lambda s: s["containers"][0].update(image="postgres:17"), "digest"),
        (lambda s: s["securityContext"].update(runAsUser=70), "UID"),
        (lambda s: s["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"), "readOnlyRootFilesystem"),
        (lambda s: s["securityContext"].pop("seccompProfile"), "seccomp"),
        (lambda s: s["containers"][0]["resources"]["limits"].pop("cpu"), "limits"),
        (lambda s: s["containers"][0].update(env=[{"name": "PGPASSWORD", "value": "x"}]), "literal"),
    ):
        bad = copy.deepcopy(good)
        mutate(bad)
        assert any(says in p for p in problems(bad)), says


def _release(plan: engine.Plan, chart: str) -> dict[str, Any]:
    (rel,) = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == chart]
    return rel.inputs["values"]


def test_chart_values_we_set_harden_the_feature_server_and_mlflow(plan_of: Callable[[str], engine.Plan], upstream) -> None:
    import yaml

    plan = plan_of("prod")
    feast = _release(plan, "feast-feature-server")
    pod, ctr = feast["podSecurityContext"], feast["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= MIN_UID and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert (
        ctr["readOnlyRootFilesystem"] is True
        and ctr["allowPrivilegeEscalation"] is False
        and ctr["capabilities"] == {"drop": ["ALL"]}
    )
    assert {"name": "tmp", "mountPath": "/tmp"} in feast["volumeMounts"]  # the one writable scratch path
    assert feast["resources"]["limits"].keys() >= {"cpu", "memory"}
    mlflow = _release(plan, "mlflow")
    assert mlflow["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "securityContext" not in mlflow  # the chart's default stays: read-only root, non-root, no capabilities
    chart_default = yaml.safe_load((upstream / "mlflow" / "values.yaml").read_text())["securityContext"]
    assert chart_default["readOnlyRootFilesystem"] is True and chart_default["runAsNonRoot"] is True
