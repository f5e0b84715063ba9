"""GCP (GKE) stacks through the offline plan: gcp-dev and gcp-prod.

What a user of the GCP stacks relies on: every bucket encrypted with our own KMS key and never
public, a private GKE cluster with Workload Identity and Dataplane V2, GPU pools carrying the
configured accelerators / MIG partitions / spot, each team's identity bound to exactly its
Kubernetes service account and able to touch only its own prefix, private managed stores whose
passwords never leave secrets, and budgets per team when billing is configured.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import importlib
import ipaddress
import json
import re
import typing
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from catalog import conventions as cv
from catalog import gpus as catalog
from infra import config
from infra.plan import engine, sdk_compat
from infra.plan.mocks import GCP_PROJECT_NUMBER
from infra.plan.recorder import SECRET, RecordedResource
from tests.helpers import raw_config

GCP_STACKS = ["gcp-dev", "gcp-prod"]
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


# ---- helpers ---------------------------------------------------------------------------------


def _of(plan: engine.Plan, type_: str) -> list[RecordedResource]:
    return plan.by_type(type_)


def _key_ids(plan: engine.Plan) -> dict[str, RecordedResource]:
    """Full ids of the KMS keys the plan creates (ring id + ``/cryptoKeys/<name>``)."""
    return {f"{k.inputs['keyRing']}/cryptoKeys/{k.inputs['name']}": k for k in _of(plan, "gcp:kms/cryptoKey:CryptoKey")}


def _key_named(plan: engine.Plan, name: str) -> str:
    ids = [kid for kid in _key_ids(plan) if kid.endswith(f"/cryptoKeys/{name}")]
    assert len(ids) == 1, ids
    return ids[0]


def _ring_location(key_id: str) -> str:
    return key_id.split("/locations/")[1].split("/")[0]


def _descendant_of(plan: engine.Plan, res: RecordedResource, component_name: str) -> bool:
    parent = res.parent
    while parent:
        if parent.endswith(f"::{component_name}"):
            return True
        node = plan.get(parent)
        parent = node.parent if node else ""
    return False


def _eval_condition(expression: str, resource_name: str, resource_type: str, list_prefix: str | None) -> bool:
    """Evaluate the CEL subset our bucket conditions use (startsWith, ==, !, &&, ||, api.getAttribute)."""
    py = expression.replace("&&", " and ").replace("||", " or ").replace(".startsWith(", ".startswith(")
    py = re.sub(r"!(?!=)", " not ", py)
    py = py.replace("api.getAttribute(", "_attr(")
    assert re.fullmatch(r'[\w\s."/()=,_-]*', py.replace("'", "")), f"unexpected syntax in condition: {expression}"

    class _Res:
        name = resource_name
        type = resource_type

    attrs = {"storage.googleapis.com/objectListPrefix": list_prefix} if list_prefix is not None else {}
    return bool(eval(py, {"__builtins__": {}}, {"resource": _Res, "_attr": lambda k, d: attrs.get(k, d)}))


def _object(bucket: str, path: str) -> tuple[str, str, None]:
    return f"projects/_/buckets/{bucket}/objects/{path}", "storage.googleapis.com/Object", None


def _listing(bucket: str, prefix: str | None) -> tuple[str, str, str | None]:
    return f"projects/_/buckets/{bucket}", "storage.googleapis.com/Bucket", prefix


def _args_class(type_token: str) -> type:
    """The pinned SDK's ``<Resource>Args`` input type for ``gcp:<module>/<x>:<Resource>``."""
    _, module_path, resource = type_token.split(":")
    module = importlib.import_module(f"pulumi_gcp.{module_path.split('/')[0]}")
    return getattr(module, f"{resource}Args")


