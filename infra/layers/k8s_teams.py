"""Team namespaces, quotas, policies, RBAC, Kueue (issue: multi-tenancy). The same on every cloud.

GPU quotas: a team's ``quotas.gpu`` is its guaranteed (nominal) share of ``nvidia.com/gpu`` and
``quotas.mig`` its MIG slices; ``gpuBorrowingLimit`` (default 0) is how much more it may borrow
from idle quota of the other teams through Kueue's cohort. The namespace ResourceQuota is the
hard ceiling, nominal + borrowing limit per GPU resource, so it never refuses what Kueue admits.
In Kueue a team's nominal GPUs are split over the pools that offer the resource in proportion to
the pools' GPU ceilings (the parts add up to the configured quota).
"""

from __future__ import annotations

from typing import Literal

import pulumi

from catalog import conventions as cv
from catalog import gpus as catalog
from catalog import pool_nodes
from components.k8s import training
from components.k8s.kueue import Flavor, Kueue, KueueArgs, KueueQueues, KueueQueuesArgs, Quota, ResourceGroup, TeamQueue, split
from components.k8s.team import Team, TeamArgs
from infra import config
from infra.layers import k8s_fleet
from infra.layers.context import CloudLayer
from infra.layers.k8s_context import K8sPlatform

_NEURON_CLASS = "(neuron)"
"""Quota class of the Trainium / Inferentia pools in :func:`pool_nominals` (MIG classes are profile names)."""
CPU_FLAVOR = "default"
COHORT = "teams"
FLEX_START_CHECK = "dws-flex-start"
"""The AdmissionCheck (and ProvisioningRequestConfig) of GKE flex-start pools."""
TOPOLOGY = "network"
"""The Kueue Topology of the cloud's network (Topology Aware Scheduling) that topology-aware pools' flavors name."""


def mig_strategy(cfg: config.PlatformConfig, cloud: CloudLayer) -> Literal["single", "mixed"]:
    """How MIG slices appear: as the cloud imposes (``CloudLayer.forced_mig_strategy``), else ``gpuOperator.migStrategy``."""
    return cloud.forced_mig_strategy or cfg.gpu_operator.mig_strategy


def flavor_name(pool: config.GpuPoolConfig) -> str:
    return f"gpu-{pool.name}"


def pool_resource(pool: config.GpuPoolConfig, strategy: str) -> str:
    """The extended resource a pool's nodes offer."""
    if pool.mig_profile and strategy == "mixed":
        return catalog.mig_resource_name(pool.mig_profile)
    if _is_neuron(pool):
        return catalog.NEURON_RESOURCE
    return cv.GPU_RESOURCE


def _is_neuron(pool: config.GpuPoolConfig) -> bool:
    """A Trainium / Inferentia pool (its ``gpu``, or its first instance type's model; types are unique per cloud)."""
    if pool.gpu:
        return catalog.gpu_model(pool.gpu).is_neuron
    name = pool.instance_types[0]
    cloud = catalog.cloud_of(name)
    if cloud is None or (cloud, name) not in catalog.NODE_TYPES:
        return False
    return catalog.gpu_model(catalog.node_type(cloud, name).gpu).is_neuron


def neuron_cores_per_device(cfg: config.PlatformConfig) -> int:
    """NeuronCores per device of the Neuron pools (the most, when Trainium and Inferentia pools mix)."""
    return max((cfg.pool_gpu(p).neuron_cores for p in cfg.gpu_pools if _is_neuron(p)), default=0)


def team_demand(team: config.TeamConfig, pool: config.GpuPoolConfig) -> tuple[str | None, int]:
    """Which of the team's quotas a pool serves: ``(None, gpu)`` for whole GPUs, ``(profile, n)`` for MIG,
    ``("aws.amazon.com/neuron", neuron)`` for a Trainium / Inferentia pool."""
    if _is_neuron(pool):
        return catalog.NEURON_RESOURCE, team.quotas.neuron
    if pool.mig_profile:
        return pool.mig_profile, team.quotas.mig.get(pool.mig_profile, 0)
    return None, team.quotas.gpu


