"""GCP stacks as the real engine and Google's APIs would run them, on a project that never saw them.

The mock engine accepts anything in any order; these tests check what it cannot see: what each
resource needs to exist before it is created (the workload pool, the APIs, the network path from
the control plane to the webhooks), and what a ``pulumi destroy`` of dev then a re-create need
(nothing left that blocks a delete, no name that cannot be reused).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.plan import engine
from infra.plan.recorder import RecordedResource
from tests.helpers import waits_for

GCP_STACKS = ["gcp-dev", "gcp-prod"]
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


@pytest.fixture(params=GCP_STACKS)
def gcp_plan(request: pytest.FixtureRequest, plan_of: Callable[[str], engine.Plan]) -> engine.Plan:
    return plan_of(request.param)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _system_pool(plan: engine.Plan) -> RecordedResource:
    (pool,) = [p for p in plan.by_type(NODE_POOL) if p.inputs["name"] == "system"]
    return pool


# ---- Workload Identity ---------------------------------------------------------------------------


def test_workload_identity_members_wait_for_the_cluster_and_its_metadata_server(gcp_plan: engine.Plan) -> None:
    """``PROJECT.svc.id.goog[ns/ksa]`` is a valid IAM member only once a cluster with Workload
    Identity exists (it creates the pool); pods get tokens from the GKE metadata server of their
    node pool. Every resource naming such a member depends on the cluster and the system pool,
    and a team's on the GPU pools its jobs run on too."""
    (cluster,) = gcp_plan.by_type(CLUSTER)
    pool = cluster.inputs["workloadIdentityConfig"]["workloadPool"]
    system = _system_pool(gcp_plan)
    gpu_pools = {p.urn for p in gcp_plan.by_type(NODE_POOL)} - {system.urn}
    assert all(p.inputs["nodeConfig"]["workloadMetadataConfig"]["mode"] == "GKE_METADATA" for p in gcp_plan.by_type(NODE_POOL))
    members = [r for r in gcp_plan.resources if any(f"{pool}[" in s for s in _strings(r.inputs))]
    assert len(members) >= len(gcp_plan.config.teams) + 1
    for res in members:
        assert cluster.urn in res.dependencies, f"{res.urn} names a workload-pool member before the pool exists"
        assert system.urn in res.dependencies, f"{res.urn} does not wait for the system pool (GKE metadata server)"
        if "team-" in res.name:
            assert gpu_pools <= set(res.dependencies), f"{res.urn} does not wait for the GPU pools"


# ---- the private control plane reaches the webhooks ----------------------------------------------


def _closure(plan: engine.Plan, res: RecordedResource) -> set[str]:
    return waits_for(plan.resources, res)


