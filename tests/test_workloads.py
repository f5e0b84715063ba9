"""Workload templates (catalog/templates/workloads) and ``python -m infra workload new``.

Every rendered template must be something the cluster accepts and the platform admits: valid for
the Kubernetes 1.33 schema or the pinned CRD (JobSet, KServe), naming only objects the plan
creates for that team (namespace, LocalQueue, service account, PriorityClass, lake buckets, pool
node labels and taints), passing the policy packs, and never naming another team's queue, prefix
or identity.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from catalog import conventions as cv
from infra import config, policy_hook, workload
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.chart_values import crd_validator, schema_errors

ROOT = Path(__file__).resolve().parent.parent
CLOUD_STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
ACCOUNT = "123456789012"  # the mock engine's account id (infra/plan/mocks.py)
IMAGE = "ghcr.io/acme/trainer@sha256:" + "0123456789abcdef" * 4
K8S_VERSION = "1.33.0"
CRDS = {
    "JobSet": ("jobset/crds/jobset.x-k8s.io_jobsets.yaml", "v1alpha2"),
    "InferenceService": ("kserve/crds/serving.kserve.io_inferenceservices.yaml", "v1beta1"),
}


@functools.cache
def _k8s_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """``kubernetes_validate.validate(..., strict=True)``'s validator, built once per kind (it reloads
    the whole definitions file on every call)."""
    folder = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv_utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", K8S_VERSION)
    definitions = kv_utils.schema_contents(f"{folder}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _crd_validator(upstream: Path, kind: str) -> jsonschema.protocols.Validator:
    """The pinned CRD's schema (like ``chart_values.crd_validator``, parsed with libyaml: the 2 MB KServe
    CRD takes 15 s with the pure-Python parser), once per session."""
    path, version = CRDS[kind]
    doc = yaml.load((upstream / path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        return crd_validator(upstream / path, version)  # skips with the reason
    (schema,) = [v["schema"]["openAPIV3Schema"] for v in doc["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(schema)


def _k8s_errors(doc: dict[str, Any]) -> list[str]:
    return schema_errors(_k8s_validator(doc["apiVersion"], doc["kind"]), doc)


def _model_uri(names: workload.TeamNames) -> str:
    return names.lake["models"] + "models/churn/3"


def _render(cfg: config.PlatformConfig, team: str, kind: str, pool: str | None = None) -> dict[str, Any]:
    names = workload.team_names(cfg, team, account_id=ACCOUNT if cfg.cloud == "aws" else None)
    return workload.render(
        cfg,
        team=team,
        kind=kind,
        image=None if kind == "serving" else IMAGE,
        model_uri=_model_uri(names) if kind in ("batch", "serving") else None,
        account_id=ACCOUNT if cfg.cloud == "aws" else None,
        pool=pool,
    )


def _renders(cfg: config.PlatformConfig) -> Iterator[tuple[str, str, str | None, dict[str, Any]]]:
    """(team, kind, pool, manifest) for every team x kind x eligible pool of the stack."""
    for team in cfg.teams:
        for kind in workload.KINDS:
            pools: list[str | None] = [p.name for p in cfg.gpu_pools]
            if kind in ("batch", "serving"):
                pools.append(None)  # the default choice (may be CPU nodes)
            for pool in pools:
                yield team.name, kind, pool, _render(cfg, team.name, kind, pool)


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return workload._pod_specs(doc)


# ---- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_every_rendered_template_validates_against_kubernetes_and_the_pinned_crds(stack: str, upstream: Path) -> None:
    cfg = config.load_stack(stack)
    validators = {kind: _crd_validator(upstream, kind) for kind in CRDS}
    seen = set()
    for team, kind, pool, doc in _renders(cfg):
        where = f"{stack}/{team}/{kind}/{pool}"
        if doc["kind"] in validators:
            errors = schema_errors(validators[doc["kind"]], doc)
            assert not errors, f"{where}: {errors}"
            # the pod template inside a JobSet / the predictor's container are core types: check them too
            for spec in _pod_specs(doc):
                if doc["kind"] == "JobSet":
                    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}
                    assert not _k8s_errors(pod), f"{where}: {_k8s_errors(pod)}"
        else:
            assert not _k8s_errors(doc), f"{where}: {_k8s_errors(doc)}"
        seen.add(doc["kind"])
    assert seen == {"Job", "JobSet", "InferenceService"}


def test_a_misspelt_field_fails_the_schema_checks(upstream: Path) -> None:
    cfg = config.load_stack("dev")
    job = _render(cfg, "research", "training")
    assert not _k8s_errors(job)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)  # our cached validator is the library's
    job["spec"]["template"]["spec"]["tolerationz"] = []
    assert _k8s_errors(job)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    isvc = _render(cfg, "research", "serving")
    isvc["spec"]["predictor"]["scaleMetric"] = "gpu-duty"
    assert schema_errors(_crd_validator(upstream, "InferenceService"), isvc)


# ---- the names are the plan's ---------------------------------------------------------------------


def _named(plan: engine.Plan, type_suffix: str) -> set[tuple[str | None, str]]:
    out = set()
    for r in plan.resources:
        if r.type.endswith(type_suffix) and isinstance(r.inputs.get("metadata"), dict):
            out.add((r.inputs["metadata"].get("namespace"), r.inputs["metadata"].get("name")))
    return out


def _buckets(plan: engine.Plan) -> set[str]:
    return {
        str(r.inputs.get("bucket") or r.inputs.get("name"))
        for r in plan.resources
        if r.type in ("aws:s3/bucket:Bucket", "gcp:storage/bucket:Bucket")
    }


def _pool_nodes(plan: engine.Plan, pool: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Labels and taints of the nodes the plan makes for ``pool`` (Karpenter, EKS node group or GKE pool)."""
    for r in plan.resources:
        if r.type == "kubernetes:karpenter.sh/v1:NodePool":
            tmpl = r.inputs["spec"]["template"]
            labels, taints = tmpl["metadata"]["labels"], tmpl["spec"].get("taints", [])
        elif r.type == "gcp:container/nodePool:NodePool":
            labels, taints = r.inputs["nodeConfig"].get("labels", {}), r.inputs["nodeConfig"].get("taints", [])
            taints = [
                {**t, "effect": {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}.get(t["effect"], t["effect"])}
                for t in taints
            ]
        elif r.type == "aws:eks/nodeGroup:NodeGroup":
            labels, taints = r.inputs.get("labels", {}), r.inputs.get("taints", [])
            taints = [{**t, "effect": {"NO_SCHEDULE": "NoSchedule"}.get(t["effect"], t["effect"])} for t in taints]
        else:
            continue
        if labels.get(cv.POOL_LABEL) == pool:
            return labels, taints
    raise AssertionError(f"no nodes for pool {pool!r} in the plan")