def _nested_type(hint: Any) -> Any:
    """The input type (or ``("list", type)``) a property hint holds, or ``None`` for scalars and free maps."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return next((t for t in map(_nested_type, typing.get_args(hint)) if t is not None), None)
    if isinstance(hint, type) and sdk_compat.is_input_type(hint):
        return hint
    if origin in (list, collections.abc.Sequence):
        inner = _nested_type(typing.get_args(hint)[0])
        return ("list", inner) if inner is not None else None
    return None  # str, int, bool, Mapping[str, str] (labels)...


def _unknown_properties(input_type: Any, value: Any, path: str) -> list[str]:
    """Recorded (wire-name) keys that ``input_type`` of the pinned SDK does not declare, recursively."""
    if isinstance(input_type, tuple):
        items = value if isinstance(value, list) else []
        return [u for i, v in enumerate(items) for u in _unknown_properties(input_type[1], v, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    declared = sdk_compat.input_type_types(input_type)  # wire name -> type hint
    unknown = []
    for key, item in value.items():
        if key not in declared:
            unknown.append(f"{path}.{key} ({input_type.__name__} has no such property)")
        elif (nested := _nested_type(declared[key])) is not None:
            unknown += _unknown_properties(nested, item, f"{path}.{key}")
    return unknown


@pytest.fixture(params=GCP_STACKS)
def gcp_plan(request: pytest.FixtureRequest, plan_of: Callable[[str], engine.Plan]) -> engine.Plan:
    return plan_of(request.param)


# ---- the plan is clean ---------------------------------------------------------------------------


def test_gcp_stacks_plan_without_mandatory_violations(gcp_plan: engine.Plan) -> None:
    assert gcp_plan.mandatory_violations == []
    assert any(r.type == "gcp:container/cluster:Cluster" for r in gcp_plan.resources)


def test_every_gcp_resource_uses_the_explicit_provider_inside_a_component(gcp_plan: engine.Plan) -> None:
    """One provider for everything, and one for enabling the APIs the first waits for."""
    providers = {r.name: r for r in _of(gcp_plan, "pulumi:providers:gcp")}
    assert set(providers) == {"gcp", "gcp-apis"}
    for provider in providers.values():
        assert provider.inputs["project"] == gcp_plan.config.gcp.project
        assert provider.inputs["region"] == gcp_plan.config.region
    for res in gcp_plan.resources:
        if res.type.startswith("gcp:"):
            expected = "gcp-apis" if res.type == "gcp:projects/service:Service" else "gcp"
            assert res.provider_urn == providers[expected].urn, f"{res.urn} does not use the {expected} provider"
            parent = gcp_plan.get(res.parent)
            assert parent is not None and not parent.custom, f"{res.urn} is not inside a component"


def test_labels_carry_the_required_tags(gcp_plan: engine.Plan) -> None:
    labelled = {
        "gcp:storage/bucket:Bucket": ("labels",),
        "gcp:kms/cryptoKey:CryptoKey": ("labels",),
        "gcp:container/cluster:Cluster": ("resourceLabels",),
        "gcp:container/nodePool:NodePool": ("nodeConfig", "resourceLabels"),
        "gcp:sql/databaseInstance:DatabaseInstance": ("settings", "userLabels"),
        "gcp:redis/instance:Instance": ("labels",),
    }
    provider = _of(gcp_plan, "pulumi:providers:gcp")[0]
    default_labels = (
        json.loads(provider.inputs["defaultLabels"])
        if isinstance(provider.inputs["defaultLabels"], str)
        else provider.inputs["defaultLabels"]
    )
    assert set(cv.REQUIRED_TAGS) <= set(default_labels)
    seen = 0
    for res in gcp_plan.resources:
        path = labelled.get(res.type)
        if path is None:
            continue
        value: Any = res.inputs
        for part in path:
            value = value[part]
        missing = set(cv.REQUIRED_TAGS) - set(value)
        assert not missing, f"{res.urn} lacks labels {missing}"
        assert value[cv.TAG_ENVIRONMENT] == gcp_plan.config.environment
        seen += 1
    assert seen >= 10


def test_every_gcp_property_we_set_exists_in_the_pinned_sdk(gcp_plan: engine.Plan) -> None:
    """A misspelt key in a nested dict (``{"enable_privat_nodes": True}``) reaches the provider untranslated and
    is ignored or rejected at deploy time; here it fails against the pinned pulumi-gcp input types."""
    unknown: list[str] = []
    checked = set()
    for res in gcp_plan.resources:
        if res.type.startswith("gcp:"):
            unknown += _unknown_properties(_args_class(res.type), res.inputs, res.type)
            checked.add(res.type)
    assert unknown == []
    assert {
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
        "gcp:storage/bucket:Bucket",
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:redis/instance:Instance",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:compute/subnetwork:Subnetwork",
    } <= checked


def test_the_sdk_property_check_catches_a_misspelt_nested_key(plan_of: Callable[[str], engine.Plan]) -> None:
    (cluster,) = _of(plan_of("gcp-dev"), "gcp:container/cluster:Cluster")
    inputs = json.loads(json.dumps(cluster.inputs))
    inputs["privateClusterConfig"]["enable_privat_nodes"] = True
    inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"] = [{"cidrBlock": "10.0.0.0/8", "displayNme": "x"}]
    found = _unknown_properties(_args_class(cluster.type), inputs, "cluster")
    assert found == [
        "cluster.privateClusterConfig.enable_privat_nodes (ClusterPrivateClusterConfigArgs has no such property)",
        "cluster.masterAuthorizedNetworksConfig.cidrBlocks[0].displayNme "
        "(ClusterMasterAuthorizedNetworksConfigCidrBlockArgs has no such property)",
    ]


def test_the_label_policy_catches_a_gcp_resource_without_a_required_label(plan_of: Callable[[str], engine.Plan]) -> None:
    """Drop ``cost-center`` from the provider's default labels and every resource's own labels: mlp-tag-002 fires."""
    from infra import policy_hook

    plan = plan_of("gcp-prod")
    resources = [dataclasses.replace(r, inputs=copy.deepcopy(r.inputs)) for r in plan.resources]
    for res in resources:
        if res.type == "pulumi:providers:gcp":
            labels = json.loads(res.inputs["defaultLabels"])
            labels.pop(cv.TAG_COST_CENTER)
            res.inputs["defaultLabels"] = json.dumps(labels)
        for path in (("labels",), ("resourceLabels",), ("nodeConfig", "resourceLabels"), ("settings", "userLabels")):
            holder: Any = res.inputs
            for part in path[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and isinstance(holder.get(path[-1]), dict):
                holder[path[-1]].pop(cv.TAG_COST_CENTER, None)
    overrides = policy_hook.plan_overrides(plan.config)
    before = {
        v.urn for v in policy_hook.evaluate_resources(plan.resources, "prod", overrides=overrides) if v.policy == "mlp-tag-002"
    }
    after = [v for v in policy_hook.evaluate_resources(resources, "prod", overrides=overrides) if v.policy == "mlp-tag-002"]
    assert before == set()
    caught = {v.urn.split("::")[-2].split("$")[-1] for v in after}
    assert {
        "gcp:storage/bucket:Bucket",
        "gcp:container/cluster:Cluster",
        "gcp:sql/databaseInstance:DatabaseInstance",  # settings.userLabels
        "gcp:container/nodePool:NodePool",  # nodeConfig.resourceLabels
        "gcp:redis/instance:Instance",
    } <= caught
    assert {v.enforcement for v in after} == {"mandatory"}
    assert all(cv.TAG_COST_CENTER in v.message for v in after)


def test_the_rotation_policy_catches_a_cloud_kms_key_that_never_rotates(plan_of: Callable[[str], engine.Plan]) -> None:
    from infra import policy_hook

    plan = plan_of("gcp-prod")
    resources = [dataclasses.replace(r, inputs=copy.deepcopy(r.inputs)) for r in plan.resources]
    keys = [r for r in resources if r.type == "gcp:kms/cryptoKey:CryptoKey"]
    assert keys
    overrides = policy_hook.plan_overrides(plan.config)
    assert [v for v in policy_hook.evaluate_resources(resources, "prod", overrides=overrides) if v.policy == "mlp-sec-005"] == []
    for key in keys:
        key.inputs.pop("rotationPeriod")
    caught = [v for v in policy_hook.evaluate_resources(resources, "prod", overrides=overrides) if v.policy == "mlp-sec-005"]
    assert sorted(v.urn for v in caught) == sorted(k.urn for k in keys)
    assert {v.enforcement for v in caught} == {"mandatory"}


# ---- network -----------------------------------------------------------------------------------


def test_network_has_secondary_ranges_private_google_access_nat_and_private_services(gcp_plan: engine.Plan) -> None:
    cfg = gcp_plan.config
    subnets = {s.inputs["region"]: s for s in _of(gcp_plan, "gcp:compute/subnetwork:Subnetwork")}
    regions = {cfg.region} | ({cfg.dr_region} if cfg.dr_region else set())
    assert set(subnets) == regions
    assert all(s.inputs["privateIpGoogleAccess"] for s in subnets.values())
    # every region's subnet can host a cluster: pods and services ranges inside the configured ones, no overlaps
    configured = {
        "pods": ipaddress.ip_network(cfg.network.pods_cidr),
        "services": ipaddress.ip_network(cfg.network.services_cidr),
    }
    used = [ipaddress.ip_network(s.inputs["ipCidrRange"]) for s in subnets.values()]
    for subnet in subnets.values():
        ranges = {r["rangeName"]: ipaddress.ip_network(r["ipCidrRange"]) for r in subnet.inputs["secondaryIpRanges"]}
        assert set(ranges) == set(configured), subnet.urn
        for name, net in ranges.items():
            assert net.subnet_of(configured[name]), f"{subnet.urn}: {name} {net} outside {configured[name]}"
        used += ranges.values()
    assert not [(a, b) for i, a in enumerate(used) for b in used[i + 1 :] if a.overlaps(b)]
    if not cfg.dr_region:  # a single region gets the whole configured ranges
        primary = {r["rangeName"]: r["ipCidrRange"] for r in subnets[cfg.region].inputs["secondaryIpRanges"]}
        assert primary == {"pods": cfg.network.pods_cidr, "services": cfg.network.services_cidr}
    (cluster,) = _of(gcp_plan, "gcp:container/cluster:Cluster")
    assert cluster.inputs["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    assert {n.inputs["region"] for n in _of(gcp_plan, "gcp:compute/routerNat:RouterNat")} == regions
    (psa,) = _of(gcp_plan, "gcp:servicenetworking/connection:Connection")
    assert psa.inputs["service"] == "servicenetworking.googleapis.com"


# ---- keys and lake -------------------------------------------------------------------------------


def test_every_bucket_is_cmek_encrypted_with_our_key_located_with_it(gcp_plan: engine.Plan) -> None:
    keys = _key_ids(gcp_plan)
    buckets = _of(gcp_plan, "gcp:storage/bucket:Bucket")
    assert len(buckets) == len(gcp_plan.config.data_lake.zones) + 1  # + the access-log bucket
    for bucket in buckets:
        key = bucket.inputs["encryption"]["defaultKmsKeyName"]
        assert key in keys, f"{bucket.name} is encrypted with {key}, not one of our keys"
        assert _ring_location(key) == bucket.inputs["location"].lower(), "a CMEK key must live in the bucket's location"
        assert keys[key].inputs["rotationPeriod"] == "7776000s"


def test_gcs_agent_and_only_service_agents_may_use_the_keys(gcp_plan: engine.Plan) -> None:
    lake_key = gcp_plan.by_type("gcp:storage/bucket:Bucket")[0].inputs["encryption"]["defaultKmsKeyName"]
    grants = _of(gcp_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    gcs_agent = f"serviceAccount:service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    assert any(g.inputs["cryptoKeyId"] == lake_key and g.inputs["member"] == gcs_agent for g in grants)
    for grant in grants:
        assert grant.inputs["role"] == ENCRYPTER
        assert re.fullmatch(
            rf"serviceAccount:service-{GCP_PROJECT_NUMBER}@[a-z-]+\.iam\.gserviceaccount\.com", grant.inputs["member"]
        )
    sql_key = _key_named(gcp_plan, "cloudsql")
    assert any(g.inputs["cryptoKeyId"] == sql_key and "gcp-sa-cloud-sql" in g.inputs["member"] for g in grants)


def test_buckets_are_private_versioned_logged_with_lifecycle(gcp_plan: engine.Plan) -> None:
    cfg = gcp_plan.config
    buckets = {b.inputs["labels"][cv.TAG_LAKE_ZONE]: b for b in _of(gcp_plan, "gcp:storage/bucket:Bucket")}
    log_bucket = buckets.pop("logs")
    for zone, bucket in buckets.items():
        i = bucket.inputs
        assert i["publicAccessPrevention"] == "enforced"
        assert i["uniformBucketLevelAccess"] is True
        assert i["versioning"] == {"enabled": True}
        assert i["logging"]["logBucket"] == log_bucket.inputs["name"]
        assert i["forceDestroy"] is False or not cfg.is_prod
        rules = i["lifecycleRules"]
        assert {"type": "AbortIncompleteMultipartUpload"} in [r["action"] for r in rules]
        noncurrent = [r for r in rules if r["condition"].get("daysSinceNoncurrentTime")]
        assert noncurrent[0]["condition"]["daysSinceNoncurrentTime"] == cfg.data_lake.lifecycle.noncurrent_expiry_days
        tiers = {
            r["action"].get("storageClass"): r["condition"]["age"] for r in rules if r["action"]["type"] == "SetStorageClass"
        }
        if zone == "raw":
            lc = cfg.data_lake.lifecycle
            assert tiers == {"NEARLINE": lc.raw_infrequent_access_days, "COLDLINE": lc.raw_glacier_ir_days}
        else:
            assert tiers == {}
    assert log_bucket.inputs["publicAccessPrevention"] == "enforced"
    assert "logging" not in log_bucket.inputs


def test_prod_lake_is_dual_region_turbo_and_protected(plan_of: Callable[[str], engine.Plan]) -> None:
    prod = plan_of("gcp-prod")
    cfg = prod.config
    assert cfg.dr_region
    buckets = _of(prod, "gcp:storage/bucket:Bucket")
    assert len(buckets) == len(cfg.data_lake.zones) + 1  # + the access-log bucket
    for bucket in buckets:
        assert bucket.inputs["location"] == "US"
        assert bucket.inputs["customPlacementConfig"]["dataLocations"] == [cfg.region.upper(), cfg.dr_region.upper()]
        assert bucket.inputs["rpo"] == "ASYNC_TURBO"
        assert bucket.protect and bucket.retain_on_delete
        assert bucket.inputs["forceDestroy"] is False
    stateful = (
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:redis/instance:Instance",
        "gcp:kms/keyRing:KeyRing",
    )
    for type_ in stateful:
        resources = _of(prod, type_)
        assert resources and all(r.protect and r.retain_on_delete for r in resources), type_


def test_dev_lake_is_regional_and_unprotected(plan_of: Callable[[str], engine.Plan]) -> None:
    dev = plan_of("gcp-dev")
    buckets = _of(dev, "gcp:storage/bucket:Bucket")
    assert len(buckets) == len(dev.config.data_lake.zones) + 1  # + the access-log bucket
    for bucket in buckets:
        assert bucket.inputs["location"] == dev.config.region.upper()
        assert "customPlacementConfig" not in bucket.inputs and "rpo" not in bucket.inputs
        assert not bucket.protect


# ---- GKE -------------------------------------------------------------------------------------------


def test_cluster_is_private_with_workload_identity_dataplane_v2_and_secret_encryption(gcp_plan: engine.Plan) -> None:
    cfg = gcp_plan.config
    (cluster,) = _of(gcp_plan, "gcp:container/cluster:Cluster")
    i = cluster.inputs
    assert i["privateClusterConfig"]["enablePrivateNodes"] is True
    assert i["privateClusterConfig"]["enablePrivateEndpoint"] is (not cfg.cluster.public_access_cidrs)
    assert [c["cidrBlock"] for c in i["masterAuthorizedNetworksConfig"].get("cidrBlocks", [])] == cfg.cluster.public_access_cidrs
    assert i["workloadIdentityConfig"]["workloadPool"] == f"{cfg.gcp.project}.svc.id.goog"
    assert i["datapathProvider"] == "ADVANCED_DATAPATH"
    assert i["enableShieldedNodes"] is True
    assert i["releaseChannel"]["channel"] == cfg.cluster.release_channel
    assert i["removeDefaultNodePool"] is True
    secrets_key = i["databaseEncryption"]["keyName"]
    assert i["databaseEncryption"]["state"] == "ENCRYPTED"
    assert secrets_key == _key_named(gcp_plan, "gke-secrets") and _ring_location(secrets_key) == cfg.region
    assert i["location"] == cfg.region
    assert cluster.protect is cfg.is_prod and i["deletionProtection"] is cfg.is_prod
    # no GPU operator (GKE's default here): GKE exports the GPUs' DCGM metrics to Managed Prometheus itself
    assert cfg.gpu_pools and cfg.gpu_operator.enabled is False  # resolved by the config (GKE default: off)
    assert i["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
    assert set(i["monitoringConfig"]["enableComponents"]) == {"SYSTEM_COMPONENTS", "DCGM"}
    gke_agent = f"serviceAccount:service-{GCP_PROJECT_NUMBER}@container-engine-robot.iam.gserviceaccount.com"
    assert any(
        g.inputs["cryptoKeyId"] == secrets_key and g.inputs["member"] == gke_agent
        for g in _of(gcp_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    )


def test_node_pools_use_gke_metadata_shielded_vms_and_a_least_privilege_account(gcp_plan: engine.Plan) -> None:
    (nodes_sa,) = [a for a in _of(gcp_plan, "gcp:serviceaccount/account:Account") if a.inputs["accountId"].endswith("-nodes")]
    roles = {m.inputs["role"] for m in _of(gcp_plan, "gcp:projects/iAMMember:IAMMember")}
    assert not roles & {"roles/editor", "roles/owner"}
    pools = _of(gcp_plan, "gcp:container/nodePool:NodePool")
    assert any(p.inputs["name"] == "system" for p in pools)
    for pool in pools:
        node = pool.inputs["nodeConfig"]
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert node["serviceAccount"].startswith(nodes_sa.inputs["accountId"] + "@")


def test_gpu_pools_carry_the_configured_accelerators_partitions_and_spot(gcp_plan: engine.Plan) -> None:
    cfg = gcp_plan.config
    pools = {p.inputs["name"]: p for p in _of(gcp_plan, "gcp:container/nodePool:NodePool")}
    for pool in cfg.gpu_pools:
        gpu = catalog.gpu_model(config.pool_gpu_key(cfg, pool))
        machine = pool.instance_types[0] if pool.instance_types else catalog.node_types("gcp", gpu=gpu.key)[0].name
        variants = {pool.name: pool.capacity != "on-demand"}
        if pool.capacity == "spot-with-fallback":
            variants[f"{pool.name}-ondemand"] = False
        for name, spot in variants.items():
            node = pools[name].inputs["nodeConfig"]
            (acc,) = node["guestAccelerators"]
            assert acc["type"] == catalog.gke_accelerator(catalog.node_type("gcp", machine))
            assert acc["count"] == catalog.node_type("gcp", machine).gpus
            assert node["machineType"] == machine
            assert acc.get("gpuPartitionSize") == pool.mig_profile
            if pool.time_slicing_replicas:
                assert acc["gpuSharingConfig"] == {
                    "gpuSharingStrategy": "TIME_SHARING",
                    "maxSharedClientsPerGpu": pool.time_slicing_replicas,
                }
            else:
                assert "gpuSharingConfig" not in acc
            assert acc["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"
            assert node["spot"] is spot
            # GKE's own GPU taint value: the same key and effect with another value would clash with it
            assert node["taints"] == [{"key": cv.GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}]
            assert node["labels"][cv.POOL_LABEL] == pool.name  # the fallback twin too: one Kueue flavor
            assert node["labels"][cv.PURPOSE_LABEL] == pool.purpose
            scaling = pools[name].inputs["autoscaling"]
            per_node = catalog.node_type("gcp", machine).gpus
            assert scaling["totalMaxNodeCount"] == min(pool.max_nodes, (pool.gpu_limit or 10**6) // per_node)
            assert scaling["totalMinNodeCount"] == (pool.min_nodes if name == pool.name else 0)


def test_gpu_limit_caps_a_gke_pool_in_whole_nodes(write_stack: Callable[..., Any]) -> None:
    """GKE bounds a pool by nodes: ``gpuLimit`` must still hold, so maxNodes shrinks to what fits under it."""
    raw = raw_config("gcp-dev")
    notebooks = next(p for p in raw["gpuPools"] if p["name"] == "notebooks")
    notebooks.update(instanceTypes=["g2-standard-24"], maxNodes=4, gpuLimit=5)  # 2 L4s per node
    path = write_stack("gcp-dev", gpuPools=raw["gpuPools"])
    plan = engine.plan("case", stack_path=path)
    pool = next(p for p in _of(plan, "gcp:container/nodePool:NodePool") if p.inputs["name"] == "notebooks")
    assert pool.inputs["nodeConfig"]["guestAccelerators"][0]["count"] == 2
    assert pool.inputs["autoscaling"]["totalMaxNodeCount"] == 2  # 2 nodes x 2 GPUs <= 5 < 3 nodes x 2 GPUs


def test_prod_has_mig_spot_fallback_and_on_demand_serving(plan_of: Callable[[str], engine.Plan]) -> None:
    pools = {p.inputs["name"]: p.inputs["nodeConfig"] for p in _of(plan_of("gcp-prod"), "gcp:container/nodePool:NodePool")}
    assert pools["train-h100"]["spot"] is True and pools["train-h100-ondemand"]["spot"] is False
    assert pools["train-a100-mig"]["guestAccelerators"][0]["gpuPartitionSize"] == "1g.5gb"
    assert pools["serve-l4"]["spot"] is False


# ---- identities --------------------------------------------------------------------------------


def _team_bindings(plan: engine.Plan, team: str) -> tuple[list[RecordedResource], list[RecordedResource]]:
    wi = [m for m in _of(plan, "gcp:serviceaccount/iAMMember:IAMMember") if _descendant_of(plan, m, f"team-{team}")]
    grants = [g for g in _of(plan, "gcp:storage/bucketIAMMember:BucketIAMMember") if _descendant_of(plan, g, f"team-{team}")]
    return wi, grants


def test_each_team_identity_is_bound_only_to_its_workloads_service_account(gcp_plan: engine.Plan) -> None:
    project = gcp_plan.config.gcp.project
    assert gcp_plan.config.teams
    for team in gcp_plan.config.teams:
        wi, _ = _team_bindings(gcp_plan, team.name)
        assert [(m.inputs["role"], m.inputs["member"]) for m in wi] == [
            ("roles/iam.workloadIdentityUser", f"serviceAccount:{project}.svc.id.goog[{team.name}/{team.name}-workloads]")
        ]


def _grants_allow(grants: list[RecordedResource], roles: set[str], case: tuple[str, str, str | None]) -> bool:
    """Whether any of ``grants`` with one of ``roles`` applies to ``case`` (IAM grants add up)."""
    for g in grants:
        if g.inputs["role"] not in roles or not case[0].startswith(f"projects/_/buckets/{g.inputs['bucket']}"):
            continue
        condition = g.inputs.get("condition")
        if condition is None or _eval_condition(condition["expression"], *case):
            return True
    return False


READ = {"roles/storage.objectUser", "roles/storage.objectViewer"}
WRITE = {"roles/storage.objectUser"}


def test_team_bucket_access_is_limited_to_its_prefix(gcp_plan: engine.Plan) -> None:
    """All of a team's grants together: its own prefix everywhere, shared zones read-only, nothing
    of another team's prefix in any zone (shared ones included)."""
    cfg = gcp_plan.config
    names = {b.inputs["labels"][cv.TAG_LAKE_ZONE]: b.inputs["name"] for b in _of(gcp_plan, "gcp:storage/bucket:Bucket")}
    teams = [t.name for t in cfg.teams]
    for team in teams:
        _, grants = _team_bindings(gcp_plan, team)
        assert {g.inputs["role"] for g in grants} <= READ
        others = [t for t in teams if t != team] + ["someone-else", f"{team}-x"]
        for zone in cfg.data_lake.zones:
            bucket = names[zone]
            shared = zone in cfg.data_lake.shared_zones
            reads = lambda case, g=grants: _grants_allow(g, READ, case)  # noqa: E731
            writes = lambda case, g=grants: _grants_allow(g, WRITE, case)  # noqa: E731
            own = _object(bucket, f"teams/{team}/data/part-0.parquet")
            assert reads(own) and writes(own), (team, zone)
            assert reads(_listing(bucket, f"teams/{team}/"))
            for prefix in ("teams/", "teams", *(f"teams/{o}/" for o in others)):
                assert not reads(_listing(bucket, prefix)), (team, zone, prefix)
            for other in others:
                theirs = _object(bucket, f"teams/{other}/secret.csv")
                assert not reads(theirs) and not writes(theirs), (team, zone, other)
            elsewhere = _object(bucket, "datasets/clicks/part-0.parquet")
            assert reads(elsewhere) is shared, (team, zone)
            assert not writes(elsewhere)
            assert reads(_listing(bucket, "datasets/")) is shared
            assert reads(_listing(bucket, None)) is shared, "only a shared zone's root may be listed"
            assert not writes(_object(bucket, "mlflow/1/model.pkl"))


