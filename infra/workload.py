"""``python -m infra workload new``: render a workload template for one team of one stack.

The templates are Kustomize bases under ``catalog/templates/workloads/v<N>/`` (plain manifests with
placeholder names). Rendering fills in, structurally (never by text substitution), the names the
program itself gives the team: its namespace, the Kueue LocalQueue, the ``<team>-workloads``
service account bound to the team's cloud identity, the GPU pool's node label and tolerations
(the same facts as the pool's Kueue ResourceFlavor), the extended resource the pool offers, and
the lake URIs under ``teams/<team>/``. Every name comes from the validated stack config and the
naming functions the program uses.

Kinds: ``training`` (a ``batch/v1`` Job), ``training-jobset`` (a JobSet, for clusters with the
JobSet CRD), ``batch`` (an indexed Job scoring lake data with an MLflow model) and ``serving`` (a
KServe InferenceService in RawDeployment mode serving an MLflow-registered model).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from catalog import conventions as cv
from catalog import pool_nodes

TEMPLATE_VERSION = "v1"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "catalog" / "templates" / "workloads" / TEMPLATE_VERSION
KINDS = {
    "training": ("training-job", "job.yaml"),
    "training-jobset": ("training-jobset", "jobset.yaml"),
    "batch": ("batch-inference", "job.yaml"),
    "serving": ("serving", "inferenceservice.yaml"),
}
"""``--kind`` -> (template directory, manifest file)."""
CHECKPOINT_ZONE = "models"
"""Checkpoints go to ``teams/<team>/checkpoints/`` of this zone's bucket (the last zone if absent)."""
BATCH_INPUT_ZONE = "curated"
"""Batch inference reads ``teams/<team>/`` of this zone (the first zone if absent) ..."""
BATCH_OUTPUT_ZONE = "curated"
"""... and writes ``teams/<team>/predictions/`` of this one."""
GKE_SPOT_TOLERATION = {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
"""GKE's documented toleration for spot node pools tainted ``cloud.google.com/gke-spot=true:NoSchedule``."""
SPOT_LABEL = {"aws": ("karpenter.sh/capacity-type", "spot"), "gcp": ("cloud.google.com/gke-spot", "true")}
"""Node label marking spot capacity (Karpenter's well-known label; GKE's spot label)."""
IMAGE_BY_DIGEST = re.compile(r"^[a-z0-9][-a-z0-9._/:]*@sha256:[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")


class WorkloadError(ValueError):
    """Bad input to ``workload new``: one line saying what and what is allowed."""


@dataclass(frozen=True)
class TeamNames:
    """Everything a rendered template names for one team (all from the program's naming)."""

    team: str
    namespace: str
    local_queue: str
    service_account: str
    lake: dict[str, str]
    """Zone -> ``s3://<bucket>/teams/<team>/`` (or ``gs://``)."""
    mlflow_tracking_uri: str
    models_registry_uri: str
    """``s3://<models bucket>/mlflow/``: where the MLflow server keeps artifacts and registered models."""


def _scheme(cloud: str) -> str:
    return "gs" if cloud == "gcp" else "s3"


def lake_buckets(cfg: Any, *, account_id: str | None) -> dict[str, str]:
    """Zone -> bucket name, from the same functions the program names the buckets with."""
    if cfg.cloud == "aws":
        from components.aws.data_lake import bucket_name as s3_bucket_name
        from infra.layers.aws_foundation import lake_bucket_prefix as s3_prefix

        if not account_id:
            raise WorkloadError(
                "--account-id: required for an aws stack (lake bucket names end in <account>-<region>); 12 digits"
            )
        return {z: s3_bucket_name(s3_prefix(cfg), z, account_id, cfg.region) for z in cfg.data_lake.zones}
    if cfg.cloud == "gcp":
        from components.gcp.data_lake import bucket_name as gcs_bucket_name
        from infra.layers.gcp_foundation import lake_bucket_prefix as gcs_prefix

        return {z: gcs_bucket_name(gcs_prefix(cfg), z) for z in cfg.data_lake.zones}
    raise WorkloadError(f"--stack: cloud {cfg.cloud!r} builds no data lake; templates need one (allowed: stacks on aws or gcp)")


def team_names(cfg: Any, team: str, *, account_id: str | None = None) -> TeamNames:
    from components.k8s import mlflow
    from components.k8s.kueue import DEFAULT_LOCAL_QUEUE
    from components.k8s.team import TeamArgs

    teams = [t.name for t in cfg.teams]
    if team not in teams:
        raise WorkloadError(f"--team: {team!r} is not a team of this stack; allowed: {', '.join(teams) or 'none'}")
    if account_id is not None and not re.fullmatch(r"[0-9]{12}", account_id):
        raise WorkloadError(f"--account-id: {account_id!r} is not a 12-digit AWS account id")
    conf = next(t for t in cfg.teams if t.name == team)
    args = TeamArgs(name=conf.name, cost_center=conf.cost_center, cpu=conf.quotas.cpu, memory=conf.quotas.memory)
    from components.aws.data_lake import team_prefix

    scheme = _scheme(cfg.cloud)
    buckets = lake_buckets(cfg, account_id=account_id)
    models = buckets.get("models")
    return TeamNames(
        team=team,
        namespace=args.name,
        local_queue=DEFAULT_LOCAL_QUEUE,
        service_account=args.service_account,
        lake={z: f"{scheme}://{b}/{team_prefix(team)}" for z, b in buckets.items()},
        mlflow_tracking_uri=f"http://{mlflow.RELEASE}.{cv.NS_MLFLOW}.svc.cluster.local:{mlflow.PORT}",
        models_registry_uri=f"{scheme}://{models}/{mlflow.ARTIFACT_PREFIX}/" if models else "",
    )


@dataclass(frozen=True)
class PoolFacts:
    name: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]
    resource: str
    spot: bool