def test_the_private_control_plane_may_reach_every_webhook_port_before_any_release(gcp_plan: engine.Plan) -> None:
    """A private GKE control plane reaches the nodes on 443 and 10250 only. Kueue's admission
    webhook (the port its manager config sets) and its visibility API server (8082) need a
    firewall rule from the control plane's /28 to the nodes, created before any Helm release."""
    import yaml

    from components.k8s import kueue

    (cluster,) = gcp_plan.by_type(CLUSTER)
    master = ipaddress.IPv4Network(cluster.inputs["privateClusterConfig"]["masterIpv4CidrBlock"])
    node_accounts = {p.inputs["nodeConfig"]["serviceAccount"] for p in gcp_plan.by_type(NODE_POOL)}
    (release,) = [r for r in gcp_plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kueue"]
    manager = yaml.safe_load(release.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    needed = {int(manager["webhook"]["port"]), kueue.VISIBILITY_PORT}
    rules = [
        fw
        for fw in gcp_plan.by_type("gcp:compute/firewall:Firewall")
        if fw.inputs.get("direction", "INGRESS") == "INGRESS"
        and any(
            isinstance(net, ipaddress.IPv4Network) and net.supernet_of(master)
            for net in map(ipaddress.ip_network, fw.inputs.get("sourceRanges", []))
        )
        and node_accounts <= set(fw.inputs.get("targetServiceAccounts", []))
    ]
    opened = {int(p) for fw in rules for a in fw.inputs["allows"] if a["protocol"] == "tcp" for p in a["ports"]}
    assert needed <= opened, f"the control plane cannot reach ports {sorted(needed - opened)} on the nodes"
    releases = gcp_plan.by_type("kubernetes:helm.sh/v3:Release")
    assert releases
    for rel in releases:
        assert {fw.urn for fw in rules} & _closure(gcp_plan, rel), f"{rel.urn} may be installed before the firewall rule"


# ---- destroy, and create again -------------------------------------------------------------------


def test_private_services_access_does_not_block_destroying_dev_and_stays_in_prod(gcp_plan: engine.Plan) -> None:
    (conn,) = gcp_plan.by_type("gcp:servicenetworking/connection:Connection")
    expected = "ABANDON" if gcp_plan.config.is_prod else "REMOVE_PEERING"
    assert conn.inputs.get("deletionPolicy") == expected
    # and the managed stores using the peering are deleted before it
    for t in ("gcp:sql/databaseInstance:DatabaseInstance", "gcp:redis/instance:Instance"):
        for res in gcp_plan.by_type(t):
            assert conn.urn in res.dependencies, f"{res.urn} does not depend on the private services connection"


def test_cloud_sql_users_and_databases_owning_objects_do_not_fail_the_destroy(gcp_plan: engine.Plan) -> None:
    """A PostgreSQL role owning tables cannot be dropped (the API refuses), nor a database with
    connections: both are abandoned and go with the instance."""
    users = gcp_plan.by_type("gcp:sql/user:User")
    databases = gcp_plan.by_type("gcp:sql/database:Database")
    assert users and databases
    for res in [*users, *databases]:
        assert res.inputs.get("deletionPolicy") == "ABANDON", res.urn


def test_dev_buckets_can_be_deleted_and_prod_buckets_are_kept(gcp_plan: engine.Plan) -> None:
    buckets = gcp_plan.by_type("gcp:storage/bucket:Bucket")
    assert any(b.inputs["name"].endswith("-logs") for b in buckets) and len(buckets) >= 2
    for b in buckets:
        if gcp_plan.config.is_prod:
            assert not b.inputs.get("forceDestroy") and b.protect and b.retain_on_delete, b.urn
        else:
            assert b.inputs.get("forceDestroy") is True, f"{b.urn}: a versioned, logged bucket is never empty on destroy"


def test_a_dev_stack_may_keep_its_buckets_on_destroy(write_stack: Callable[..., Any]) -> None:
    path = write_stack("gcp-dev", dataLake={"forceDestroy": False})
    plan = engine.plan("case", stack_path=path)
    assert all(not b.inputs.get("forceDestroy") for b in plan.by_type("gcp:storage/bucket:Bucket"))


def test_key_rings_outside_prod_get_a_fresh_name_and_prod_keeps_its_own(gcp_plan: engine.Plan) -> None:
    """Key rings and keys are never deleted by Cloud KMS: dev destroyed and created again under a
    fixed ring name fails with "already exists". Outside prod the name carries a random suffix;
    prod keeps its stable, protected name (a new name would replace every key)."""
    rings = gcp_plan.by_type("gcp:kms/keyRing:KeyRing")
    assert rings
    name = gcp_plan.config.cluster_name
    randoms = {r.urn: r for r in gcp_plan.by_type("random:index/randomString:RandomString")}
    for ring in rings:
        stem = ring.inputs["name"]
        if gcp_plan.config.is_prod:
            assert stem in (name, f"{name}-lake") and ring.protect and ring.retain_on_delete, ring.urn
            assert not set(ring.dependencies) & set(randoms)
        else:
            suffixes = [randoms[d] for d in ring.dependencies if d in randoms]
            assert len(suffixes) == 1, f"{ring.urn} has a fixed name {stem!r}"
            assert stem.startswith(f"{name}-") and stem not in (name, f"{name}-lake"), stem
            assert not ring.protect


# ---- APIs -----------------------------------------------------------------------------------------

API_OF_MODULE = {
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "storage": "storage.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "servicenetworking": "servicenetworking.googleapis.com",
    "sql": "sqladmin.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "redis": "redis.googleapis.com",
    "billing": "billingbudgets.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "projects": "cloudresourcemanager.googleapis.com",
    "logging": "logging.googleapis.com",  # the audit log bucket and sink
    "bigquery": "bigquery.googleapis.com",  # the billing export dataset
}
"""The API a resource of each ``gcp:<module>/...`` type is created through."""


def test_every_gcp_resource_waits_for_its_api_to_be_enabled(gcp_plan: engine.Plan) -> None:
    """A new project has few APIs on; a resource of a disabled API fails with SERVICE_DISABLED.
    Each API the plan's resources use is enabled (and kept on destroy) by a ``projects.Service``
    that the provider those resources use waits for."""
    services = {s.inputs["service"]: s for s in gcp_plan.by_type("gcp:projects/service:Service")}
    for svc in services.values():
        assert svc.inputs.get("disableOnDestroy") is False, svc.urn
    checked = 0
    for res in gcp_plan.resources:
        if not res.type.startswith("gcp:") or res.type == "gcp:projects/service:Service":
            continue
        module = res.type.split(":")[1].split("/")[0]
        needed = [API_OF_MODULE[module]]
        if res.type == "gcp:projects/serviceIdentity:ServiceIdentity":
            needed = ["serviceusage.googleapis.com", res.inputs["service"]]
        provider = gcp_plan.provider_of(res)
        assert provider is not None
        for api in needed:
            assert api in services, f"{res.urn} needs {api}, which the stack does not enable"
            assert services[api].urn in provider.dependencies, f"{res.urn} may be created before {api} is enabled"
        checked += 1
    assert checked > 30


def test_the_required_apis_match_what_the_plan_uses() -> None:
    from infra import config
    from infra.layers.gcp_foundation import required_apis
    from tests.helpers import raw_config

    for stack in GCP_STACKS:
        cfg = config.parse(raw_config(stack))
        apis = required_apis(cfg)
        assert len(set(apis)) == len(apis)
        assert ("billingbudgets.googleapis.com" in apis) == bool(cfg.gcp.billing_account)
        assert ("bigquery.googleapis.com" in apis) == bool(cfg.monitoring.billing_dataset)
        assert "iamcredentials.googleapis.com" in apis  # Workload Identity token exchange


# ---- reachability from the pods --------------------------------------------------------------------


def _allows_egress(policy: dict[str, Any], ip: str, port: int) -> bool:
    for rule in policy.get("egress", []) or []:
        ports = rule.get("ports")
        if ports and not any(p.get("protocol", "TCP") == "TCP" and int(p.get("port", -1)) == port for p in ports):
            continue
        for peer in rule.get("to", []) or []:
            block = peer.get("ipBlock")
            if not block:
                continue
            if ipaddress.ip_address(ip) in ipaddress.ip_network(block["cidr"]) and not any(
                ipaddress.ip_address(ip) in ipaddress.ip_network(e) for e in block.get("except", [])
            ):
                return True
    return False


def test_team_pods_reach_the_gke_metadata_server_for_their_tokens(gcp_plan: engine.Plan) -> None:
    """Team namespaces deny all egress but what they list; with Dataplane V2 the GKE metadata
    server that hands out Workload Identity tokens is 169.254.169.252:988, a link-local address the
    public-egress rules exclude. Every team namespace must allow it, or no pod gets credentials."""
    policies = gcp_plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for pol in policies:
        by_ns.setdefault(pol.inputs["metadata"]["namespace"], []).append(pol.inputs["spec"])
    teams = [t.name for t in gcp_plan.config.teams]
    assert teams
    for team in teams:
        specs = by_ns.get(team, [])
        assert any("Egress" in s.get("policyTypes", []) and not s.get("egress") for s in specs), f"{team}: no default-deny"
        assert any(_allows_egress(s, "169.254.169.252", 988) for s in specs), f"{team}: pods cannot reach the GKE metadata server"


def test_nodes_boot_after_their_service_account_holds_its_roles(gcp_plan: engine.Plan) -> None:
    """Nodes write logs and metrics and pull images as the node service account from the first
    boot; every node pool waits for the account's project roles (and outlives them on destroy)."""
    (cluster,) = gcp_plan.by_type(CLUSTER)
    account = cluster.inputs["nodeConfig"]["serviceAccount"]
    roles = {
        m.urn for m in gcp_plan.by_type("gcp:projects/iAMMember:IAMMember") if m.inputs["member"] == f"serviceAccount:{account}"
    }
    assert len(roles) >= 5
    for pool in gcp_plan.by_type(NODE_POOL):
        missing = roles - _closure(gcp_plan, pool)
        assert not missing, f"{pool.urn} may boot before {sorted(missing)}"


def test_a_dev_database_instance_can_be_created_again_after_destroy(gcp_plan: engine.Plan) -> None:
    """Cloud SQL keeps a deleted instance's name reserved for up to a week: outside prod the name
    carries a random suffix; prod keeps its stable, protected instance."""
    instances = gcp_plan.by_type("gcp:sql/databaseInstance:DatabaseInstance")
    assert instances
    randoms = {r.urn for r in gcp_plan.by_type("random:index/randomString:RandomString")}
    for inst in instances:
        suffixed = bool(set(inst.dependencies) & randoms)
        assert suffixed is (not gcp_plan.config.is_prod), inst.urn
        if gcp_plan.config.is_prod:
            assert inst.protect and inst.inputs["deletionProtection"] is True


def test_existing_non_prod_stacks_keep_their_ring_and_instance_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suffix is for stacks created from now on: on a stack created before it, a new ring or
    instance name would replace the ring, its keys and the database. ``ignore_changes: [name]``
    keeps what exists; prod has no suffix and nothing to ignore."""
    import pulumi

    from components.gcp.cloudsql import CloudSqlPostgres, CloudSqlPostgresArgs
    from components.gcp.kms import KmsKeys, KmsKeysArgs
    from infra.plan import recorder

    ignored: dict[str, list[str]] = {}

    class Capturing(recorder.RecordingMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802
            ignored[f"{request.type}::{request.name}"] = list(request.ignoreChanges)
            return super().RegisterResource(request)

    monkeypatch.setattr(engine, "RecordingMonitor", Capturing)

    def program() -> None:
        opts = pulumi.ResourceOptions(provider=pulumi.ProviderResource("gcp", "gcp", props={"project": "p"}))
        for env, suffix in (("dev", True), ("prod", False)):
            keys = KmsKeys(
                f"kms-{env}",
                KmsKeysArgs(
                    key_ring=f"mlp-{env}", location="us-central1", keys={"k": {}}, protect=not suffix, unique_suffix=suffix
                ),
                opts,
            )
            CloudSqlPostgres(
                f"db-{env}",
                CloudSqlPostgresArgs(
                    instance_name=f"mlp-{env}-mlflow",
                    region="us-central1",
                    network="net",
                    databases=["mlflow"],
                    kms_key_id=keys.key_ids["k"],
                    deletion_protection=not suffix,
                    unique_suffix=suffix,
                ),
                opts,
            )

    engine.run_program("unit", {"cloud": "gcp", "environment": "dev"}, [], program=program)
    assert ignored["gcp:kms/keyRing:KeyRing::kms-dev-ring"] == ["name"]
    assert ignored["gcp:sql/databaseInstance:DatabaseInstance::db-dev"] == ["name"]
    assert ignored["gcp:kms/keyRing:KeyRing::kms-prod-ring"] == []
    assert ignored["gcp:sql/databaseInstance:DatabaseInstance::db-prod"] == []