def test_platform_services_have_narrow_identities(gcp_plan: engine.Plan) -> None:
    project = gcp_plan.config.gcp.project
    names = {b.inputs["labels"][cv.TAG_LAKE_ZONE]: b.inputs["name"] for b in _of(gcp_plan, "gcp:storage/bucket:Bucket")}
    feast = [g for g in _of(gcp_plan, "gcp:storage/bucketIAMMember:BucketIAMMember") if _descendant_of(gcp_plan, g, "svc-feast")]
    assert [(g.inputs["bucket"], g.inputs["role"]) for g in feast] == [(names["features"], "roles/storage.objectViewer")]
    mlflow = [
        g for g in _of(gcp_plan, "gcp:storage/bucketIAMMember:BucketIAMMember") if _descendant_of(gcp_plan, g, "svc-mlflow")
    ]
    assert [g.inputs["bucket"] for g in mlflow] == [names["models"]]
    expr = mlflow[0].inputs["condition"]["expression"]
    assert _eval_condition(expr, *_object(names["models"], "mlflow/3/artifacts/model.pkl"))
    assert not _eval_condition(expr, *_object(names["models"], "teams/x/model.pkl"))
    members = {m.inputs["member"] for m in _of(gcp_plan, "gcp:serviceaccount/iAMMember:IAMMember")}
    assert f"serviceAccount:{project}.svc.id.goog[mlflow/mlflow]" in members
    assert f"serviceAccount:{project}.svc.id.goog[feast/feast-feature-server]" in members