def pool_facts(cfg: Any, pool_name: str) -> PoolFacts:
    """The node selector and tolerations of the pool's Kueue ResourceFlavor, and the resource it offers."""
    from infra.layers import k8s_teams

    pool = next(p for p in cfg.gpu_pools if p.name == pool_name)
    flavor = next(f for f in k8s_teams.flavors(cfg) if f.name == k8s_teams.flavor_name(pool))
    strategy = pool_nodes.mig_strategy(cfg.cloud, cfg.gpu_operator.mig_strategy)
    spot = "spot" in pool.capacity
    tolerations = [dict(t) for t in flavor.tolerations]
    if spot and cfg.cloud == "gcp":
        tolerations.append(dict(GKE_SPOT_TOLERATION))
    return PoolFacts(pool.name, dict(flavor.node_labels), tolerations, k8s_teams.pool_resource(pool, strategy), spot)


_DEFAULT_PURPOSES = {
    "training": ("training",),
    "training-jobset": ("training",),
    "batch": ("training", "serving"),
    "serving": ("serving",),
}


def choose_pool(cfg: Any, kind: str, pool: str | None) -> str | None:
    """The pool a kind runs on: ``--pool``, else the first pool of the kind's purposes (``None``: CPU nodes)."""
    names = [p.name for p in cfg.gpu_pools]
    if pool is not None:
        if pool not in names:
            raise WorkloadError(f"--pool: {pool!r} is not a GPU pool of this stack; allowed: {', '.join(names) or 'none'}")
        return pool
    for purpose in _DEFAULT_PURPOSES[kind]:
        for p in cfg.gpu_pools:
            if p.purpose == purpose:
                return p.name
    if kind in ("training", "training-jobset"):
        raise WorkloadError(f"--pool: the stack has no training pool; name one of: {', '.join(names) or 'none'}")
    return None


def load_template(kind: str) -> dict[str, Any]:
    directory, manifest = KINDS[kind]
    return yaml.safe_load((TEMPLATES_DIR / directory / manifest).read_text())


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind = doc["kind"]
    if kind == "Job":
        return [doc["spec"]["template"]["spec"]]
    if kind == "JobSet":
        return [rj["template"]["spec"]["template"]["spec"] for rj in doc["spec"]["replicatedJobs"]]
    if kind == "InferenceService":
        return [doc["spec"]["predictor"]]
    raise AssertionError(kind)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "InferenceService":
        return [doc["spec"]["predictor"]["model"]]
    return [c for spec in _pod_specs(doc) for c in spec["containers"]]


def _set_env(container: dict[str, Any], values: dict[str, str]) -> None:
    for env in container.get("env", []):
        if env["name"] in values:
            env["value"] = values[env["name"]]


def _label_everywhere(doc: dict[str, Any], team: str) -> None:
    for labels in _label_maps(doc):
        if cv.TEAM_LABEL in labels:
            labels[cv.TEAM_LABEL] = team


def _label_maps(doc: dict[str, Any]) -> list[dict[str, str]]:
    maps = [doc["metadata"]["labels"]]
    if doc["kind"] == "Job":
        maps.append(doc["spec"]["template"]["metadata"]["labels"])
    elif doc["kind"] == "JobSet":
        maps += [rj["template"]["spec"]["template"]["metadata"]["labels"] for rj in doc["spec"]["replicatedJobs"]]
    else:
        maps.append(doc["spec"]["predictor"]["labels"])
    return maps


