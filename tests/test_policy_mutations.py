"""Mutation tests: break one property of a real plan at a time; the right policy id must catch it.

Each mutation finds its target in the planned resources (the prod plan unless it says otherwise),
changes one thing and re-evaluates the packs with the stack's environment config. A mutation whose
target is not planned fails: every component these mutations aim at is planned, so a missing target
means the plan lost it (a skip would hide that). Also here: the exit
codes of ``plan`` on a stack file that violates a mandatory policy, and ``check`` on saved plans and
on ``pulumi preview --json`` output.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import conventions as cv
from infra import policy_hook
from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.helpers import raw_config, run_cli

Mutator = Callable[[list[RecordedResource]], str | None]
"""Changes the resources in place; returns None when its target is missing (the test then fails)."""


def _first(
    resources: list[RecordedResource], type_: str, pred: Callable[[RecordedResource], bool] = lambda r: True
) -> RecordedResource | None:
    return next((r for r in resources if r.type == type_ and pred(r)), None)


def _set(path: tuple[str, ...], value: Any, type_: str, pred: Callable[[RecordedResource], bool] = lambda r: True) -> Mutator:
    def mutate(resources: list[RecordedResource]) -> str | None:
        res = _first(resources, type_, pred)
        if res is None:
            return None
        cur = res.inputs
        for key in path[:-1]:
            cur = cur.setdefault(key, {})
        cur[path[-1]] = value
        return res.urn

    return mutate


def _drop(type_: str, pred: Callable[[RecordedResource], bool] = lambda r: True, *, all_of: bool = False) -> Mutator:
    def mutate(resources: list[RecordedResource]) -> str | None:
        targets = [r for r in resources if r.type == type_ and pred(r)]
        if not targets:
            return None
        for r in targets if all_of else targets[:1]:
            resources.remove(r)
        return targets[0].urn

    return mutate


def _lake_bucket_dep(type_: str) -> Callable[[RecordedResource], bool]:
    """Companion resources of a primary lake bucket (not the access-log bucket)."""

    def pred(r: RecordedResource) -> bool:
        return r.type == type_ and "log" not in r.name

    return pred


def _with_inputs(pred: Callable[[dict[str, Any]], bool]) -> Callable[[RecordedResource], bool]:
    return lambda r: bool(pred(r.inputs))


def _namespace(team: bool) -> Callable[[RecordedResource], bool]:
    return lambda r: bool(((r.inputs.get("metadata") or {}).get("labels") or {}).get(cv.TEAM_LABEL)) == team


def _team_ns_name(resources: list[RecordedResource]) -> str | None:
    ns = _first(resources, "kubernetes:core/v1:Namespace", _namespace(True))
    return (ns.inputs.get("metadata") or {}).get("name") if ns else None


def _drop_in_team_ns(type_: str) -> Mutator:
    def mutate(resources: list[RecordedResource]) -> str | None:
        name = _team_ns_name(resources)
        if name is None:
            return None
        return _drop(type_, lambda r: (r.inputs.get("metadata") or {}).get("namespace") == name, all_of=True)(resources)

    return mutate


def _provider_tags_without(key: str) -> Mutator:
    def mutate(resources: list[RecordedResource]) -> str | None:
        prov = _first(resources, "pulumi:providers:aws")
        if prov is None:
            return None
        default = (
            json.loads(prov.inputs["defaultTags"])
            if isinstance(prov.inputs.get("defaultTags"), str)
            else prov.inputs["defaultTags"]
        )
        default["tags"].pop(key)
        prov.inputs["defaultTags"] = json.dumps(default)
        for r in resources:  # resources that set the key themselves keep it; drop it everywhere
            if isinstance(r.inputs.get("tags"), dict):
                r.inputs["tags"].pop(key, None)
        return prov.urn

    return mutate


def _nodepool_requirement(key: str, values: list[str], pred: Callable[[RecordedResource], bool] = lambda r: True) -> Mutator:
    def mutate(resources: list[RecordedResource]) -> str | None:
        pool = _first(resources, "kubernetes:karpenter.sh/v1:NodePool", pred)
        if pool is None:
            return None
        for req in pool.inputs["spec"]["template"]["spec"]["requirements"]:
            if req["key"] == key:
                req["values"] = values
        return pool.urn

    return mutate


def _training(r: RecordedResource) -> bool:
    labels = ((r.inputs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    return labels.get(cv.PURPOSE_LABEL) == "training"


def _inline_policy_statement(statement: dict[str, Any]) -> Mutator:
    def mutate(resources: list[RecordedResource]) -> str | None:
        pol = _first(resources, "aws:iam/rolePolicy:RolePolicy", _with_inputs(lambda i: isinstance(i.get("policy"), str)))
        if pol is None:
            return None
        doc = json.loads(pol.inputs["policy"])
        doc["Statement"] = [*doc.get("Statement", []), statement]
        pol.inputs["policy"] = json.dumps(doc)
        return pol.urn

    return mutate


def _helm_literal_secret(resources: list[RecordedResource]) -> str | None:
    rel = _first(resources, "kubernetes:helm.sh/v3:Release")
    if rel is None:
        return None
    rel.inputs.setdefault("values", {})["adminPassword"] = "changeme"
    return rel.urn


def _tls_policy_removed(resources: list[RecordedResource]) -> str | None:
    pol = _first(resources, "aws:s3/bucketPolicy:BucketPolicy", _lake_bucket_dep("aws:s3/bucketPolicy:BucketPolicy"))
    if pol is None:
        return None
    doc = json.loads(pol.inputs["policy"])
    doc["Statement"] = [s for s in doc["Statement"] if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
    pol.inputs["policy"] = json.dumps(doc)
    return pol.urn


def _privileged_pod(resources: list[RecordedResource]) -> str | None:
    """Make the first planned workload outside the GPU operator's namespace privileged."""
    paths = {
        "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
        "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
        "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
        "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    }
    for res in resources:
        if res.type in paths and (res.inputs.get("metadata") or {}).get("namespace") not in (cv.NS_GPU_OPERATOR, cv.NS_GPUDIRECT):
            spec: Any = res.inputs
            for key in paths[res.type]:
                spec = spec.get(key) or {}
            if spec.get("containers"):
                spec["containers"][0].setdefault("securityContext", {})["privileged"] = True
                return res.urn
    return None


def _config_map_literal_token(resources: list[RecordedResource]) -> str | None:
    cm = _first(resources, "kubernetes:core/v1:ConfigMap")
    if cm is None:
        return None
    cm.inputs.setdefault("data", {})["HF_TOKEN"] = "hf_literal"
    return cm.urn


def _open_gke_endpoint(resources: list[RecordedResource]) -> str | None:
    """Turn the private-only control plane into a public endpoint without authorized networks."""
    cluster = _first(resources, "gcp:container/cluster:Cluster")
    if cluster is None:
        return None
    cluster.inputs.setdefault("privateClusterConfig", {})["enablePrivateEndpoint"] = False
    cluster.inputs.pop("masterAuthorizedNetworksConfig", None)
    return cluster.urn


def _gke_training(r: RecordedResource) -> bool:
    node_config = r.inputs.get("nodeConfig") or {}
    return (node_config.get("labels") or {}).get(cv.PURPOSE_LABEL) == "training"


def _trail_selector_field(change: Callable[[dict[str, Any]], None]) -> Mutator:
    """Change the trail's lake data-event selector (``fields``: field name -> field selector)."""

    def mutate(resources: list[RecordedResource]) -> str | None:
        trail = _first(resources, "aws:cloudtrail/trail:Trail")
        if trail is None:
            return None
        sel = next(
            s for s in trail.inputs["advancedEventSelectors"] if any(f["field"] == "resources.ARN" for f in s["fieldSelectors"])
        )
        change(sel)
        return trail.urn

    return mutate


def _forget_first_lake_bucket(sel: dict[str, Any]) -> None:
    arns = next(f for f in sel["fieldSelectors"] if f["field"] == "resources.ARN")
    arns["startsWiths"] = arns["startsWiths"][1:]


def _read_only(sel: dict[str, Any]) -> None:
    sel["fieldSelectors"].append({"field": "readOnly", "equals": ["true"]})


# (case id, stack, environment to judge with (None: the stack's), mutation, expected policy id)
MUTATIONS: list[tuple[str, str, str | None, Mutator, str]] = [
    (
        "drop-bucket-encryption",
        "prod",
        None,
        _drop(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            _lake_bucket_dep("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
        ),
        "mlp-sec-001",
    ),
    (
        "bucket-sse-aes256",
        "prod",
        None,
        _set(
            ("rules",),
            [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            _lake_bucket_dep("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
        ),
        "mlp-sec-001",
    ),
    (
        "open-bucket",
        "prod",
        None,
        _set(("blockPublicPolicy",), False, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
        "mlp-sec-002",
    ),
    ("allow-plain-http", "prod", None, _tls_policy_removed, "mlp-sec-003"),
    (
        "suspend-versioning",
        "prod",
        None,
        _set(("versioningConfiguration", "status"), "Suspended", "aws:s3/bucketVersioning:BucketVersioning"),
        "mlp-sec-004",
    ),
    ("kms-rotation-off", "prod", None, _set(("enableKeyRotation",), False, "aws:kms/key:Key"), "mlp-sec-005"),
    ("eks-secrets-unencrypted", "prod", None, _set(("encryptionConfig",), None, "aws:eks/cluster:Cluster"), "mlp-sec-006"),
    ("eks-no-audit-log", "prod", None, _set(("enabledClusterLogTypes",), ["api"], "aws:eks/cluster:Cluster"), "mlp-sec-007"),
    (
        "eks-open-endpoint",
        "prod",
        None,  # prod's endpoint is private: open it to the internet
        lambda rs: (
            _set(("vpcConfig", "endpointPublicAccess"), True, "aws:eks/cluster:Cluster")(rs),
            _set(("vpcConfig", "publicAccessCidrs"), ["0.0.0.0/0"], "aws:eks/cluster:Cluster")(rs),
        )[1],
        "mlp-sec-008",
    ),
    ("rds-unencrypted", "prod", None, _set(("storageEncrypted",), False, "aws:rds/instance:Instance"), "mlp-sec-009"),
    ("rds-public", "prod", None, _set(("publiclyAccessible",), True, "aws:rds/instance:Instance"), "mlp-sec-010"),
    (
        "rds-no-deletion-protection",
        "prod",
        None,
        _set(("deletionProtection",), False, "aws:rds/instance:Instance"),
        "mlp-sec-011",
    ),
    (
        "cache-plain-transit",
        "prod",
        None,
        _set(("transitEncryptionEnabled",), False, "aws:elasticache/replicationGroup:ReplicationGroup"),
        "mlp-sec-012",
    ),
    (
        "cache-unencrypted-at-rest",
        "prod",
        None,
        _set(("atRestEncryptionEnabled",), False, "aws:elasticache/replicationGroup:ReplicationGroup"),
        "mlp-sec-012",
    ),
    (
        "iam-s3-star",
        "prod",
        None,
        _inline_policy_statement({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::x/*"}),
        "mlp-sec-013",
    ),
    (
        "iam-resource-star",
        "prod",
        None,
        _inline_policy_statement({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        "mlp-sec-014",
    ),
    (
        "launch-template-imdsv1",
        "prod",
        None,
        _set(("metadataOptions", "httpTokens"), "optional", "aws:ec2/launchTemplate:LaunchTemplate"),
        "mlp-sec-015",
    ),
    (
        "node-class-imdsv1",
        "prod",
        None,
        _set(("spec", "metadataOptions", "httpTokens"), "optional", "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"),
        "mlp-sec-015",
    ),
    ("helm-literal-password", "prod", None, _helm_literal_secret, "mlp-sec-016"),
    ("team-without-quota", "prod", None, _drop_in_team_ns("kubernetes:core/v1:ResourceQuota"), "mlp-sec-017"),
    ("team-without-default-deny", "prod", None, _drop_in_team_ns("kubernetes:networking.k8s.io/v1:NetworkPolicy"), "mlp-sec-018"),
    ("privileged-pod", "prod", None, _privileged_pod, "mlp-sec-019"),
    ("config-map-literal-token", "prod", None, _config_map_literal_token, "mlp-sec-016"),
    ("gcs-google-managed-key", "gcp-dev", None, _set(("encryption",), None, "gcp:storage/bucket:Bucket"), "mlp-sec-020"),
    (
        "gcs-public-access",
        "gcp-dev",
        None,
        _set(("publicAccessPrevention",), "inherited", "gcp:storage/bucket:Bucket"),
        "mlp-sec-021",
    ),
    ("gcs-object-acls", "gcp-dev", None, _set(("uniformBucketLevelAccess",), False, "gcp:storage/bucket:Bucket"), "mlp-sec-022"),
    ("gcs-unversioned", "gcp-prod", None, _set(("versioning", "enabled"), False, "gcp:storage/bucket:Bucket"), "mlp-sec-023"),
    ("trail-misses-a-lake-bucket", "prod", None, _trail_selector_field(_forget_first_lake_bucket), "mlp-sec-024"),
    ("trail-records-reads-only", "staging", None, _trail_selector_field(_read_only), "mlp-sec-024"),
    ("no-trail", "staging", None, _drop("aws:cloudtrail/trail:Trail"), "mlp-sec-024"),
    (
        "trail-without-log-validation",
        "prod",
        None,
        _set(("enableLogFileValidation",), False, "aws:cloudtrail/trail:Trail"),
        "mlp-sec-025",
    ),
    ("trail-unencrypted", "staging", None, _set(("kmsKeyId",), None, "aws:cloudtrail/trail:Trail"), "mlp-sec-025"),
    (
        "trail-bucket-lock-dropped",
        "prod",
        None,
        _drop("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"),
        "mlp-sec-026",
    ),
    (
        "trail-bucket-lock-short",
        "prod",
        None,
        _set(("rule", "defaultRetention", "days"), 7, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"),
        "mlp-sec-026",
    ),
    (
        "gcp-log-bucket-unlocked",
        "gcp-prod",
        None,
        _set(("locked",), False, "gcp:logging/projectBucketConfig:ProjectBucketConfig"),
        "mlp-sec-026",
    ),
    (
        "gcp-no-cloudsql-audit",
        "gcp-prod",
        None,
        _drop(
            "gcp:projects/iAMAuditConfig:IAMAuditConfig", _with_inputs(lambda i: i.get("service") == "cloudsql.googleapis.com")
        ),
        "mlp-sec-027",
    ),
    (
        "gcp-storage-data-read-off",
        "gcp-prod",
        None,
        _set(
            ("auditLogConfigs",),
            [{"logType": "ADMIN_READ"}, {"logType": "DATA_WRITE"}],
            "gcp:projects/iAMAuditConfig:IAMAuditConfig",
            _with_inputs(lambda i: i.get("service") == "storage.googleapis.com"),
        ),
        "mlp-sec-027",
    ),
    (
        "cloud-sql-public-ip",
        "gcp-dev",
        None,
        _set(("settings", "ipConfiguration", "ipv4Enabled"), True, "gcp:sql/databaseInstance:DatabaseInstance"),
        "mlp-sec-010",
    ),
    (
        "gke-secrets-unencrypted",
        "gcp-dev",
        None,
        _set(("databaseEncryption",), {"state": "DECRYPTED"}, "gcp:container/cluster:Cluster"),
        "mlp-sec-006",
    ),
    ("gke-public-endpoint", "gcp-dev", None, _open_gke_endpoint, "mlp-sec-008"),
    (
        "memorystore-plaintext",
        "gcp-dev",
        None,
        _set(("transitEncryptionMode",), "DISABLED", "gcp:redis/instance:Instance"),
        "mlp-sec-012",
    ),
    (
        "gke-a3-in-dev",
        "gcp-dev",
        None,
        _set(("nodeConfig", "machineType"), "a3-highgpu-8g", "gcp:container/nodePool:NodePool", _gke_training),
        "mlp-cost-001",
    ),
    (
        "gke-training-on-demand",
        "gcp-dev",
        None,
        _set(("nodeConfig", "spot"), False, "gcp:container/nodePool:NodePool", _gke_training),
        "mlp-cost-004",
    ),
    (
        "gke-gpu-min-above-zero",
        "gcp-dev",
        None,
        _set(("autoscaling", "totalMinNodeCount"), 1, "gcp:container/nodePool:NodePool", _gke_training),
        "mlp-cost-006",
    ),
    ("remove-cost-center-tag", "prod", None, _provider_tags_without(cv.TAG_COST_CENTER), "mlp-tag-001"),
    (
        "remove-gcs-labels",
        "gcp-dev",
        None,
        _set(("labels", cv.TAG_MANAGED_BY), "terraform", "gcp:storage/bucket:Bucket"),
        "mlp-tag-002",
    ),
    (
        "remove-team-label",
        "prod",
        None,
        _set(("metadata", "labels"), {cv.TEAM_LABEL: "llm"}, "kubernetes:core/v1:Namespace", _namespace(True)),
        "mlp-tag-003",
    ),
    (
        "untagged-gpu-nodes",
        "prod",
        None,
        _set(("spec", "tags"), {}, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"),
        "mlp-tag-004",
    ),
    ("p5-in-dev", "dev", None, _nodepool_requirement("node.kubernetes.io/instance-type", ["p5.48xlarge"]), "mlp-cost-001"),
    (
        "gpu-limit-past-ceiling",
        "prod",
        None,
        _set(("spec", "limits", cv.GPU_RESOURCE), 1000, "kubernetes:karpenter.sh/v1:NodePool"),
        "mlp-cost-002",
    ),
    (
        "gpu-limit-past-environment-ceiling",
        "prod",
        None,
        _set(("spec", "limits", cv.GPU_RESOURCE), 1000, "kubernetes:karpenter.sh/v1:NodePool"),
        "mlp-cost-003",
    ),
    (
        "on-demand-training-in-staging",
        "staging",
        None,
        _nodepool_requirement("karpenter.sh/capacity-type", ["on-demand"], _training),
        "mlp-cost-004",
    ),
    (
        "nodepool-without-limits",
        "prod",
        None,
        _set(("spec", "limits"), {}, "kubernetes:karpenter.sh/v1:NodePool"),
        "mlp-cost-005",
    ),
    (
        "gpu-pool-min-above-zero-in-dev",
        "dev",
        None,
        _set(("metadata", "annotations", cv.MIN_NODES_ANNOTATION), "1", "kubernetes:karpenter.sh/v1:NodePool"),
        "mlp-cost-006",
    ),
    (
        "team-without-budget",
        "prod",
        None,
        _drop(
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
            _with_inputs(lambda i: "ml-platform.team-budgets" in str(i.get("spec"))),
        ),
        "mlp-cost-007",
    ),
    (
        "budget-exceeded",
        "staging",
        None,
        _set(("limitAmount",), "1000.00", "aws:budgets/budget:Budget", _with_inputs(lambda i: not i.get("costFilters"))),
        "mlp-cost-008",
    ),
]


def _evaluate(plan: engine.Plan, resources: list[RecordedResource], env: str | None) -> list[engine.Violation]:
    overrides = policy_hook.plan_overrides(plan.config)
    overrides.pop(policy_hook.BUDGET_POLICY, None)  # judge the budget from the stack's own budget resource
    if plan.config.data_lake.size_gb:
        overrides[policy_hook.BUDGET_POLICY] = {"storageGb": dict(plan.config.data_lake.size_gb)}
    return policy_hook.evaluate_resources(resources, env or plan.config.environment, overrides=overrides)


def _fingerprint(resources: list[RecordedResource]) -> str:
    return json.dumps([r.to_json() for r in resources], sort_keys=True, default=str)


@pytest.mark.parametrize(("stack", "env", "mutate", "policy"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_mutation_is_caught_by_the_right_policy(
    plan_of: Callable[[str], engine.Plan], stack: str, env: str | None, mutate: Mutator, policy: str
) -> None:
    plan = plan_of(stack)
    shared = _fingerprint(plan.resources)
    baseline = [v for v in _evaluate(plan, plan.resources, env) if v.policy == policy]
    # Private copies, in URN order: the mock engine registers concurrent resources in a different
    # order on every run, and "the first bucket" must be the same bucket each time.
    resources = sorted(
        (dataclasses.replace(r, inputs=copy.deepcopy(r.inputs), dependencies=list(r.dependencies)) for r in plan.resources),
        key=lambda r: r.urn,
    )
    target = mutate(resources)
    assert _fingerprint(plan.resources) == shared, f"the mutation leaked into the session's shared {stack} plan"
    assert target is not None, f"{policy}: the {stack} plan has no target for this mutation (its component is not planned)"
    assert [v.message for v in baseline] == []
    caught = [v for v in _evaluate(plan, resources, env) if v.policy == policy]
    assert caught, f"{policy} missed the mutation of {target}"
    judged = env or plan.config.environment
    expected = "advisory" if (policy.startswith("mlp-cost") and judged == "dev") else "mandatory"
    assert {v.enforcement for v in caught} == {expected}


# ---- exit codes ----------------------------------------------------------------------------------


def _write_stack(tmp_path: Path, name: str, raw: dict[str, Any]) -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"ml-platform:{k}": v for k, v in raw.items()}}))
    return path


def test_plan_exits_1_when_a_stack_violates_a_mandatory_policy(tmp_path: Path) -> None:
    raw = raw_config("prod")
    h100 = next(p for p in raw["gpuPools"] if p["name"] == "train-h100")
    h100["maxNodes"], h100["gpuLimit"] = 20, 160  # 160 H100s: past the prod per-pool GPU ceiling (64)
    _write_stack(tmp_path, "greedy", raw)
    result = run_cli("plan", "--stack", "greedy", "--stacks-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "mlp-cost-002" in result.stdout and "Traceback" not in result.stderr


def test_plan_over_budget_fails_in_staging_but_only_warns_in_dev(tmp_path: Path) -> None:
    for stack, expected in (("staging", 1), ("dev", 0)):
        raw = raw_config(stack)
        raw["budget"] = {"monthlyUsd": 100}
        raw.pop("fleet", None)  # a copy under another name is no member of the stack's fleet
        path = _write_stack(tmp_path, f"{stack}-cheap", raw)
        plan = engine.plan(f"{stack}-cheap", stack_path=path)
        over = [v for v in plan.violations if v.policy == "mlp-cost-008"]
        assert over and {v.enforcement for v in over} == {"mandatory" if expected else "advisory"}
        assert bool(plan.mandatory_violations) == bool(expected)


def _as_preview(plan_json: dict[str, Any]) -> dict[str, Any]:
    """The shape of `pulumi preview --json`: config strings and steps with newState."""
    config = {
        f"ml-platform:{k}": (json.dumps(v) if isinstance(v, (dict, list)) else str(v))
        for k, v in plan_json["config"].items()
        if v is not None
    }
    steps = [
        {
            "op": "create",
            "urn": r["urn"],
            "provider": r["provider"],
            "newState": {
                "urn": r["urn"],
                "custom": r["custom"],
                "type": r["type"],
                "inputs": copy.deepcopy(r["inputs"]),
                "outputs": {},
                "parent": r["parent"],
                "provider": r["provider"],
                "dependencies": r["dependencies"],
                "propertyDependencies": r.get("property_dependencies", {}),
                "protect": r["protect"],
            },
        }
        for r in plan_json["resources"]
    ]
    return {"config": config, "steps": steps, "diagnostics": [], "changeSummary": {"create": len(steps)}}


@pytest.fixture(scope="module")
def prod_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.helpers import plan_stack

    return copy.deepcopy(plan_stack("prod").to_json())  # to_json shares the inputs with the cached plan


def test_check_accepts_our_plan_json_and_preview_json(tmp_path: Path, prod_json: dict[str, Any]) -> None:
    ours = tmp_path / "plan.json"
    ours.write_text(json.dumps(prod_json))
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(_as_preview(prod_json)))
    # the deploy-lifecycle model runs on both shapes alike; exit 1 only for its problems (none once fixed)
    expected = 1 if prod_json["lifecycle"]["problems"] else 0
    for path in (ours, preview):
        result = run_cli("check", str(path))
        assert result.returncode == expected, result.stdout + result.stderr
        assert all(p["check"] in result.stdout for p in prod_json["lifecycle"]["problems"])
        assert "prod pack config" in result.stdout and "policy violations: none" in result.stdout


def test_check_exits_1_on_a_mandatory_violation_in_a_preview(tmp_path: Path, prod_json: dict[str, Any]) -> None:
    doc = _as_preview(prod_json)
    key = next((s for s in doc["steps"] if s["newState"]["type"] == "aws:kms/key:Key"), None)
    assert key is not None, "the prod plan has no KMS key"
    key["newState"]["inputs"]["enableKeyRotation"] = False
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert "mlp-sec-005" in result.stdout


def test_check_uses_the_stack_given_for_the_environment(tmp_path: Path, prod_json: dict[str, Any]) -> None:
    doc = _as_preview(prod_json)
    doc["config"] = {}
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    no_env = run_cli("check", str(path))
    assert no_env.returncode == 2 and "--stack" in no_env.stderr and "Traceback" not in no_env.stderr
    with_stack = run_cli("check", str(path), "--stack", "prod")
    assert with_stack.returncode == (1 if prod_json["lifecycle"]["problems"] else 0), with_stack.stdout + with_stack.stderr


@pytest.mark.parametrize("content", ["not json", "[]", '{"steps": [{"newState": {"type": "x"}}]}', '{"hello": 1}'])
def test_check_rejects_bad_files_with_exit_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run_cli("check", str(path))
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("check", str(tmp_path / "none.json"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_check_reads_preview_steps_as_the_engine_lists_them() -> None:
    from infra import check

    bucket = {
        "urn": "urn:pulumi:prod::ml-platform::aws:s3/bucket:Bucket::b",
        "type": "aws:s3/bucket:Bucket",
        "custom": True,
        "inputs": {"bucket": "b"},
        "provider": "urn:pulumi:prod::ml-platform::pulumi:providers:aws::aws::id",
    }
    doc = {
        "config": {"ml-platform:environment": "staging", "ml-platform:budget": json.dumps({"monthlyUsd": 5000})},
        "steps": [
            {
                "op": "same",
                "urn": "s",
                "newState": {
                    "urn": "urn:pulumi:prod::ml-platform::pulumi:pulumi:Stack::ml-platform-prod",
                    "type": "pulumi:pulumi:Stack",
                },
            },
            {"op": "create-replacement", "urn": bucket["urn"], "newState": bucket},
            {"op": "delete-replaced", "urn": bucket["urn"], "newState": bucket},
            {"op": "delete", "urn": "gone", "oldState": {"urn": "gone", "type": "aws:s3/bucket:Bucket"}},
        ],
    }
    resources, facts = check.load(doc)
    assert [r.urn for r in resources] == [bucket["urn"]]
    assert resources[0].provider_urn.endswith("pulumi:providers:aws::aws") and resources[0].name == "b"
    assert facts["environment"] == "staging" and facts["budget"] == 5000


def test_check_with_an_unknown_stack_exits_2(tmp_path: Path, prod_json: dict[str, Any]) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(prod_json))
    result = run_cli("check", str(path), "--stack", "no-such-stack")
    assert result.returncode == 2 and "no such stack file" in result.stderr and "Traceback" not in result.stderr
