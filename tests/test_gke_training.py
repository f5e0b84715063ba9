"""Multi-node training on GKE (issue 20, GCP): GPUDirect NICs of A3 Mega / A3 Ultra / A4, compact placement.

One prod-like GKE stack (``gcp-prod`` plus a reserved, compactly placed A3 Mega pool and a spot A4 pool, both with
``gpuDirect``) is planned once for the module; the config refusals run the CLI in-process.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from catalog import conventions as cv
from catalog import gpus as catalog
from components.gcp.gpu_network import GpuNetworksArgs
from components.gcp.gpu_node_pool import GpuNodePoolArgs
from infra.plan import engine
from infra.plan.model import RecordedResource
from tests.chart_values import crd_validator, schema_errors
from tests.helpers import plan_stack, stack_doc

ZONE = "us-central1-a"
MEGA_POOL = {
    "name": "train-mega",
    "purpose": "training",
    "instanceTypes": ["a3-megagpu-8g"],
    "capacity": "reserved",
    "reservation": {"ids": ["h100-mega-block"], "nodes": 2},
    "zone": ZONE,
    "minNodes": 0,
    "maxNodes": 2,
    "gpuDirect": True,
    "placement": "cluster",
    "placementPolicy": "mega-compact",
}
B200_POOL = {
    "name": "train-b200",
    "purpose": "training",
    "instanceTypes": ["a4-highgpu-8g"],
    "capacity": "spot",
    "zone": ZONE,
    "minNodes": 0,
    "maxNodes": 2,
    "gpuDirect": True,
    "placement": "cluster",
    "imageStreaming": True,
    "secondaryBootDisk": "global/images/train-images-v1",
}
NODE_POOL = "gcp:container/nodePool:NodePool"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
GKE_NETWORK = "kubernetes:networking.gke.io/v1:Network"
PARAMS = "kubernetes:networking.gke.io/v1:GKENetworkParamSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


FUSE = {"zone": "curated", "fileCacheGi": 200}


def gke_training_doc(*pools: dict[str, Any]) -> dict[str, Any]:
    doc = stack_doc("gcp-prod")
    doc["config"]["ml-platform:gpuPools"] = [
        *doc["config"]["ml-platform:gpuPools"],
        *(copy.deepcopy(p) for p in pools or (MEGA_POOL, B200_POOL)),
    ]
    doc["config"]["ml-platform:dataLake"] = {**doc["config"]["ml-platform:dataLake"], "gcsFuse": dict(FUSE)}
    teams = doc["config"]["ml-platform:teams"]
    teams[0] = {**teams[0], "podSecurity": "privileged"}  # the team that trains across nodes with GPUDirect
    return doc


@pytest.fixture(scope="module")
def gke_plan(tmp_path_factory: pytest.TempPathFactory) -> engine.Plan:
    path = tmp_path_factory.mktemp("stacks") / "Pulumi.gketrain.yaml"
    path.write_text(yaml.safe_dump(gke_training_doc()))
    return engine.plan("gketrain", stack_path=path)


def _pool(plan: engine.Plan, name: str) -> RecordedResource:
    (pool,) = [p for p in plan.by_type(NODE_POOL) if p.inputs["name"] == name]
    return pool


def _by_name(plan: engine.Plan, type_: str) -> dict[str, RecordedResource]:
    return {r.inputs.get("name") or r.inputs["metadata"]["name"]: r for r in plan.by_type(type_)}


def test_the_multi_node_gke_stack_plans_cleanly(gke_plan: engine.Plan) -> None:
    assert not gke_plan.mandatory_violations, gke_plan.mandatory_violations
    assert gke_plan.lifecycle.problems == [], gke_plan.lifecycle.problems[:3]


def test_the_cluster_has_multi_networking_on_dataplane_v2(gke_plan: engine.Plan) -> None:
    (cluster,) = gke_plan.by_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["enableMultiNetworking"] is True
    assert cluster.inputs["datapathProvider"] == "ADVANCED_DATAPATH"  # multi-networking needs Dataplane V2


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_stacks_without_gpudirect_pools_build_no_gpu_networks(stack: str) -> None:
    plan = plan_stack(stack)
    (cluster,) = plan.by_type("gcp:container/cluster:Cluster")
    assert "enableMultiNetworking" not in cluster.inputs
    assert not plan.by_type(GKE_NETWORK) and len(plan.by_type(NETWORK)) == 1


def test_a3_mega_nodes_get_eight_tcpxo_nics_on_their_own_vpcs(gke_plan: engine.Plan) -> None:
    pool = _pool(gke_plan, "train-mega")
    nics = pool.inputs["networkConfig"]["additionalNodeNetworkConfigs"]
    assert len(nics) == catalog.node_type("gcp", "a3-megagpu-8g").gpu_nics == 8
    networks = _by_name(gke_plan, NETWORK)
    assert len({n["network"] for n in nics}) == 8  # one VPC per NIC
    for nic in nics:
        assert networks[nic["network"]].inputs["mtu"] == 8244  # cluster-toolkit gke-a3-megagpu
    (acc,) = pool.inputs["nodeConfig"]["guestAccelerators"]
    assert acc["type"] == "nvidia-h100-mega-80gb"
    assert pool.inputs["nodeConfig"]["gvnic"] == {"enabled": True}


def test_a4_nodes_get_a_gvnic_and_eight_rdma_nics_on_the_zones_roce_vpc(gke_plan: engine.Plan) -> None:
    pool = _pool(gke_plan, "train-b200")
    nics = pool.inputs["networkConfig"]["additionalNodeNetworkConfigs"]
    assert len(nics) == 9
    networks = _by_name(gke_plan, NETWORK)
    gvnic, rdma = networks[nics[0]["network"]], networks[nics[1]["network"]]
    assert "networkProfile" not in gvnic.inputs
    assert {n["network"] for n in nics[1:]} == {rdma.inputs["name"]}
    project = gke_plan.config.gcp.project
    assert rdma.inputs["networkProfile"] == f"projects/{project}/global/networkProfiles/{ZONE}-vpc-roce"
    assert len({n["subnetwork"] for n in nics[1:]}) == 8
    assert pool.inputs["nodeLocations"] == [ZONE]


def test_gpu_nics_are_reachable_between_nodes_but_the_roce_vpc_has_no_firewall(gke_plan: engine.Plan) -> None:
    subnets = _by_name(gke_plan, SUBNET)
    rules = gke_plan.by_type(FIREWALL)
    by_network = {}
    for net in gke_plan.by_type(NETWORK):
        by_network[net.inputs["name"]] = net
    rdma_name = next(n for n, r in by_network.items() if r.inputs.get("networkProfile"))
    gpu_subnets = [
        s
        for s in subnets.values()
        if s.inputs["name"].startswith(f"{gke_plan.config.cluster_name}-") and s.inputs["ipCidrRange"].startswith("192.168.")
    ]
    assert len(gpu_subnets) == 8 + 1 + 8
    for subnet in gpu_subnets:
        if subnet.inputs["name"].startswith(rdma_name):
            continue
        rule = [r for r in rules if r.inputs.get("sourceRanges") == [subnet.inputs["ipCidrRange"]]]
        assert len(rule) == 1, subnet.inputs["name"]
        assert {a["protocol"] for a in rule[0].inputs["allows"]} == {"tcp", "udp", "icmp"}
    assert not [r for r in rules if r.inputs.get("name", "").startswith(rdma_name)]


def test_gpu_subnets_are_disjoint_and_apart_from_the_cluster_ranges(gke_plan: engine.Plan) -> None:
    cfg = gke_plan.config
    gpu = ipaddress.IPv4Network(cfg.network.gpu_cidr)
    ranges = [ipaddress.IPv4Network(s.inputs["ipCidrRange"]) for s in gke_plan.by_type(SUBNET)]
    ranges = [r for r in ranges if r.subnet_of(gpu)]
    assert len(ranges) == 17
    for i, a in enumerate(ranges):
        assert not any(a.overlaps(b) for b in ranges[i + 1 :])
    for cidr in (cfg.network.cidr, cfg.network.pods_cidr, cfg.network.services_cidr):
        assert not gpu.overlaps(ipaddress.ip_network(cidr))


def test_node_pools_wait_for_their_gpu_subnets(gke_plan: engine.Plan) -> None:
    subnets = {s.inputs["name"]: s.urn for s in gke_plan.by_type(SUBNET)}
    for name in ("train-mega", "train-b200"):
        pool = _pool(gke_plan, name)
        wanted = {subnets[n["subnetwork"]] for n in pool.inputs["networkConfig"]["additionalNodeNetworkConfigs"]}
        assert wanted <= set(pool.dependencies) | {u for deps in pool.property_dependencies.values() for u in deps}, name


def test_every_gpu_nic_is_a_gke_network_pods_can_ask_for(gke_plan: engine.Plan) -> None:
    """The GKENetworkParamSet of each Kubernetes network names the VPC / subnet a node NIC sits in (pods ask for
    ``vpc1`` .. ``vpc8`` on A3 Mega, ``gvnic-1`` + ``rdma-0`` .. ``rdma-7`` on A3 Ultra / A4)."""
    params = _by_name(gke_plan, PARAMS)
    networks = _by_name(gke_plan, GKE_NETWORK)
    assert set(params) == set(networks) == {*(f"vpc{i}" for i in range(1, 9)), "gvnic-1", *(f"rdma-{j}" for j in range(8))}
    nic_pairs = {
        (n["network"], n["subnetwork"])
        for name in ("train-mega", "train-b200")
        for n in _pool(gke_plan, name).inputs["networkConfig"]["additionalNodeNetworkConfigs"]
    }
    assert {(p.inputs["spec"]["vpc"], p.inputs["spec"]["vpcSubnet"]) for p in params.values()} == nic_pairs
    for name, p in params.items():
        assert p.inputs["spec"]["deviceMode"] == ("RDMA" if name.startswith("rdma-") else "NetDevice")
        assert networks[name].inputs["spec"] == {
            "type": "Device",
            "parametersRef": {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": name},
        }


def test_gke_network_objects_validate_against_the_pinned_crds(gke_plan: engine.Plan, upstream: Path) -> None:
    crds = upstream / "gke-networking" / "crds"
    if not crds.is_dir():
        pytest.skip(f"GKE networking CRDs not pinned in {upstream}: run `make upstream` (tests/fetch_upstream.py lists them)")
    for type_, file in ((PARAMS, "networking.gke.io_gkenetworkparamsets.yaml"), (GKE_NETWORK, "networking.gke.io_networks.yaml")):
        validator = crd_validator(crds / file, "v1")
        for res in gke_plan.by_type(type_):
            assert not schema_errors(validator, res.inputs), res.name


def test_the_nccl_plugin_installers_run_on_their_accelerators_pinned(gke_plan: engine.Plan) -> None:
    sets = _by_name(gke_plan, DAEMONSET)
    affinity = {
        name: ds.inputs["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ][0]["matchExpressions"][0]
        for name, ds in sets.items()
        if ds.inputs["metadata"]["namespace"] == cv.NS_GPUDIRECT
    }
    assert affinity["nccl-tcpxo-installer"]["values"] == ["nvidia-h100-mega-80gb"]
    assert affinity["device-injector"]["values"] == ["nvidia-h100-mega-80gb"]
    assert affinity["nccl-rdma-installer"]["values"] == ["nvidia-b200"]
    for name in affinity:
        spec = sets[name].inputs["spec"]["template"]["spec"]
        assert spec["tolerations"] == [{"operator": "Exists"}]  # the GPU nodes are tainted
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            image = c["image"]
            assert "@sha256:" in image or (":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")), image
    (ns,) = [n for n in gke_plan.by_type("kubernetes:core/v1:Namespace") if n.inputs["metadata"]["name"] == cv.NS_GPUDIRECT]
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_training_pools_are_placed_compactly_in_one_zone(gke_plan: engine.Plan) -> None:
    mega, b200 = _pool(gke_plan, "train-mega"), _pool(gke_plan, "train-b200")
    assert mega.inputs["placementPolicy"] == {"type": "COMPACT", "policyName": "mega-compact"}
    assert b200.inputs["placementPolicy"] == {"type": "COMPACT"}
    for pool in (mega, b200):
        assert pool.inputs["nodeLocations"] == [ZONE]
    assert "placementPolicy" not in _pool(gke_plan, "train-h100").inputs


def test_gpudirect_pool_mistakes_exit_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    no_zone = {k: v for k, v in B200_POOL.items() if k not in ("zone", "placement")}
    cases: list[tuple[list[dict[str, Any]], dict[str, Any], str]] = [
        (
            [{k: v for k, v in MEGA_POOL.items() if k != "gpuDirect"}],
            {},
            "gpuPools[4].gpuDirect: required on a3-megagpu-8g training pools",
        ),
        (
            [{"name": "t", "purpose": "training", "instanceTypes": ["a2-highgpu-1g"], "gpuDirect": True, "zone": ZONE}],
            {},
            "gpuPools[4].gpuDirect: a2-highgpu-1g has no GPU NICs",
        ),
        ([no_zone], {}, "gpuPools[4].zone: required with gpuDirect"),
        ([{**B200_POOL, "gpuDirect": False, "zone": None}], {}, "gpuPools[4].zone: required with placement"),
        (
            [{**B200_POOL, "capacity": "flex-start"}],
            {},
            "gpuPools[4].placement: compact placement cannot be combined with flex-start",
        ),
        ([{**B200_POOL, "placement": None}], {}, "gpuPools[4].placementPolicy"),
        (
            [MEGA_POOL, {**B200_POOL, "zone": "us-central1-b"}],
            {},
            "gpuPools[5].zone: 'us-central1-b': every gpuDirect pool trains in one zone",
        ),
        ([MEGA_POOL], {"network": {"cidr": "192.168.0.0/20"}}, "network.gpuCidr: 192.168.0.0/16 overlaps network.cidr"),
        ([{**B200_POOL, "imageStreaming": False}], {}, "gpuPools[4].imageStreaming: must be true with secondaryBootDisk"),
        ([], {"dataLake": {"gcsFuse": {"zone": "scratch"}}}, "dataLake.gcsFuse.zone: 'scratch' is not a lake zone"),
    ]
    cases[5][0][0]["placementPolicy"] = "mine"
    for i, (pools, extra, expected) in enumerate(cases):
        doc = gke_training_doc(*pools)
        for pool in doc["config"]["ml-platform:gpuPools"]:
            for key in [k for k, v in pool.items() if v is None]:
                del pool[key]
        for key, value in extra.items():
            doc["config"][f"ml-platform:{key}"] = {**doc["config"].get(f"ml-platform:{key}", {}), **value}
        path = tmp_path / f"Pulumi.bad{i}.yaml"
        path.write_text(yaml.safe_dump(doc))
        assert cli.main(["plan", "--stack", f"bad{i}", "--stacks-dir", str(tmp_path)]) == 2, expected
        err = capsys.readouterr().err
        assert f"ml-platform:{expected}" in err, (expected, err[-800:])


def test_gpudirect_pools_keep_ephemeral_storage_on_their_local_ssds(gke_plan: engine.Plan) -> None:
    """A3 Mega / A4 machines come with 16 / 32 local SSDs (cluster-toolkit disk_definitions.tf): a GPUDirect pool puts
    its ephemeral storage (emptyDirs, the Cloud Storage FUSE file cache) on them; other pools keep the boot disk."""
    for name, count in (("train-mega", 16), ("train-b200", 32)):
        node = _pool(gke_plan, name).inputs["nodeConfig"]
        assert node["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": count}
        assert catalog.node_type("gcp", node["machineType"]).local_ssds == count
    assert "ephemeralStorageLocalSsdConfig" not in _pool(gke_plan, "train-h100").inputs["nodeConfig"]


def test_a_pool_can_start_from_an_image_cache_disk(gke_plan: engine.Plan) -> None:
    """Faster pulls of multi-GB images: image streaming plus a secondary boot disk of pre-pulled images."""
    node = _pool(gke_plan, "train-b200").inputs["nodeConfig"]
    assert node["gcfsConfig"] == {"enabled": True}
    assert node["secondaryBootDisks"] == [{"diskImage": "global/images/train-images-v1", "mode": "CONTAINER_IMAGE_CACHE"}]
    assert "secondaryBootDisks" not in _pool(gke_plan, "train-mega").inputs["nodeConfig"]


def test_each_team_mounts_its_lake_prefix_through_cloud_storage_fuse(gke_plan: engine.Plan) -> None:
    """A pre-bound Cloud Storage FUSE volume per team on ``teams/<team>/`` of the curated bucket, with the file cache,
    claimed as ``lake`` in the team's namespace within its storage quota; only the team's Google identity (its pods'
    service account) may use that prefix."""
    cfg = gke_plan.config
    bucket = f"{cfg.gcp.project}-prod-curated"
    (cluster,) = gke_plan.by_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["addonsConfig"]["gcsFuseCsiDriverConfig"] == {"enabled": True}
    pvs = {p.inputs["metadata"]["name"]: p for p in gke_plan.by_type("kubernetes:core/v1:PersistentVolume")}
    claims = {
        (c.inputs["metadata"]["namespace"], c.inputs["metadata"]["name"]): c
        for c in gke_plan.by_type("kubernetes:core/v1:PersistentVolumeClaim")
    }
    grants = gke_plan.by_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert cfg.teams
    for team in cfg.teams:
        spec = pvs[f"lake-{team.name}"].inputs["spec"]
        assert spec["csi"]["driver"] == "gcsfuse.csi.storage.gke.io" and spec["csi"]["volumeHandle"] == bucket
        assert f"only-dir=teams/{team.name}" in spec["mountOptions"]
        assert spec["csi"]["volumeAttributes"] == {"fileCacheCapacity": "200Gi", "fileCacheForRangeRead": "true"}
        assert spec["claimRef"] == {"namespace": team.name, "name": "lake"}
        claim = claims[(team.name, "lake")]
        assert claim.inputs["spec"]["volumeName"] == f"lake-{team.name}"
        assert pvs[f"lake-{team.name}"].urn in claim.dependencies
        requested = claim.inputs["spec"]["resources"]["requests"]["storage"]
        assert requested == spec["capacity"]["storage"] == "1Gi"  # nominal: fits any team's requests.storage quota
        mine = [g for g in grants if g.name == f"team-{team.name}-curated"]
        assert len(mine) == 1
        assert (
            mine[0]
            .inputs["condition"]["expression"]
            .startswith(f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/teams/{team.name}/")')
        )


def test_gpudirect_is_a_gke_option(write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    doc = stack_doc("prod")
    pools = doc["config"]["ml-platform:gpuPools"]
    pools[0] = {**pools[0], "gpuDirect": True, "secondaryBootDisk": "global/images/x"}
    lake = {**doc["config"]["ml-platform:dataLake"], "gcsFuse": {"zone": "curated"}}
    path = write_stack("prod", "awsdirect", gpuPools=pools, dataLake=lake)
    assert cli.main(["plan", "--stack", "awsdirect", "--stacks-dir", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert "ml-platform:gpuPools[0].gpuDirect: a GKE option" in err
    assert "ml-platform:gpuPools[0].secondaryBootDisk: a GKE secondary boot disk" in err
    assert "ml-platform:dataLake.gcsFuse: GKE's Cloud Storage FUSE CSI driver" in err


def test_component_args_refuse_what_gke_refuses() -> None:
    pool: dict[str, Any] = {
        "cluster": "c", "location": "us-central1", "pool": "p", "purpose": "training", "gpu_model": "B200",
        "machine_type": "a4-highgpu-8g", "accelerator_type": "nvidia-b200", "accelerator_count": 8, "max_nodes": 2,
        "service_account": "sa@p.iam.gserviceaccount.com",
    }  # fmt: skip
    with pytest.raises(ValueError, match="single zone"):
        GpuNodePoolArgs(**pool, compact_placement=True)
    with pytest.raises(ValueError, match="queued provisioning"):
        GpuNodePoolArgs(**pool, compact_placement=True, zone=ZONE, flex_start=True)
    with pytest.raises(ValueError, match="compact_placement"):
        GpuNodePoolArgs(**pool, placement_policy="mine")
    with pytest.raises(ValueError, match="zonal"):
        GpuNetworksArgs(name="mlp", project="p", region="us-central1", cidr="192.168.0.0/16", rdma=True)
    with pytest.raises(ValueError, match="/19 or larger"):
        GpuNetworksArgs(name="mlp", project="p", region="us-central1", cidr="192.168.0.0/22", tcpxo=True)
    assert pulumi  # the components are exercised under mocks by the stack plan above


# ---- the sample JobSet of docs/gpu.md ("Multi-node training on GKE") -----------------------------------------

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "jobset-gke-rdma-training.yaml"


@pytest.mark.upstream
def test_gke_sample_jobset_validates_against_the_pinned_crd(upstream: Path) -> None:
    doc = yaml.safe_load(SAMPLE.read_text())
    validator = crd_validator(upstream / "jobset" / "crds" / "jobset.x-k8s.io_jobsets.yaml", "v1alpha2")
    assert not schema_errors(validator, doc)


def test_gke_sample_jobset_asks_for_what_the_stack_builds(gke_plan: engine.Plan) -> None:
    """The sample's pool, NICs, claim and service account exist in the planned stack: its interfaces name the GKE
    networks of an A4 node in NIC order, it takes all 8 GPUs, the team's queue, a GKE topology level."""
    import json

    from components.k8s import kueue, training

    doc = yaml.safe_load(SAMPLE.read_text())
    (job,) = doc["spec"]["replicatedJobs"]
    pod = job["template"]["spec"]["template"]
    spec = pod["spec"]
    pool = _pool(gke_plan, spec["nodeSelector"][cv.POOL_LABEL])
    nics = pool.inputs["networkConfig"]["additionalNodeNetworkConfigs"]
    params = {(p.inputs["spec"]["vpc"], p.inputs["spec"]["vpcSubnet"]): name for name, p in _by_name(gke_plan, PARAMS).items()}
    wanted = [params[(n["network"], n["subnetwork"])] for n in nics]
    interfaces = json.loads(pod["metadata"]["annotations"]["networking.gke.io/interfaces"])
    assert interfaces[0] == {"interfaceName": "eth0", "network": "default"}
    assert [i["network"] for i in interfaces[1:]] == wanted
    (container,) = spec["containers"]
    node = catalog.node_type("gcp", pool.inputs["nodeConfig"]["machineType"])
    assert container["resources"]["limits"]["nvidia.com/gpu"] == node.gpus
    assert pod["metadata"]["annotations"]["kueue.x-k8s.io/podset-required-topology"] in training.GKE_TOPOLOGY_LEVELS
    assert doc["metadata"]["labels"][kueue.QUEUE_NAME_LABEL] == kueue.DEFAULT_LOCAL_QUEUE
    claims = {
        (c.inputs["metadata"]["namespace"], c.inputs["metadata"]["name"])
        for c in gke_plan.by_type("kubernetes:core/v1:PersistentVolumeClaim")
    }
    (lake,) = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert ("llm", lake["persistentVolumeClaim"]["claimName"]) in claims
    assert spec["serviceAccountName"] == "llm-workloads" and pod["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"


def test_only_the_gpudirect_team_lifts_pod_security(gke_plan: engine.Plan) -> None:
    """GPUDirect pods mount the node's NCCL plugin by hostPath, which Pod Security baseline refuses: the team that
    asked for it enforces nothing (restricted still warned and audited), every other team stays at its level."""
    psa = "pod-security.kubernetes.io"
    teams = [t["name"] for t in gke_training_doc()["config"]["ml-platform:teams"]]
    namespaces = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in gke_plan.resources
        if r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] in teams
    }
    assert set(namespaces) == set(teams)
    assert namespaces[teams[0]][f"{psa}/enforce"] == "privileged"
    assert namespaces[teams[0]][f"{psa}/warn"] == namespaces[teams[0]][f"{psa}/audit"] == "restricted"
    assert all(namespaces[t][f"{psa}/enforce"] in ("baseline", "restricted") for t in teams[1:])


def test_privileged_pod_security_needs_a_gpudirect_pool(
    write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from infra import cli

    teams = stack_doc("gcp-prod")["config"]["ml-platform:teams"]
    teams[1] = {**teams[1], "podSecurity": "privileged"}
    path = write_stack("gcp-prod", "privnodirect", teams=teams)
    assert cli.main(["plan", "--stack", "privnodirect", "--stacks-dir", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert "ml-platform:teams[1].podSecurity: 'privileged' lifts Pod Security for GPUDirect jobs" in err
    assert "Traceback" not in err