def render(
    cfg: Any,
    *,
    team: str,
    kind: str,
    name: str | None = None,
    image: str | None = None,
    pool: str | None = None,
    model_uri: str | None = None,
    account_id: str | None = None,
) -> dict[str, Any]:
    """The template of ``kind`` filled in for ``team`` of the stack ``cfg``.

    :raises WorkloadError: a bad team, kind, pool, image, model URI or account id (one line).
    """
    if kind not in KINDS:
        raise WorkloadError(f"--kind: {kind!r} is not a template; allowed: {', '.join(KINDS)}")
    names = team_names(cfg, team, account_id=account_id)
    doc = copy.deepcopy(load_template(kind))
    if name is not None and not _NAME.fullmatch(name):
        raise WorkloadError(f"--name: {name!r} is not a DNS label of at most 52 characters")
    if kind != "serving":
        if image is None:
            raise WorkloadError("--image: required for this kind: your image pinned by digest (registry/name@sha256:<64 hex>)")
        if not IMAGE_BY_DIGEST.fullmatch(image):
            raise WorkloadError(f"--image: {image!r} is not pinned by digest; allowed: registry/name@sha256:<64 hex>")
    elif image is not None:
        raise WorkloadError("--image: not for kind serving (KServe's MLflow runtime serves the model); pass --model-uri")
    meta = doc["metadata"]
    meta["namespace"] = names.namespace
    if name:
        meta["name"] = name
    for labels in _label_maps(doc):
        if "kueue.x-k8s.io/queue-name" in labels:
            labels["kueue.x-k8s.io/queue-name"] = names.local_queue
    _label_everywhere(doc, team)

    pool_name = choose_pool(cfg, kind, pool)
    facts = pool_facts(cfg, pool_name) if pool_name else None
    account = names.service_account
    if kind == "serving" and cfg.serving.enabled:
        from components.k8s.kserve import serving_service_account

        account = serving_service_account(team)  # its identity may read the MLflow registry's artifacts
    for spec in _pod_specs(doc):
        spec["serviceAccountName"] = account
        if facts is None:
            spec.pop("nodeSelector", None)
            spec.pop("tolerations", None)
            continue
        spec["nodeSelector"] = dict(facts.node_selector)
        spec["tolerations"] = [dict(t) for t in facts.tolerations]
        if cfg.is_prod and kind == "serving" and facts.spot:
            # prod serves from on-demand capacity only: keep replicas off the pool's spot nodes
            key, value = SPOT_LABEL["gcp" if cfg.cloud == "gcp" else "aws"]
            spec["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}]
                    }
                }
            }
            spec["tolerations"] = [t for t in spec["tolerations"] if t != GKE_SPOT_TOLERATION]

    env = _env(cfg, kind, names, model_uri, meta["name"])
    for container in _containers(doc):
        if image is not None:
            container["image"] = image
        _set_env(container, env)
        if facts is not None:
            for part in ("requests", "limits"):
                container["resources"][part][facts.resource] = 1
    if kind == "serving":
        doc["spec"]["predictor"]["model"]["storageUri"] = env["MODEL_URI"]
        if cfg.is_prod:
            doc["spec"]["predictor"]["minReplicas"] = 2  # survive a node loss
        _autoscaling(cfg, doc, facts)
    return doc


def prometheus_url(cfg: Any) -> str | None:
    """The in-cluster Prometheus KEDA queries (``monitoring.backend: inCluster``), else ``None``."""
    if cfg.monitoring.backend != "inCluster":
        return None
    from components.k8s import monitoring

    return f"http://{monitoring.PROMETHEUS_SERVICE}.{cv.NS_MONITORING}.svc.cluster.local:{monitoring.PROMETHEUS_PORT}"


def gpu_utilisation_query(namespace: str, name: str) -> str:
    """PromQL: the summed GPU utilisation (%) of an InferenceService's predictor pods (KServe names the Deployment
    ``<name>-predictor``); DCGM labels each GPU's series with the pod holding it. KEDA's Prometheus trigger targets
    an average value per replica, so ``threshold: 70`` keeps the replicas' GPUs at most 70% busy on average."""
    return f'sum(DCGM_FI_DEV_GPU_UTIL{{namespace="{namespace}",pod=~"{name}-predictor-.*"}})'


def _autoscaling(cfg: Any, doc: dict[str, Any], facts: PoolFacts | None) -> None:
    """Fill the GPU-utilisation trigger, or drop it where there is no NVIDIA GPU or no in-cluster Prometheus."""
    metrics = doc["spec"]["predictor"]["autoScaling"]["metrics"]
    url = prometheus_url(cfg)
    nvidia = facts is not None and facts.resource.startswith("nvidia.com/")
    for metric in [m for m in metrics if m["type"] == "External"]:
        if url is None or not nvidia:
            metrics.remove(metric)
            continue
        metric["external"]["metric"]["serverAddress"] = url
        metric["external"]["metric"]["query"] = gpu_utilisation_query(doc["metadata"]["namespace"], doc["metadata"]["name"])