# ---- managed stores ----------------------------------------------------------------------------


def test_cloud_sql_is_private_encrypted_backed_up_and_ha_in_prod(gcp_plan: engine.Plan) -> None:
    cfg = gcp_plan.config
    (sql,) = _of(gcp_plan, "gcp:sql/databaseInstance:DatabaseInstance")
    s = sql.inputs["settings"]
    assert s["ipConfiguration"]["ipv4Enabled"] is False
    assert s["ipConfiguration"]["privateNetwork"]
    assert s["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert sql.inputs["encryptionKeyName"] == _key_named(gcp_plan, "cloudsql")
    assert sql.inputs["databaseVersion"].startswith("POSTGRES_")
    backup = s["backupConfiguration"]
    assert backup["enabled"] and backup["pointInTimeRecoveryEnabled"]
    retention = backup["backupRetentionSettings"]["retainedBackups"]
    if cfg.is_prod:
        assert s["availabilityType"] == "REGIONAL"
        assert sql.inputs["deletionProtection"] is True and s["deletionProtectionEnabled"] is True
        assert retention >= 14 and backup["location"] == cfg.dr_region
    else:
        assert s["availabilityType"] == "ZONAL" and retention == 7
    assert s["tier"] == cfg.mlflow.database.instance_class


def test_database_passwords_are_secret_and_kept_in_secret_manager(gcp_plan: engine.Plan) -> None:
    users = _of(gcp_plan, "gcp:sql/user:User")
    assert users and all(u.inputs["password"] == SECRET for u in users)
    versions = _of(gcp_plan, "gcp:secretmanager/secretVersion:SecretVersion")
    assert len(versions) == len(users) and all(v.inputs["secretData"] == SECRET for v in versions)
    databases = {d.inputs["name"] for d in _of(gcp_plan, "gcp:sql/database:Database")}
    expected = {"mlflow"} | ({"feast_registry"} if gcp_plan.config.feast.registry == "sql" else set())
    assert databases == expected


def test_no_generated_secret_value_appears_in_any_input_or_output(gcp_plan: engine.Plan) -> None:
    # the mocks generate recognisable values: passwords start with "planpw", the Redis AUTH "plan-redis-auth-"
    dump = json.dumps([r.inputs for r in gcp_plan.resources]) + json.dumps(gcp_plan.outputs)
    assert "planpw" not in dump
    assert "plan-redis-auth-" not in dump


def test_memorystore_is_private_with_auth_tls_and_our_key(gcp_plan: engine.Plan) -> None:
    (redis,) = _of(gcp_plan, "gcp:redis/instance:Instance")
    i = redis.inputs
    assert i["authEnabled"] is True
    assert i["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert i["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert i["customerManagedKey"] == _key_named(gcp_plan, "redis")
    assert "authString" in redis.additional_secret_outputs
    assert i["tier"] == ("STANDARD_HA" if gcp_plan.config.is_prod else "BASIC")


# ---- budgets -------------------------------------------------------------------------------------


def test_prod_has_the_platform_budget_and_no_team_budget_that_can_never_fire(plan_of: Callable[[str], engine.Plan]) -> None:
    # GKE cost allocation is only in the BigQuery export, which budgets cannot filter on: team budgets
    # are chargeback alerts (tests/test_monitoring.py)
    prod = plan_of("gcp-prod")
    budgets = {b.inputs["displayName"]: b.inputs for b in _of(prod, "gcp:billing/budget:Budget")}
    assert all("labels" not in b["budgetFilter"] for b in budgets.values())
    platform = budgets[f"{prod.config.cluster_name} platform"]
    assert platform["amount"]["specifiedAmount"]["units"] == str(round(prod.config.budget.monthly_usd))
    assert "labels" not in platform["budgetFilter"]
    emails = {c.inputs["labels"]["email_address"] for c in _of(prod, "gcp:monitoring/notificationChannel:NotificationChannel")}
    assert emails == set(prod.config.budget.alert_emails)


def test_no_budgets_without_a_billing_account(plan_of: Callable[[str], engine.Plan]) -> None:
    dev = plan_of("gcp-dev")
    assert dev.config.gcp.billing_account is None
    assert _of(dev, "gcp:billing/budget:Budget") == []


# ---- switches ------------------------------------------------------------------------------------


def test_mlflow_and_feast_off_leave_no_managed_stores(write_stack: Callable[..., Any]) -> None:
    path = write_stack("gcp-dev", mlflow={"enabled": False}, feast={"enabled": False})
    plan = engine.plan("case", stack_path=path)
    types = {r.type for r in plan.resources}
    assert not types & {
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:redis/instance:Instance",
        "gcp:secretmanager/secret:Secret",
    }
    assert not any("cloudsql" in k or "redis" in k for k in _key_ids(plan))
    assert not [
        m
        for m in _of(plan, "gcp:serviceaccount/iAMMember:IAMMember")
        if "[mlflow/" in m.inputs["member"] or "[feast/" in m.inputs["member"]
    ]


def test_with_the_gpu_operator_gke_leaves_driver_plugin_mig_and_sharing_to_it(write_stack: Callable[..., Any]) -> None:
    path = write_stack("gcp-dev", gpuOperator={"enabled": True})
    plan = engine.plan("case", stack_path=path)
    pools = {
        p.inputs["name"]: p.inputs["nodeConfig"]
        for p in _of(plan, "gcp:container/nodePool:NodePool")
        if p.inputs["nodeConfig"].get("guestAccelerators")
    }
    assert set(pools) == {p.name for p in plan.config.gpu_pools}
    for cfg_pool in plan.config.gpu_pools:
        node = pools[cfg_pool.name]
        (acc,) = node["guestAccelerators"]
        # GKE keeps installing the driver (COS nodes); the operator runs everything else on top
        assert acc["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
        assert "gpuPartitionSize" not in acc and "gpuSharingConfig" not in acc
        assert node["labels"]["gke-no-default-nvidia-gpu-device-plugin"] == "true"
        if cfg_pool.mig_profile:
            assert node["labels"][cv.MIG_CONFIG_LABEL] == catalog.mig_config_name(cfg_pool.mig_profile)
    assert plan.by_type("ml-platform:k8s:GpuOperator")
    # NVIDIA's GKE guide (Google driver installer): driver and toolkit under /home/kubernetes/bin/nvidia,
    # the toolkit on; GKE admits the operands' system-node-critical pods only with a quota for them
    (release,) = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "gpu-operator"]
    values = release.inputs["values"]
    assert values["driver"]["enabled"] is False
    assert values["hostPaths"]["driverInstallDir"] == "/home/kubernetes/bin/nvidia"
    assert values["toolkit"]["enabled"] is True and values["toolkit"]["installDir"] == "/home/kubernetes/bin/nvidia"
    quotas = [
        q for q in plan.by_type("kubernetes:core/v1:ResourceQuota") if q.inputs["metadata"]["namespace"] == cv.NS_GPU_OPERATOR
    ]
    assert quotas and any(
        "system-node-critical" in e["values"] for q in quotas for e in q.inputs["spec"]["scopeSelector"]["matchExpressions"]
    )
    assert {q.urn for q in quotas} <= set(release.dependencies)
    # the operator's DCGM exporter (and its alert rules) take over GPU metrics from GKE
    (cluster,) = _of(plan, "gcp:container/cluster:Cluster")
    assert cluster.inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS"]
    assert plan.by_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")


# ---- config errors (exit 2 naming the key) -------------------------------------------------------


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(config.ConfigError) as err:
        config.parse(raw)
    return dict(err.value.problems)


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda r: r.update(dr={"enabled": True, "region": "europe-west4"}), "ml-platform:dr.region"),
        (lambda r: r["mlflow"]["database"].update(instanceClass="db.r6g.large"), "ml-platform:mlflow.database.instanceClass"),
        (lambda r: r["feast"]["onlineStore"].update(nodeType="cache.t4g.small"), "ml-platform:feast.onlineStore.nodeType"),
        (
            lambda r: r.update(cluster={"systemNodes": {"instanceType": "m6i.large"}}),
            "ml-platform:cluster.systemNodes.instanceType",
        ),
        (
            lambda r: r["gpuPools"][0].update(instanceTypes=["a2-highgpu-1g", "a2-highgpu-2g"]),
            "ml-platform:gpuPools[0].instanceTypes",
        ),
        (lambda r: r["gpuPools"][0].update(migProfile="4g.20gb"), "ml-platform:gpuPools[0].migProfile"),
        (lambda r: r["dataLake"].update(zones=["raw", "logs", "features", "models"]), "ml-platform:dataLake.zones"),
        (lambda r: r["gcp"].update(billingAccount="billingAccounts/123"), "ml-platform:gcp.billingAccount"),
        # 2 A100s cannot hold one a2-highgpu-4g (4 GPUs): GKE pools scale in whole nodes
        (
            lambda r: r["gpuPools"][0].update(instanceTypes=["a2-highgpu-4g"], gpuLimit=2, migProfile=None),
            "ml-platform:gpuPools[0].gpuLimit",
        ),
        # the operator is off by default on gcp: nobody would install the driver GKE was told to skip
        (lambda r: r.update(gpuOperator={"driver": True}), "ml-platform:gpuOperator.driver"),
        # GKE's COS nodes take no operator-installed driver, even with the operator on
        (lambda r: r.update(gpuOperator={"enabled": True, "driver": True}), "ml-platform:gpuOperator.driver"),
    ],
)
def test_gcp_config_mistakes_name_the_key(mutate: Callable[[dict[str, Any]], None], key: str) -> None:
    raw = raw_config("gcp-dev")
    mutate(raw)
    problems = _problems(raw)
    assert key in problems, problems