def _tolerated(taint: dict[str, str], tolerations: list[dict[str, str]]) -> bool:
    return any(
        t["key"] == taint["key"]
        and t.get("effect") in (None, taint["effect"])
        and (t["operator"] == "Exists" or t.get("value") == taint.get("value"))
        for t in tolerations
    )


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_rendered_templates_name_what_the_plan_creates(stack: str, plan_of: Callable[[str], engine.Plan]) -> None:
    plan = plan_of(stack)
    cfg = plan.config
    queues = _named(plan, ":LocalQueue")
    accounts = _named(plan, "core/v1:ServiceAccount")
    priorities = {n for _, n in _named(plan, "scheduling.k8s.io/v1:PriorityClass")}
    buckets = _buckets(plan)
    for team, kind, pool, doc in _renders(cfg):
        where = f"{stack}/{team}/{kind}/{pool}"
        ns = doc["metadata"]["namespace"]
        assert ns == team
        assert (ns, doc["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]) in queues, where
        for spec in _pod_specs(doc):
            assert (ns, spec["serviceAccountName"]) in accounts, where
            assert spec["priorityClassName"] in priorities, where
            if "nodeSelector" in spec:
                labels, taints = _pool_nodes(plan, spec["nodeSelector"][cv.POOL_LABEL])
                assert spec["nodeSelector"].items() <= labels.items(), f"{where}: node selector matches no node label"
                for taint in taints:
                    assert _tolerated(taint, spec["tolerations"]), f"{where}: {taint} not tolerated"
            else:
                assert kind in ("batch", "serving") and pool is None, f"{where}: a GPU workload without a pool"
        for container in workload._containers(doc):
            for env in container.get("env", []):
                if env.get("value", "").startswith(("s3://", "gs://")):
                    assert env["value"].split("/")[2] in buckets, f"{where}: {env['name']} names no lake bucket of the plan"


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_gpu_requests_are_what_the_team_queue_offers_on_the_pool(stack: str, plan_of: Callable[[str], engine.Plan]) -> None:
    """Kueue admits a job only when the team's ClusterQueue has the requested resource on the pool's flavor."""
    plan = plan_of(stack)
    cqs = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.resources if r.type.endswith(":ClusterQueue")}
    flavors = {
        r.inputs["metadata"]["name"]: r.inputs["spec"].get("nodeLabels", {})
        for r in plan.resources
        if r.type.endswith(":ResourceFlavor")
    }
    for team, kind, pool, doc in _renders(plan.config):
        for spec, container in zip(_pod_specs(doc), workload._containers(doc), strict=True):
            if "nodeSelector" not in spec:
                continue
            (flavor,) = [f for f, labels in flavors.items() if labels and labels.items() <= spec["nodeSelector"].items()]
            offered = {
                res["name"]
                for group in cqs[team]["resourceGroups"]
                for fl in group["flavors"]
                if fl["name"] == flavor
                for res in fl["resources"]
            }
            extended = {r for r in container["resources"]["requests"] if "/" in r}
            assert extended and extended <= offered, (
                f"{stack}/{team}/{kind}/{pool}: requests {extended}, flavor {flavor} offers {offered}"
            )


@pytest.mark.parametrize("stack", ["dev", "gcp-dev"])
def test_checkpoints_and_batch_io_stay_under_the_team_prefix(stack: str) -> None:
    cfg = config.load_stack(stack)
    job = _render(cfg, "research", "training")
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    assert "/teams/research/checkpoints/train/" in env["CHECKPOINT_DIR"]
    batch = _render(cfg, "research", "batch")
    env = {e["name"]: e["value"] for e in batch["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    assert "/teams/research/" in env["INPUT_URI"] and "/teams/research/predictions/" in env["OUTPUT_URI"]


def test_prod_serving_stays_off_spot_capacity() -> None:
    cfg = config.load_stack("prod")
    serving_pools = [p for p in cfg.gpu_pools if p.purpose == "serving"]
    assert serving_pools, "prod has a serving pool"
    for pool in serving_pools:
        spec = _render(cfg, cfg.teams[0].name, "serving", pool.name)["spec"]["predictor"]
        assert spec["minReplicas"] >= 2
        if "spot" in pool.capacity:
            terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            assert terms[0]["matchExpressions"] == [
                {"key": "karpenter.sh/capacity-type", "operator": "NotIn", "values": ["spot"]}
            ]


# ---- policy packs -----------------------------------------------------------------------------------


def _as_resources(docs: list[dict[str, Any]]) -> list[RecordedResource]:
    out = []
    for i, doc in enumerate(docs):
        group_version = doc["apiVersion"] if "/" in doc["apiVersion"] else f"core/{doc['apiVersion']}"
        type_ = f"kubernetes:{group_version}:{doc['kind']}"
        urn = f"urn:pulumi:template::ml-platform::{type_}::tmpl-{i}"
        out.append(RecordedResource(urn, type_, f"tmpl-{i}", True, "", "", False, False, [], doc))
    return out


@pytest.mark.parametrize("stack", ["dev", "prod", "gcp-prod"])
def test_rendered_templates_pass_the_policy_packs(stack: str, plan_of: Callable[[str], engine.Plan]) -> None:
    """Added to the stack's own resources, the templates draw no violation (as the plan runs the packs)."""
    plan = plan_of(stack)
    docs = [doc for _, _, _, doc in _renders(plan.config)]
    templates = _as_resources(docs)
    urns = {r.urn for r in templates}
    found = policy_hook.evaluate_resources(
        [*plan.resources, *templates], plan.config.environment, overrides=policy_hook.plan_overrides(plan.config)
    )
    assert not [v for v in found if v.urn in urns], [f"{v.policy}: {v.message}" for v in found if v.urn in urns]
    before = {(v.policy, v.urn, v.message) for v in plan.violations}
    assert {(v.policy, v.urn, v.message) for v in found} <= before


def test_the_policy_packs_see_a_bad_template() -> None:
    """The same check goes red for a privileged trainer (the packs really look at the templates)."""
    cfg = config.load_stack("dev")
    job = _render(cfg, "research", "training")
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    found = policy_hook.evaluate_resources(_as_resources([job]), "dev")
    assert any(v.policy == "mlp-sec-019" for v in found)


# ---- isolation between teams --------------------------------------------------------------------------


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _assert_only_own(doc: dict[str, Any], team: str, others: list[str], names: workload.TeamNames) -> None:
    assert doc["metadata"]["namespace"] == team
    for spec in _pod_specs(doc):
        assert spec["serviceAccountName"] in (f"{team}-workloads", f"{team}-serving")
    for s in _strings(doc):
        for other in others:
            assert f"teams/{other}/" not in s, f"{team}'s template names {other}'s prefix: {s}"
            assert s not in (f"{other}-workloads", f"{other}-serving", other), f"{team}'s template names {other}: {s}"
        if s.startswith(("s3://", "gs://")):
            assert s.split("/", 3)[3].startswith(f"teams/{team}/"), f"{team}'s template writes outside its prefix: {s}"


def test_a_template_for_one_team_never_names_another_team() -> None:
    """Every team of every stack, every kind and pool; plus teams whose names prefix each other."""
    cases = [config.load_stack(s) for s in CLOUD_STACKS]
    raw, _ = config.read_stack_file(config.stack_file("dev"))
    base = raw["teams"][0]
    raw["teams"] = [{**base, "name": n, "quotas": {**base["quotas"], "gpu": 0}} for n in ("ml", "ml-ops", "ops", "a", "a-b")]
    cases.append(config.parse(raw))
    checked = 0
    for cfg in cases:
        teams = [t.name for t in cfg.teams]
        for team, _kind, _, doc in _renders(cfg):
            names = workload.team_names(cfg, team, account_id=ACCOUNT if cfg.cloud == "aws" else None)
            _assert_only_own(doc, team, [t for t in teams if t != team], names)
            checked += 1
    assert checked > 100


def test_the_isolation_check_catches_a_leak() -> None:
    cfg = config.load_stack("dev")
    names = workload.team_names(cfg, "research", account_id=ACCOUNT)
    doc = _render(cfg, "research", "training")
    doc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = names.lake["models"].replace("research", "recsys")
    with pytest.raises(AssertionError):
        _assert_only_own(doc, "research", ["recsys"], names)


def test_model_uris_are_what_the_pod_identity_can_read() -> None:
    cfg = config.load_stack("dev")
    names = workload.team_names(cfg, "research", account_id=ACCOUNT)
    registry = names.models_registry_uri + "1/models/m-0123/artifacts"
    for bad in (
        "s3://someone-elses-bucket/model",
        names.lake["raw"] + "m",
        names.lake["models"].replace("research", "recsys") + "m",
    ):
        with pytest.raises(workload.WorkloadError, match="--model-uri"):
            workload.render(cfg, team="research", kind="serving", model_uri=bad, account_id=ACCOUNT)
    # without the serving identity the team identity cannot read the registry's prefix
    with pytest.raises(workload.WorkloadError, match="--model-uri"):
        workload.render(cfg, team="research", kind="serving", model_uri=registry, account_id=ACCOUNT)
    # a batch job may load a registered model through the MLflow server
    job = workload.render(cfg, team="research", kind="batch", model_uri="models:/churn/3", image=IMAGE, account_id=ACCOUNT)
    assert {"name": "MODEL_URI", "value": "models:/churn/3"} in job["spec"]["template"]["spec"]["containers"][0]["env"]
    # with serving on, the InferenceService runs as <team>-serving, which reads the registry
    raw, _ = config.read_stack_file(config.stack_file("dev"))
    isvc = workload.render(
        config.parse({**raw, "serving": {"enabled": True}}),
        team="research",
        kind="serving",
        model_uri=registry,
        account_id=ACCOUNT,
    )
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "research-serving"
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == registry


# ---- command line -------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", "workload", "new", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_cli_renders_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "job.yaml"
    res = _cli("--team", "research", "--kind", "training", "--stack", "gcp-dev", "--image", IMAGE, "--out", str(out))
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["metadata"]["namespace"] == "research" and doc["kind"] == "Job"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--team", "nobody", "--kind", "training", "--stack", "dev"], "--team: 'nobody'"),
        (["--team", "research", "--kind", "cron", "--stack", "dev"], "--kind: 'cron'"),
        (["--team", "research", "--kind", "training", "--stack", "nostack"], "--stack: 'nostack'"),
        (["--team", "research", "--kind", "training", "--stack", "onprem", "--image", IMAGE], "builds no data lake"),
        (["--team", "research", "--kind", "training", "--stack", "dev", "--image", IMAGE], "--account-id"),
        (
            ["--team", "research", "--kind", "training", "--stack", "dev", "--account-id", "12", "--image", IMAGE],
            "--account-id: '12'",
        ),
        (
            ["--team", "research", "--kind", "training", "--stack", "dev", "--account-id", ACCOUNT, "--image", "torch:latest"],
            "digest",
        ),
        (
            [
                "--team",
                "research",
                "--kind",
                "training",
                "--stack",
                "dev",
                "--account-id",
                ACCOUNT,
                "--image",
                IMAGE,
                "--pool",
                "x",
            ],
            "--pool: 'x'",
        ),
        (["--team", "research", "--kind", "serving", "--stack", "gcp-dev"], "--model-uri"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args: list[str], needle: str) -> None:
    res = _cli(*args)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr and not res.stdout


def test_each_template_is_a_kustomize_base_of_its_manifest() -> None:
    """``kustomize build catalog/templates/workloads/v1/<dir>`` works: the base lists the manifest the CLI renders."""
    for directory, manifest in workload.KINDS.values():
        base = yaml.safe_load((workload.TEMPLATES_DIR / directory / "kustomization.yaml").read_text())
        assert base["kind"] == "Kustomization" and base["resources"] == [manifest]
        doc = yaml.safe_load((workload.TEMPLATES_DIR / directory / manifest).read_text())
        assert doc["metadata"]["labels"]["ml-platform.io/template-version"] == workload.TEMPLATE_VERSION.lstrip("v")


def test_serving_scales_on_gpu_utilisation_through_keda() -> None:
    """The serving template scales with KEDA on CPU and on its own pods' GPU utilisation (DCGM in the stack's
    in-cluster Prometheus); KServe installs the KEDA the annotation needs, at KServe's own pin."""
    from components.k8s import kserve
    from components.k8s import monitoring as mon

    cfg = config.load_stack("staging")
    isvc = _render(cfg, "research", "serving", "serve-l4")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == kserve.AUTOSCALER_CLASS == "keda"
    metrics = isvc["spec"]["predictor"]["autoScaling"]["metrics"]
    assert {m["type"] for m in metrics} == {"Resource", "External"}
    (gpu,) = [m["external"] for m in metrics if m["type"] == "External"]
    assert gpu["metric"]["backend"] == "prometheus"
    assert (
        gpu["metric"]["serverAddress"]
        == f"http://{mon.PROMETHEUS_SERVICE}.{cv.NS_MONITORING}.svc.cluster.local:{mon.PROMETHEUS_PORT}"
    )
    query = gpu["metric"]["query"]
    assert query.startswith("sum(DCGM_FI_DEV_GPU_UTIL{") and 'namespace="research"' in query
    assert f'pod=~"{isvc["metadata"]["name"]}-predictor-.*"' in query  # KServe's Deployment <name>-predictor
    assert gpu["target"] == {"type": "Value", "value": "70"}
    assert "PROMETHEUS_URL" not in str(isvc) and "GPU_UTILISATION_QUERY" not in str(isvc)
    # no NVIDIA GPU (the default CPU placement) or no in-cluster Prometheus: CPU only
    cpu_only = _render(cfg, "research", "serving", None) if not any(p.purpose == "serving" for p in cfg.gpu_pools) else None
    managed = cfg.model_copy(update={"monitoring": cfg.monitoring.model_copy(update={"backend": "managed"})})
    for doc in (d for d in (cpu_only, _render(managed, "research", "serving", "serve-l4")) if d is not None):
        assert [m["type"] for m in doc["spec"]["predictor"]["autoScaling"]["metrics"]] == ["Resource"]
    # KEDA is part of the KServe install, pinned to the version KServe v0.20.0 installs, before the controller
    order = [name for name, *_ in kserve.releases()]
    assert order.index("keda") < order.index("kserve-resources")
    (keda,) = [r for r in kserve.releases() if r[0] == "keda"]
    assert keda[1:5] == ("keda", "https://kedacore.github.io/charts", "2.18.0", kserve.KEDA_NAMESPACE)