def _env(cfg: Any, kind: str, names: TeamNames, model_uri: str | None, job: str) -> dict[str, str]:
    zones = list(cfg.data_lake.zones)
    out = {"MLFLOW_TRACKING_URI": names.mlflow_tracking_uri, "MLFLOW_EXPERIMENT_NAME": names.team}
    if kind in ("training", "training-jobset"):
        zone = CHECKPOINT_ZONE if CHECKPOINT_ZONE in zones else zones[-1]
        out["CHECKPOINT_DIR"] = f"{names.lake[zone]}checkpoints/{job}/"
        out["LAKE_TEAM_URI"] = names.lake[zone]
    if kind in ("batch", "serving"):
        # what the pod's identity can read: the team's prefix of the models zone; with serving on, the serving
        # identity also reads the registry's artifacts; a batch job may load models:/ through the MLflow server
        allowed = [names.lake.get("models", "")]
        if kind == "serving" and cfg.serving.enabled:
            allowed.append(names.models_registry_uri)
        if kind == "batch":
            allowed.append("models:/")
        allowed = [a for a in allowed if a]
        if model_uri is None:
            raise WorkloadError(f"--model-uri: required for this kind; allowed: a URI under {' or '.join(allowed)}")
        if not any(model_uri.startswith(prefix) and len(model_uri) > len(prefix) for prefix in allowed):
            raise WorkloadError(f"--model-uri: {model_uri!r} is not under {' or '.join(allowed)}")
        out["MODEL_URI"] = model_uri
    if kind == "batch":
        zin = BATCH_INPUT_ZONE if BATCH_INPUT_ZONE in zones else zones[0]
        zout = BATCH_OUTPUT_ZONE if BATCH_OUTPUT_ZONE in zones else zones[0]
        out["INPUT_URI"] = f"{names.lake[zin]}inputs/{job}/"
        out["OUTPUT_URI"] = f"{names.lake[zout]}predictions/{job}/"
    return out


# ---- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="workload_command", required=True, parser_class=type(parser))
    n = sub.add_parser("new", help="render a workload template for a team of a stack (YAML on stdout or --out)")
    n.add_argument("--team", required=True, help="team name from the stack's teams")
    n.add_argument("--kind", required=True, help=f"template: {', '.join(KINDS)}")
    n.add_argument("--stack", required=True, help="stack name: reads stacks/Pulumi.<stack>.yaml")
    n.add_argument("--out", metavar="FILE", help="write the manifest here (default: stdout)")
    n.add_argument("--name", help="object name (default: the template's)")
    n.add_argument("--image", help="training / batch: your image pinned by digest (name@sha256:...)")
    n.add_argument("--pool", help="GPU pool (default: the first pool of the kind's purpose)")
    n.add_argument("--model-uri", help="batch / serving: the MLflow model version's artifact URI")
    n.add_argument("--account-id", help="aws stacks: the AWS account id (lake bucket names contain it)")
    n.add_argument("--stacks-dir", metavar="DIR", help=argparse.SUPPRESS)


def run(args: argparse.Namespace, err: Any) -> int:
    from infra import config

    stacks_dir = Path(args.stacks_dir) if args.stacks_dir else None
    if not config.stack_file(args.stack, stacks_dir).is_file():
        known = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in config.stack_file("x", stacks_dir).parent.glob("Pulumi.*.yaml")
        )
        err(f"--stack: {args.stack!r} has no stack file; allowed: {', '.join(known)}")
        return 2
    try:
        cfg = config.load_stack(args.stack, stacks_dir)
    except config.ConfigError as e:
        path, reason = e.problems[0]
        err(f"invalid stack config for {args.stack!r}: {path}: {reason}")
        return 2
    try:
        doc = render(
            cfg,
            team=args.team,
            kind=args.kind,
            name=args.name,
            image=args.image,
            pool=args.pool,
            model_uri=args.model_uri,
            account_id=args.account_id,
        )
    except WorkloadError as e:
        err(str(e))
        return 2
    text = f"# rendered by `python -m infra workload new` from catalog/templates/workloads/{TEMPLATE_VERSION}\n" + yaml.safe_dump(
        doc, sort_keys=False
    )
    if args.out:
        try:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text)
        except OSError as e:
            err(f"--out: cannot write {args.out}: {e.strerror or e}")
            return 2
    else:
        sys.stdout.write(text)
    return 0