def pool_nominals(cfg: config.PlatformConfig, team: config.TeamConfig) -> dict[str, int]:
    """Pool name -> the team's nominal quota on it (whole GPUs, or MIG slices of the pool's profile)."""
    out: dict[str, int] = {}
    classes: dict[str | None, list[config.GpuPoolConfig]] = {}
    for pool in cfg.gpu_pools:
        classes.setdefault(_NEURON_CLASS if _is_neuron(pool) else pool.mig_profile, []).append(pool)
    for profile, pools in classes.items():
        if profile == _NEURON_CLASS:
            total = team.quotas.neuron
        else:
            total = team.quotas.gpu if profile is None else team.quotas.mig.get(profile, 0)
        out.update(split(total, {p.name: cfg.pool_gpu_ceiling(p) for p in pools}))
    return out


def borrowing(team: config.TeamConfig) -> int:
    return team.gpu_borrowing_limit


def accelerator_hard(cfg: config.PlatformConfig, team: config.TeamConfig, strategy: str) -> dict[str, int]:
    """Namespace quota per GPU resource: nominal + borrowing limit; every offered resource is listed."""
    hard: dict[str, int] = {cv.GPU_RESOURCE: team.quotas.gpu}
    if strategy == "mixed":
        for profile, count in team.quotas.mig.items():
            hard[catalog.mig_resource_name(profile)] = count
    else:
        hard[cv.GPU_RESOURCE] += sum(team.quotas.mig.values())
    if any(_is_neuron(p) for p in cfg.gpu_pools):
        hard[catalog.NEURON_RESOURCE] = team.quotas.neuron
    for pool in cfg.gpu_pools:
        hard.setdefault(pool_resource(pool, strategy), 0)
    out = {r: n + borrowing(team) for r, n in hard.items()}
    if catalog.NEURON_RESOURCE in out:  # a device's cores: pods may ask for whole devices or single cores
        out[catalog.NEURONCORE_RESOURCE] = out[catalog.NEURON_RESOURCE] * neuron_cores_per_device(cfg)
    return out


def flavors(cfg: config.PlatformConfig) -> list[Flavor]:
    return [Flavor(name=CPU_FLAVOR)] + [
        Flavor(
            name=flavor_name(p),
            node_labels={cv.POOL_LABEL: p.name},
            tolerations=[pool_nodes.NEURON_TOLERATION if _is_neuron(p) else pool_nodes.GPU_TOLERATION],
            topology_name=TOPOLOGY if p.topology_aware else None,
        )
        for p in cfg.gpu_pools
    ]


def resource_groups(cfg: config.PlatformConfig, team: config.TeamConfig, strategy: str) -> list[ResourceGroup]:
    """CPU/memory on the default flavor; GPUs (and MIG slices under ``mixed``) on the pools' flavors."""
    groups = [
        ResourceGroup(
            resources=("cpu", "memory"),
            flavors={CPU_FLAVOR: {"cpu": Quota(team.quotas.cpu, 0), "memory": Quota(team.quotas.memory, 0)}},
        )
    ]
    nominal = pool_nominals(cfg, team)
    by_resource: dict[str, list[config.GpuPoolConfig]] = {}
    for pool in cfg.gpu_pools:
        by_resource.setdefault(pool_resource(pool, strategy), []).append(pool)
    gpu_pools = by_resource.pop(cv.GPU_RESOURCE, [])
    neuron_pools = by_resource.pop(catalog.NEURON_RESOURCE, [])
    if neuron_pools:  # devices and their cores in one group: a workload may request either
        groups.append(
            ResourceGroup(
                resources=(catalog.NEURON_RESOURCE, catalog.NEURONCORE_RESOURCE),
                flavors={
                    flavor_name(p): {
                        catalog.NEURON_RESOURCE: Quota(nominal[p.name], borrowing(team)),
                        catalog.NEURONCORE_RESOURCE: Quota(
                            nominal[p.name] * cfg.pool_gpu(p).neuron_cores, borrowing(team) * cfg.pool_gpu(p).neuron_cores
                        ),
                    }
                    for p in neuron_pools
                },
            )
        )
    if gpu_pools:
        groups.append(
            ResourceGroup(
                resources=(cv.GPU_RESOURCE,),
                flavors={flavor_name(p): {cv.GPU_RESOURCE: Quota(nominal[p.name], borrowing(team))} for p in gpu_pools},
            )
        )
    if by_resource:  # MIG slices under the mixed strategy: one group, each flavor lists every profile
        resources = tuple(sorted(by_resource))
        flavors_: dict[str, dict[str, Quota]] = {}
        for resource in resources:
            for pool in by_resource[resource]:
                flavors_[flavor_name(pool)] = {
                    r: Quota(nominal[pool.name], borrowing(team)) if r == resource else Quota(0, 0) for r in resources
                }
        groups.append(ResourceGroup(resources=resources, flavors=flavors_))
    return groups


