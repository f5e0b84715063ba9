"""The deploy-lifecycle model (infra/plan/lifecycle.py): waves, readiness facts, and each defect of
issue 13 injected back into a copy of a real plan."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pytest
import yaml

from infra.plan import engine, lifecycle, report
from infra.plan.recorder import RecordedResource
from tests.chart_values import yaml_documents
from tests.helpers import STACKS, plan_stack, raw_config, run_cli

# ---- synthetic graphs: the waves ---------------------------------------------------------------


def _r(
    name: str,
    *deps: str,
    custom: bool = True,
    parent: str = "",
    provider: str = "",
    type_: str = "test:index:Thing",
    **inputs: object,
) -> RecordedResource:
    return RecordedResource(
        urn=_urn(name, type_),
        type=type_,
        name=name,
        custom=custom,
        parent=_urn(parent) if parent else "",
        provider=f"{_urn(provider, 'pulumi:providers:test')}::id" if provider else "",
        protect=False,
        retain_on_delete=False,
        dependencies=[_urn(d) for d in deps],
        inputs=dict(inputs),
    )


def _urn(name: str, type_: str = "test:index:Thing") -> str:
    return f"urn:pulumi:s::p::{type_}::{name}"


def _waves(waves: list[list[str]]) -> list[list[str]]:
    return [sorted(lifecycle.short(u) for u in w) for w in waves]


def test_waves_follow_dependencies_and_destroy_reverses_them() -> None:
    #   a -> b -> d ; a -> c -> d ; e alone
    res = [_r("a"), _r("b", "a"), _r("c", "a"), _r("d", "b", "c"), _r("e")]
    lc = lifecycle.analyze(res, "dev")
    assert _waves(lc.create_waves) == [["a", "e"], ["b", "c"], ["d"]]
    assert _waves(lc.destroy_waves) == [["d", "e"], ["b", "c"], ["a"]]
    assert lc.problems == []


def test_a_dependency_on_a_component_is_one_on_everything_under_it() -> None:
    res = [
        _r("comp", custom=False, type_="test:index:Component"),
        _r("x", parent="comp"),
        _r("y", "x", parent="comp"),
        _r("after", "comp"),
    ]
    res[0] = RecordedResource(**{**res[0].__dict__, "urn": _urn("comp")})
    lc = lifecycle.analyze(res, "dev")
    assert _waves(lc.create_waves) == [["x"], ["y"], ["after"]]


def test_custom_parents_and_providers_come_first_and_go_last() -> None:
    prov = _r("k", type_="pulumi:providers:test")
    res = [_r("cluster"), prov, _r("child", parent="cluster"), _r("obj", provider="k")]
    res[1] = RecordedResource(**{**prov.__dict__, "urn": _urn("k", "pulumi:providers:test"), "dependencies": [_urn("cluster")]})
    lc = lifecycle.analyze(res, "dev")
    assert _waves(lc.create_waves) == [["cluster"], ["child", "k"], ["obj"]]
    assert _waves(lc.destroy_waves) == [["child", "obj"], ["k"], ["cluster"]]


def test_cycles_and_dangling_dependencies_are_problems() -> None:
    lc = lifecycle.analyze([_r("a", "b"), _r("b", "a"), _r("c", "ghost")], "dev")
    assert {p.check for p in lc.problems} == {"mlp-life-000"}
    assert any("cycle" in p.message for p in lc.problems) and any("ghost" in p.message for p in lc.problems)
    assert sorted(u for w in lc.create_waves for u in w) == sorted(_urn(n) for n in "abc")


def test_the_recorder_keeps_property_dependencies_apart_from_depends_on() -> None:
    def program() -> None:
        prov = aws.Provider("aws", region="eu-west-1")
        first = aws.s3.Bucket("first", opts=pulumi.ResourceOptions(provider=prov))
        suffix = random.RandomString("suffix", length=6, special=False)
        aws.s3.Bucket("second", bucket=suffix.result, opts=pulumi.ResourceOptions(provider=prov, depends_on=[first]))

    recorded, _ = engine.run_program("dev", raw_config("dev"), [], program=program)
    second = next(r for r in recorded if r.name == "second")
    suffix = next(r for r in recorded if r.name == "suffix")
    first = next(r for r in recorded if r.name == "first")
    assert second.property_dependencies == {"bucket": [suffix.urn]}
    assert {suffix.urn, first.urn} <= set(second.dependencies)
    assert second.to_json()["property_dependencies"] == {"bucket": [suffix.urn]}


# ---- the facts against the pinned upstream data ----------------------------------------------------


def test_crd_facts_match_the_pinned_crds(upstream: Path) -> None:
    for entry in lifecycle.facts()["crd_installers"]:
        if not entry["upstream"]:  # a chart whose CRDs are not pinned here: the source names the tag's files
            assert entry["kinds"] and entry["source"], entry["chart"]
            continue
        kinds = set()
        for rel in entry["upstream"]:
            path = upstream / rel
            if not path.is_file():
                pytest.fail(f"{entry['chart']}: pinned CRD {rel} is missing from {upstream}")
            for doc in yaml_documents(path):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    kinds.add(f"{doc['spec']['group']}/{doc['spec']['names']['kind']}")
        assert kinds == set(entry["kinds"]), entry["chart"]


def test_webhook_port_facts_match_the_chart_values(upstream: Path) -> None:
    ports = {e["chart"]: e["port"] for e in lifecycle.facts()["webhooks"]}
    kueue = yaml.safe_load((upstream / "kueue" / "values.yaml").read_text())
    assert {p["targetPort"] for p in kueue["webhookService"]["ports"]} == {ports["kueue"]}
    kps = yaml.safe_load((upstream / "kube-prometheus-stack" / "values.yaml").read_text())
    assert kps["prometheusOperator"]["tls"]["internalPort"] == ports["kube-prometheus-stack"]


# ---- every stack ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_a_lifecycle_without_problems(stack: str) -> None:
    """A first `pulumi up` and a `pulumi destroy` (outside prod) go through: the issue-13 contract."""
    lc = plan_stack(stack).lifecycle
    assert [(p.check, lifecycle.short(p.urn), p.message) for p in lc.problems] == []


@pytest.mark.parametrize("stack", STACKS)
def test_waves_cover_every_resource_once_in_dependency_order(stack: str) -> None:
    plan = plan_stack(stack)
    lc = plan.lifecycle
    custom = {r.urn for r in plan.resources if r.custom}
    for waves in (lc.create_waves, lc.destroy_waves):
        flat = [u for w in waves for u in w]
        assert sorted(flat) == sorted(custom)
    create = {u: i for i, w in enumerate(lc.create_waves) for u in w}
    destroy = {u: i for i, w in enumerate(lc.destroy_waves) for u in w}
    for r in plan.resources:
        for dep in r.dependencies:
            if r.custom and dep in create:
                assert create[dep] < create[r.urn] and destroy[dep] > destroy[r.urn], (r.urn, dep)
    doc = json.loads(json.dumps(plan.to_json()))
    assert set(doc["lifecycle"]) == {"create_waves", "destroy_waves", "problems"}


def test_markdown_shows_problems_first_and_waves_collapsed() -> None:
    cached = plan_stack("gcp-dev")
    saved = cached.lifecycle
    problem = lifecycle.Problem("mlp-life-004", saved.create_waves[-1][0], "unreachable")
    plan = dataclasses.replace(cached, lifecycle=lifecycle.Lifecycle(saved.create_waves, saved.destroy_waves, [problem]))
    md = report.markdown(plan)
    assert plan.failed
    assert "1 deploy-lifecycle problems" in md and "[!CAUTION]" in md and "| mlp-life-004 |" in md
    assert f"<details><summary>Create waves ({len(saved.create_waves)})</summary>" in md
    assert f"<details><summary>Destroy waves ({len(saved.destroy_waves)})</summary>" in md


# ---- mutations: each defect of issue 13, injected into a copy of a real plan ----------------------------


def _copy(stack: str) -> list[RecordedResource]:
    return copy.deepcopy(plan_stack(stack).resources)


def _env(stack: str) -> str:
    return plan_stack(stack).config.environment


def _find(res: list[RecordedResource], type_: str, name: str | None = None) -> RecordedResource:
    found = [r for r in res if r.type == type_ and (name is None or r.name == name)]
    assert found, f"the plan has no {type_} {name or ''}"
    return found[0]


def _keys(lc: lifecycle.Lifecycle) -> set[tuple[str, str, str]]:
    return {(p.check, p.urn, p.message) for p in lc.problems}


def _depend(res: RecordedResource, *others: RecordedResource) -> None:
    res.dependencies = sorted(set(res.dependencies) | {o.urn for o in others})


def _cut(resources: list[RecordedResource], res: RecordedResource, target: RecordedResource) -> None:
    """Remove every direct dependency of ``res`` through which it reaches ``target``."""
    graph = lifecycle.Graph(resources)
    res.dependencies = [
        d
        for d in res.dependencies
        if d != target.urn and not any(graph.depends_on(c, target.urn) for c in graph._expand(d, res.urn))
    ]
    for key, deps in list(res.property_dependencies.items()):
        res.property_dependencies[key] = [d for d in deps if d in res.dependencies]


def _drop(resources: list[RecordedResource], gone: RecordedResource) -> list[RecordedResource]:
    out = [r for r in resources if r.urn != gone.urn]
    for r in out:
        r.dependencies = [d for d in r.dependencies if d != gone.urn]
    return out


def _assert_injected(
    stack: str,
    repair: Callable[[list[RecordedResource]], list[RecordedResource]],
    inject: Callable[[list[RecordedResource]], list[RecordedResource]],
    check: str,
    urn_of: Callable[[list[RecordedResource]], str | set[tuple[str, str]]],
) -> None:
    """Repair the defect on a copy (a no-op once the fix is merged), check it is gone, inject it
    again: the lifecycle then reports exactly that problem (``urn_of``: the resource, or the set of
    ``(check, urn)`` one defect causes) and nothing else new."""
    resources = repair(_copy(stack))
    found = urn_of(resources)
    expected = {(check, found)} if isinstance(found, str) else found
    assert expected, "the defect concerns no resource of this plan"
    before = lifecycle.analyze(resources, _env(stack))
    assert not {(p.check, p.urn) for p in before.problems} & expected, "the repaired copy still has the problem"
    after = lifecycle.analyze(inject(resources), _env(stack))
    new = {(c, u) for c, u, _ in _keys(after) - _keys(before)}
    assert new == expected, sorted(new)


K8S_REL = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def _controller_policy(res: list[RecordedResource]) -> RecordedResource:
    return next(r for r in res if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == "karpenter-controller")


def _karpenter_objects_need_policy(res: list[RecordedResource]) -> list[RecordedResource]:
    for r in res:
        if r.type in (NODE_POOL, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
            _depend(r, _controller_policy(res))
    return res


def test_injected_karpenter_policy_gone_before_its_node_pools_is_reported() -> None:
    """Today's defect: the controller's RolePolicy is a leaf nothing depends on, so destroy removes it
    in the first wave while NodePools / EC2NodeClasses still need it (and the release starts without it)."""

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        policy = _controller_policy(res)
        for r in res:
            r.dependencies = [d for d in r.dependencies if d != policy.urn]
        return res

    def expected(res: list[RecordedResource]) -> set[tuple[str, str]]:
        kinds = (NODE_POOL, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
        return {("mlp-life-006", r.urn) for r in res if r.type in kinds} | {
            ("mlp-life-007", _find(res, K8S_REL, "karpenter").urn)
        }

    def repair(res: list[RecordedResource]) -> list[RecordedResource]:
        _depend(_find(res, K8S_REL, "karpenter"), _controller_policy(res))
        return _karpenter_objects_need_policy(res)

    _assert_injected("dev", repair, inject, "mlp-life-006", expected)


def test_injected_karpenter_release_without_its_policy_at_start_is_reported() -> None:
    def repair(res: list[RecordedResource]) -> list[RecordedResource]:
        _depend(_find(res, K8S_REL, "karpenter"), _controller_policy(res))
        return _karpenter_objects_need_policy(res)

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        _cut(res, _find(res, K8S_REL, "karpenter"), _controller_policy(res))
        return res

    _assert_injected("dev", repair, inject, "mlp-life-007", lambda res: _find(res, K8S_REL, "karpenter").urn)


def _slr(res: list[RecordedResource]) -> list[RecordedResource]:
    """The service-linked role the key policy needs (added when the plan lacks it)."""
    key = _find(res, "aws:kms/key:Key", "platform-key")
    slr = next(
        (
            r
            for r in res
            if r.type == "aws:iam/serviceLinkedRole:ServiceLinkedRole"
            and r.inputs.get("awsServiceName") == "autoscaling.amazonaws.com"
        ),
        None,
    )
    if slr is None:
        slr = RecordedResource(
            urn=key.urn.replace("aws:kms/key:Key::platform-key", "aws:iam/serviceLinkedRole:ServiceLinkedRole::autoscaling"),
            type="aws:iam/serviceLinkedRole:ServiceLinkedRole",
            name="autoscaling",
            custom=True,
            parent="",
            provider=key.provider,
            protect=False,
            retain_on_delete=False,
            dependencies=[],
            inputs={"awsServiceName": "autoscaling.amazonaws.com"},
        )
        res.append(slr)
    _depend(key, slr)
    return res


def test_injected_key_policy_principal_without_its_service_linked_role_is_reported() -> None:
    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        key = _find(res, "aws:kms/key:Key", "platform-key")
        key.inputs["policy"] = key.inputs["policy"].replace(
            "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", "spot.amazonaws.com/AWSServiceRoleForEC2Spot"
        )
        return res

    _assert_injected("dev", _slr, inject, "mlp-life-010", lambda res: _find(res, "aws:kms/key:Key", "platform-key").urn)


def test_injected_missing_service_linked_role_is_reported() -> None:
    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        return _drop(res, _find(res, "aws:iam/serviceLinkedRole:ServiceLinkedRole"))

    _assert_injected("dev", _slr, inject, "mlp-life-010", lambda res: _find(res, "aws:kms/key:Key", "platform-key").urn)


def _kps(res: list[RecordedResource]) -> list[RecordedResource]:
    """A kube-prometheus-stack release the GPU alert rule depends on (added when the plan lacks it)."""
    rule = _find(res, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    rel = next((r for r in res if r.type == K8S_REL and lifecycle.chart_name(r) == "kube-prometheus-stack"), None)
    if rel is None:
        rel = RecordedResource(
            urn=rule.urn.rsplit("::", 2)[0] + "::kubernetes:helm.sh/v3:Release::kps",
            type=K8S_REL,
            name="kps",
            custom=True,
            parent="",
            provider=rule.provider,
            protect=False,
            retain_on_delete=False,
            dependencies=list(rule.dependencies),
            inputs={"chart": "kube-prometheus-stack", "skipAwait": True},
        )
        res.append(rel)
    _depend(rule, rel)
    return res


def test_injected_prometheus_rule_without_the_crd_installing_release_is_reported() -> None:
    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        return _drop(res, next(r for r in res if r.type == K8S_REL and lifecycle.chart_name(r) == "kube-prometheus-stack"))

    def expected(res: list[RecordedResource]) -> set[tuple[str, str]]:
        return {("mlp-life-001", r.urn) for r in res if r.type.startswith("kubernetes:monitoring.coreos.com/")}

    _assert_injected("dev", _kps, inject, "mlp-life-001", expected)


def test_injected_kueue_object_without_depends_on_its_release_is_reported() -> None:
    cohort_type = "kubernetes:kueue.x-k8s.io/v1beta2:Cohort"

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        _cut(res, _find(res, cohort_type), _find(res, K8S_REL, "kueue"))
        return res

    _assert_injected("dev", lambda res: res, inject, "mlp-life-002", lambda res: _find(res, cohort_type).urn)


def _firewall(res: list[RecordedResource]) -> list[RecordedResource]:
    """A control-plane -> 9443 firewall rule the Kueue release depends on (added when the plan lacks it)."""
    cluster = _find(res, "gcp:container/cluster:Cluster")
    cidr = cluster.inputs["privateClusterConfig"]["masterIpv4CidrBlock"]
    fws = [r for r in res if r.type == "gcp:compute/firewall:Firewall" and lifecycle._allows(r, cidr, 9443)]
    if not fws:
        fw = RecordedResource(
            urn=cluster.urn.replace("gcp:container/cluster:Cluster::gke", "gcp:compute/firewall:Firewall::kueue-webhook"),
            type="gcp:compute/firewall:Firewall",
            name="kueue-webhook",
            custom=True,
            parent="",
            provider=cluster.provider,
            protect=False,
            retain_on_delete=False,
            dependencies=[],
            inputs={"direction": "INGRESS", "sourceRanges": [cidr], "allows": [{"protocol": "tcp", "ports": ["9443"]}]},
        )
        res.append(fw)
        _depend(_find(res, K8S_REL, "kueue"), fw)
    return res


def test_injected_missing_kueue_webhook_firewall_rule_is_reported() -> None:
    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        cidr = _find(res, "gcp:container/cluster:Cluster").inputs["privateClusterConfig"]["masterIpv4CidrBlock"]
        for fw in [r for r in res if r.type == "gcp:compute/firewall:Firewall" and lifecycle._allows(r, cidr, 9443)]:
            res = _drop(res, fw)
        return res

    def on_9443(res: list[RecordedResource]) -> set[tuple[str, str]]:
        """Kueue's webhook, JobSet's and LeaderWorkerSet's (the training controllers) and KServe's (gcp-dev serves) all
        listen on 9443."""
        charts = ("kueue", "jobset", "lws", "kserve-resources")
        found = {("mlp-life-004", r.urn) for r in res if r.type == K8S_REL and lifecycle.chart_name(r) in charts}
        assert ("mlp-life-004", _find(res, K8S_REL, "kueue").urn) in found
        return found

    _assert_injected("gcp-dev", _firewall, inject, "mlp-life-004", on_9443)


def test_injected_workload_identity_member_racing_the_cluster_is_reported() -> None:
    member_type = "gcp:serviceaccount/iAMMember:IAMMember"

    def repair(res: list[RecordedResource]) -> list[RecordedResource]:
        _depend(_find(res, member_type, "svc-mlflow-wi"), _find(res, "gcp:container/cluster:Cluster"))
        return res

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        _cut(res, _find(res, member_type, "svc-mlflow-wi"), _find(res, "gcp:container/cluster:Cluster"))
        return res

    _assert_injected("gcp-dev", repair, inject, "mlp-life-008", lambda res: _find(res, member_type, "svc-mlflow-wi").urn)


def test_injected_release_not_waiting_for_system_nodes_is_reported() -> None:
    def repair(res: list[RecordedResource]) -> list[RecordedResource]:
        _depend(
            _find(res, K8S_REL, "mlflow"),
            _find(res, "aws:eks/nodeGroup:NodeGroup", "eks-system"),
            _find(res, "aws:eks/addon:Addon", "eks-coredns"),
        )
        return res

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        mlflow = _find(res, K8S_REL, "mlflow")
        _cut(res, mlflow, _find(res, "aws:eks/addon:Addon", "eks-coredns"))
        _cut(res, mlflow, _find(res, "aws:eks/nodeGroup:NodeGroup", "eks-system"))
        return res

    _assert_injected("dev", repair, inject, "mlp-life-011", lambda res: _find(res, K8S_REL, "mlflow").urn)


@pytest.mark.parametrize(
    ("stack", "type_", "name", "key", "good", "bad"),
    [
        ("dev", "aws:s3/bucket:Bucket", "lake-raw", "forceDestroy", True, False),
        ("dev", "aws:s3/bucket:Bucket", "lake-access-logs", "forceDestroy", True, None),
        ("gcp-dev", "gcp:storage/bucket:Bucket", "lake-raw", "forceDestroy", True, False),
        ("gcp-dev", "gcp:servicenetworking/connection:Connection", None, "deletionPolicy", "REMOVE_PEERING", "ABANDON"),
        ("gcp-dev", "gcp:sql/user:User", None, "deletionPolicy", "ABANDON", None),
        ("gcp-dev", "gcp:sql/databaseInstance:DatabaseInstance", None, "deletionProtection", False, None),
        ("gcp-dev", "gcp:container/cluster:Cluster", None, "deletionProtection", False, True),
    ],
    ids=["s3-bucket", "s3-log-bucket-default", "gcs-bucket", "psa-connection", "sql-user", "sql-instance-default", "gke-cluster"],
)
def test_injected_undeletable_resource_outside_prod_is_reported(
    stack: str, type_: str, name: str | None, key: str, good: object, bad: object
) -> None:
    def set_to(value: object) -> Callable[[list[RecordedResource]], list[RecordedResource]]:
        def mutate(res: list[RecordedResource]) -> list[RecordedResource]:
            target = _find(res, type_, name)
            if value is None:
                target.inputs.pop(key, None)
            else:
                target.inputs[key] = value
            return res

        return mutate

    _assert_injected(stack, set_to(good), set_to(bad), "mlp-life-012", lambda res: _find(res, type_, name).urn)


def test_undeletable_resources_are_fine_in_prod() -> None:
    res = _copy("gcp-prod")
    for b in (r for r in res if r.type == "gcp:storage/bucket:Bucket"):
        b.inputs["forceDestroy"] = False
    assert not any(p.check == "mlp-life-012" for p in lifecycle.analyze(res, "prod").problems)


def test_injected_protect_outside_prod_is_reported() -> None:
    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        _find(res, "aws:rds/instance:Instance").protect = True
        return res

    _assert_injected("dev", lambda res: res, inject, "mlp-life-013", lambda res: _find(res, "aws:rds/instance:Instance").urn)


def test_injected_fixed_key_ring_name_is_reported() -> None:
    ring_type = "gcp:kms/keyRing:KeyRing"

    def repair(res: list[RecordedResource]) -> list[RecordedResource]:
        ring = _find(res, ring_type)
        if not any(u.split("::")[2].startswith("random:") for u in ring.property_dependencies.get("name", [])):
            suffix = _find(res, "random:index/randomPassword:RandomPassword")
            ring.property_dependencies["name"] = [suffix.urn]
            _depend(ring, suffix)
        return res

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        ring = _find(res, ring_type)
        ring.property_dependencies.pop("name", None)
        ring.inputs["name"] = "mlp-dev"
        return res

    _assert_injected("gcp-dev", repair, inject, "mlp-life-014", lambda res: _find(res, ring_type).urn)


def test_check_command_fails_on_an_injected_lifecycle_defect(tmp_path: Path) -> None:
    doc = copy.deepcopy(plan_stack("gcp-dev").to_json())
    for r in doc["resources"]:
        if r["type"] == "gcp:storage/bucket:Bucket":
            r["inputs"]["forceDestroy"] = False
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    result = run_cli("check", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mlp-life-012" in result.stdout and "Traceback" not in result.stderr


def test_injected_cmek_grant_after_the_cluster_is_reported() -> None:
    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        cluster = _find(res, "gcp:container/cluster:Cluster")
        for grant in [
            r
            for r in res
            if r.type == "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember" and "container-engine-robot" in r.inputs["member"]
        ]:
            _cut(res, cluster, grant)
        return res

    _assert_injected(
        "gcp-dev", lambda res: res, inject, "mlp-life-015", lambda res: _find(res, "gcp:container/cluster:Cluster").urn
    )


def test_injected_karpenter_node_class_before_its_access_entry_is_reported() -> None:
    def entry(res: list[RecordedResource]) -> RecordedResource:
        role = _find(res, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").inputs["spec"]["role"]
        return next(
            e for e in res if e.type == "aws:eks/accessEntry:AccessEntry" and e.inputs["principalArn"].endswith("/" + role)
        )

    def repair(res: list[RecordedResource]) -> list[RecordedResource]:
        node_class = _find(res, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
        role = node_class.inputs["spec"]["role"]
        _depend(
            node_class, entry(res), *[p for p in res if p.type.startswith("aws:iam/rolePolicy") and p.inputs.get("role") == role]
        )
        return res

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        gone = entry(res).urn
        for r in res:
            r.dependencies = [d for d in r.dependencies if d != gone]
        return res

    _assert_injected(
        "dev", repair, inject, "mlp-life-017", lambda res: _find(res, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").urn
    )


def test_resources_wait_for_the_apis_the_plan_enables() -> None:
    svc = "gcp:projects/service:Service"
    cluster = "gcp:container/cluster:Cluster"
    enabled = [_r("container-api", type_=svc, service="container.googleapis.com")]
    waiting = _r("gke", type_=cluster, deletionProtection=False)
    _depend(waiting, enabled[0])
    ok = lifecycle.analyze([*enabled, waiting], "dev")
    assert not ok.problems
    late = lifecycle.analyze([*enabled, _r("gke", type_=cluster, deletionProtection=False)], "dev")
    assert [(p.check, lifecycle.short(p.urn)) for p in late.problems] == [("mlp-life-016", "gke")]
    other = lifecycle.analyze(
        [_r("sql-api", type_=svc, service="sqladmin.googleapis.com"), _r("gke", type_=cluster, deletionProtection=False)], "dev"
    )
    assert [p.check for p in other.problems] == ["mlp-life-016"] and "container.googleapis.com" in other.problems[0].message
    # a plan that enables no API leaves them to the prerequisites
    assert not lifecycle.analyze([_r("gke", type_=cluster, deletionProtection=False)], "dev").problems


def test_every_check_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "first-deploy.md").read_text()
    documented = {line.split("`")[1] for line in doc.splitlines() if line.startswith("| `mlp-life-")}
    assert documented == set(lifecycle.CHECKS)


def test_crds_a_cluster_setting_installs_need_that_setting() -> None:
    cluster = _r(
        "gke",
        type_="gcp:container/cluster:Cluster",
        deletionProtection=False,
        monitoringConfig={"managedPrometheus": {"enabled": True}},
    )
    rules = _r("rules", type_="kubernetes:monitoring.googleapis.com/v1:ClusterRules")
    _depend(rules, cluster)
    assert not lifecycle.analyze([cluster, rules], "dev").problems
    cluster.inputs["monitoringConfig"] = {}
    assert [p.check for p in lifecycle.analyze([cluster, rules], "dev").problems] == ["mlp-life-001"]


def test_injected_service_agent_binding_before_its_service_identity_is_reported() -> None:
    grant_type = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"

    def grant(res: list[RecordedResource]) -> RecordedResource:
        return next(r for r in res if r.type == grant_type and "container-engine-robot" in r.inputs["member"])

    def identity(res: list[RecordedResource]) -> RecordedResource:
        ids = [
            r
            for r in res
            if r.type == "gcp:projects/serviceIdentity:ServiceIdentity" and r.inputs.get("service") == "container.googleapis.com"
        ]
        assert ids, "the plan has no ServiceIdentity for container.googleapis.com"
        return ids[0]

    def inject(res: list[RecordedResource]) -> list[RecordedResource]:
        _cut(res, grant(res), identity(res))
        return res

    _assert_injected("gcp-dev", lambda res: res, inject, "mlp-life-009", lambda res: grant(res).urn)