def test_gcp_defaults_replace_aws_sizes_when_unset(write_stack: Callable[..., Any]) -> None:
    # the AWS defaults (db.t4g.medium, cache.t4g.small, m6i.large) are not errors on gcp: GCP sizes are used
    path = write_stack("gcp-dev", mlflow=None, feast=None)
    plan = engine.plan("case", stack_path=path)
    (sql,) = _of(plan, "gcp:sql/databaseInstance:DatabaseInstance")
    assert sql.inputs["settings"]["tier"] == "db-custom-1-3840"
    (redis,) = _of(plan, "gcp:redis/instance:Instance")
    assert redis.inputs["tier"] == "BASIC"
    system = next(p for p in _of(plan, "gcp:container/nodePool:NodePool") if p.inputs["name"] == "system")
    assert system.inputs["nodeConfig"]["machineType"] == "e2-standard-4"


# ---- what the Kubernetes layer receives ------------------------------------------------------


def test_cloud_layer_hands_the_kubernetes_layer_what_it_needs() -> None:
    from infra.layers import gcp as gcp_layer

    raw = raw_config("gcp-prod")
    cfg = config.parse(raw)
    seen: dict[str, Any] = {}

    def program() -> None:
        layer = gcp_layer.build(cfg)
        seen["layer"] = layer
        team_emails = {t: ann["iam.gke.io/gcp-service-account"] for t, ann in layer.team_identity.items()}
        pulumi_outputs = {
            "buckets": layer.buckets,
            "teams": team_emails,
            "mlflow": layer.service_identity["mlflow"]["iam.gke.io/gcp-service-account"],
            "db_host": layer.mlflow_db.host,
            "redis_ca": layer.feast_redis.ca_certificate,
        }
        pulumi.Output.from_input(pulumi_outputs).apply(seen.update)

    engine.run_program("gcp-prod", raw, [], program=program)
    layer = seen["layer"]
    assert layer.cloud == "gcp" and layer.object_store == "gs" and layer.driver_preinstalled is True
    assert set(seen["buckets"]) == set(cfg.data_lake.zones)
    assert seen["buckets"]["models"] == f"{cfg.gcp.project}-prod-models"
    assert set(seen["teams"]) == {t.name for t in cfg.teams}
    for team, email in seen["teams"].items():
        assert email.endswith(".iam.gserviceaccount.com") and email.startswith(f"mlp-prod-{team}@")
    assert seen["mlflow"].endswith(".iam.gserviceaccount.com")
    assert layer.mlflow_db.username == "mlflow" and layer.mlflow_db.database == "mlflow" and layer.mlflow_db.password is not None
    assert seen["db_host"]  # Cloud SQL's private IP
    assert layer.feast_registry_db is not None and layer.feast_registry_db.database == "feast_registry"
    assert layer.feast_registry_db.password is not layer.mlflow_db.password  # a user of its own
    assert layer.feast_redis.tls is True and seen["redis_ca"]
    assert layer.depends_on  # node pools the workloads wait for