def team_args(cfg: config.PlatformConfig, cloud: CloudLayer, team: config.TeamConfig) -> TeamArgs:
    platform = [ns for ns, on in ((cv.NS_MLFLOW, cfg.mlflow.enabled), (cv.NS_FEAST, cfg.feast.enabled)) if on]
    return TeamArgs(
        name=team.name,
        cost_center=team.cost_center,
        owners=team.owners,
        viewers=team.viewers,
        pod_security=team.pod_security,
        cpu=team.quotas.cpu,
        memory=team.quotas.memory,
        accelerators=accelerator_hard(cfg, team, mig_strategy(cfg, cloud)),
        pods=team.quotas.pods,
        storage=team.quotas.storage,
        internet_egress=team.internet_egress,
        platform_namespaces=tuple(platform),
        service_account_annotations=dict(cloud.team_identity.get(team.name, {})),
        identity_egress=tuple(cloud.identity_egress),
    )


def build(cfg: config.PlatformConfig, platform: K8sPlatform) -> dict[str, Team]:
    """The teams' namespaces (returned), their shared-volume claims, Kueue and the queues."""
    if not cfg.teams:
        return {}
    cloud = platform.cloud
    waits = platform.waits

    def after(*first: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[*first, *waits])

    teams = {t.name: Team(f"team-{t.name}", team_args(cfg, cloud, t), opts=after()) for t in cfg.teams}
    shared = cloud.shared_volumes
    if shared is not None:  # shared file system (FSx for Lustre): each team's claim on its pre-bound volume
        training.TeamVolumeClaims(
            "team-volumes",
            training.TeamVolumeClaimsArgs(
                claim=shared.claim,
                volumes={t: (teams[t].namespace_name, pv, size) for t, (pv, size) in shared.volumes.items() if t in teams},
            ),
            opts=after(*teams.values(), shared.file_system),
        )
    if not cfg.kueue.enabled:
        return teams
    # with the in-cluster metrics stack, Kueue's ServiceMonitor needs its CRD: install after the chart
    monitoring = platform.monitoring_release
    kueue = Kueue(
        "kueue",
        KueueArgs(
            replicas=config.effective(cfg.cluster.controller_replicas, "cluster.controllerReplicas"),
            prometheus=monitoring is not None,
            multikueue=k8s_fleet.kueue_settings(cfg),
        ),
        opts=after(*([monitoring] if monitoring is not None else [])),
    )
    if cfg.fleet.role == "manager":  # the teams' queues dispatch to the fleet's workers
        k8s_fleet.build_manager(cfg, platform, kueue, {name: team.namespace_name for name, team in teams.items()})
        return teams
    if cfg.fleet.role == "worker":
        k8s_fleet.build_worker(cfg, platform, kueue)
    strategy = mig_strategy(cfg, cloud)
    before_queues: list[pulumi.Resource] = [kueue]
    if any(p.topology_aware for p in cfg.gpu_pools) and cloud.topology_levels:
        # the flavors name it; Kueue's CRDs (in the chart) must exist first
        before_queues.append(
            training.KueueTopology(TOPOLOGY, training.KueueTopologyArgs(levels=cloud.topology_levels), opts=after(kueue))
        )
    checks: dict[str, list[str]] = {}
    flex = [flavor_name(p) for p in cfg.gpu_pools if p.capacity == "flex-start"]
    if flex:
        # GKE flex-start: Kueue asks the autoscaler for all of a job's nodes (a ProvisioningRequest) before admitting it
        before_queues.append(
            training.ProvisioningAdmissionCheck(
                FLEX_START_CHECK,
                training.ProvisioningAdmissionCheckArgs(
                    provisioning_class=training.GKE_QUEUED_PROVISIONING_CLASS, managed_resources=[cv.GPU_RESOURCE]
                ),
                opts=after(kueue),
            )
        )
        checks[FLEX_START_CHECK] = flex
    KueueQueues(
        "kueue-queues",
        KueueQueuesArgs(
            flavors=flavors(cfg),
            admission_checks=checks,
            queues=[
                TeamQueue(
                    team=t.name,
                    namespace=teams[t.name].namespace_name,
                    groups=resource_groups(cfg, t, strategy),
                    namespace_selector={cv.TEAM_LABEL: t.name},
                )
                for t in cfg.teams
            ],
            cohort=COHORT,
        ),
        opts=after(*before_queues),
    )
    return teams