def test_kubernetes_service_accounts_impersonate_exactly_the_bound_google_accounts(gcp_plan: engine.Plan) -> None:
    """End to end: the KSA the WI binding names carries the annotation of the GSA that binding is on."""
    project = gcp_plan.config.gcp.project
    accounts = {r.urn: r for r in _of(gcp_plan, "gcp:serviceaccount/account:Account")}
    bound: dict[tuple[str, str], str] = {}  # (namespace, ksa) -> GSA account id
    for binding in _of(gcp_plan, "gcp:serviceaccount/iAMMember:IAMMember"):
        member = binding.inputs["member"]
        ns, ksa = re.fullmatch(rf"serviceAccount:{re.escape(project)}\.svc\.id\.goog\[([^/]+)/([^\]]+)\]", member).groups()
        gsa = next(a for a in accounts.values() if a.parent == binding.parent)
        bound[(ns, ksa)] = gsa.inputs["accountId"]
    annotated: dict[tuple[str, str], str] = {}
    for sa in _of(gcp_plan, "kubernetes:core/v1:ServiceAccount"):
        meta = sa.inputs["metadata"]
        annotation = (meta.get("annotations") or {}).get("iam.gke.io/gcp-service-account")
        if annotation:
            annotated[(meta["namespace"], meta["name"])] = annotation
    for release in _of(gcp_plan, "kubernetes:helm.sh/v3:Release"):
        sa = (release.inputs.get("values") or {}).get("serviceAccount") or {}
        annotation = (sa.get("annotations") or {}).get("iam.gke.io/gcp-service-account")
        if annotation:
            annotated[(release.inputs["namespace"], sa["name"])] = annotation
    teams = {(t.name, f"{t.name}-workloads") for t in gcp_plan.config.teams}
    assert teams <= set(bound)
    assert set(annotated) == set(bound), "every bound KSA is annotated and nothing else impersonates"
    for key, account in bound.items():
        assert annotated[key].split("@")[0] == account, key


def test_encrypted_resources_wait_for_the_agent_grant_on_their_key(gcp_plan: engine.Plan) -> None:
    """Creating a CMEK bucket / cluster / database fails while the service agent may not use the key."""
    grants = {g.urn: g.inputs["cryptoKeyId"] for g in _of(gcp_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")}
    key_paths = {
        "gcp:storage/bucket:Bucket": ("encryption", "defaultKmsKeyName"),
        "gcp:container/cluster:Cluster": ("databaseEncryption", "keyName"),
        "gcp:sql/databaseInstance:DatabaseInstance": ("encryptionKeyName",),
        "gcp:redis/instance:Instance": ("customerManagedKey",),
    }
    checked = 0
    for res in gcp_plan.resources:
        path = key_paths.get(res.type)
        if not path:
            continue
        key: Any = res.inputs
        for part in path:
            key = key[part]
        assert any(grants.get(dep) == key for dep in res.dependencies), f"{res.urn} does not wait for the grant on {key}"
        checked += 1
    assert checked >= 8
