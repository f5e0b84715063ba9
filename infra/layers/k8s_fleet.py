"""The hybrid fleet (``fleet:``): MultiKueue between this project's stacks and clusters we do not manage.

A **manager** stack holds the teams' queues: each team's ClusterQueue carries the MultiKueue
AdmissionCheck, so an admitted job is dispatched to a worker; the workers are nominated in the order
``fleet.workers`` lists them (Kueue's incremental dispatcher), e.g. on-prem first, then cloud spot,
then cloud on-demand. Its quota per team is what the workers admit for the team, summed, as Kueue's
docs advise (a lower quota leaves workers idle, a higher one dispatches jobs no worker admits).

A **worker** stack is an ordinary stack (same teams, namespaces, LocalQueues ``default``) plus the
identity the manager uses there; it exports that identity's kubeconfig as the secret output
:data:`KUBECONFIG_OUTPUT`, which the manager reads through ``pulumi.StackReference``. So workers are
deployed before their manager (docs/hybrid.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import pulumi

from catalog import conventions as cv
from catalog import gpus as catalog
from catalog import pool_nodes
from components.k8s.kueue import Flavor, Kueue, KueueQueues, KueueQueuesArgs, Quota, ResourceGroup, TeamQueue
from components.k8s.multikueue import (
    ADMISSION_CHECK,
    FleetWorker,
    MultiKueueManager,
    MultiKueueManagerArgs,
    MultiKueueWorkerAccess,
    MultiKueueWorkerAccessArgs,
)
from infra import config
from infra.layers.k8s_context import K8sPlatform

KUBECONFIG_OUTPUT = "multikueueKubeconfig"
TEAMS_OUTPUT = "fleetTeams"
WORKER_OUTPUTS = (KUBECONFIG_OUTPUT, TEAMS_OUTPUT)
"""What a worker stack exports (the manager reads :data:`KUBECONFIG_OUTPUT`)."""
FLEET_FLAVOR = "fleet"
"""The manager's one ResourceFlavor: its quota stands for the workers' capacity, no node carries it."""
DISPATCHERS = {
    "incremental": "kueue.x-k8s.io/multikueue-dispatcher-incremental",
    "allAtOnce": "kueue.x-k8s.io/multikueue-dispatcher-all-at-once",
}
"""Kueue v0.19 ``Configuration.multiKueue.dispatcherName`` values (apis/config/v1beta2/configuration_types.go)."""

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def quantity_bytes(value: str) -> int:
    """A Kubernetes memory quantity (``128Gi``, ``2Ti``, ``500M``) in bytes."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?", str(value))
    if not match:
        raise ValueError(f"{value!r} is not a memory quantity")
    number, suffix = match.groups()
    return int(float(number) * (_BINARY.get(suffix or "") or _DECIMAL[suffix or ""]))


def _memory(total: int) -> str:
    return f"{total // 2**20}Mi" if total % 2**20 == 0 else str(total)


def kueue_settings(cfg: config.PlatformConfig) -> dict[str, object] | None:
    """Kueue's ``multiKueue`` configuration on a manager (``None`` elsewhere)."""
    if cfg.fleet.role != "manager":
        return None
    settings: dict[str, object] = {"dispatcherName": DISPATCHERS[cfg.fleet.dispatcher]}
    if cfg.fleet.dispatcher == "incremental":
        # MultiKueueIncrementalDispatcherConfig and ...RespectConfigOrder are beta and on by default in
        # v0.19 (pkg/features/kube_features.go): workers are nominated in MultiKueueConfig order, step_size at a time
        settings["incrementalDispatcherConfig"] = {"stepSize": cfg.fleet.step_size}
    return settings


def team_resources(worker: config.PlatformConfig, quotas: config.TeamQuotas) -> dict[str, int]:
    """What a worker admits for a team, per Kueue resource (memory in bytes), nominal quotas."""
    mixed = pool_nodes.mig_strategy(worker.cloud, worker.gpu_operator.mig_strategy) == "mixed"
    out = {"cpu": quotas.cpu, "memory": quantity_bytes(quotas.memory), cv.GPU_RESOURCE: quotas.gpu}
    for profile, count in quotas.mig.items():
        if mixed:
            out[catalog.mig_resource_name(profile)] = count
        else:  # the single strategy (GKE's only one) exposes slices as nvidia.com/gpu
            out[cv.GPU_RESOURCE] += count
    if quotas.neuron:
        out[catalog.NEURON_RESOURCE] = quotas.neuron
    return out


def worker_configs(cfg: config.PlatformConfig) -> dict[str, config.PlatformConfig]:
    """Worker name -> its stack's config (workers given by ``stack``; checked by ``check_fleet_stacks``).

    The stack files are this project's ``stacks/`` (``stackConfigDir``): a worker's quotas are config,
    known before it is deployed, so the manager's plan does not wait for the worker's outputs."""
    return {w.name: config.load_stack(w.stack) for w in cfg.fleet.workers if w.stack}


def worker_team_resources(
    cfg: config.PlatformConfig, worker: config.FleetWorkerConfig, peers: Mapping[str, config.PlatformConfig]
) -> dict[str, dict[str, int]]:
    """Team -> resources the worker admits for it (from its stack's teams, or the manager's ``quotas`` for it)."""
    if worker.stack:
        peer = peers[worker.name]
        return {t.name: team_resources(peer, t.quotas) for t in peer.teams}
    # a cluster we do not manage: its quotas as the manager states them (MIG as the mixed strategy names it)
    stand_in = cfg.model_copy(update={"cloud": "existing"})
    return {team: team_resources(stand_in, q) for team, q in worker.quotas.items()}


def accelerators(resources: Mapping[str, int]) -> int:
    """Accelerators in a resource map: whole GPUs, MIG slices and Neuron devices."""
    return sum(n for r, n in resources.items() if r not in ("cpu", "memory"))


def manager_queues(cfg: config.PlatformConfig, peers: Mapping[str, config.PlatformConfig]) -> dict[str, dict[str, int]]:
    """Team -> the manager's nominal quota per resource: the sum over workers of what each admits."""
    totals: dict[str, dict[str, int]] = {t.name: {} for t in cfg.teams}
    for worker in cfg.fleet.workers:
        for team, resources in worker_team_resources(cfg, worker, peers).items():
            if team in totals:
                for resource, n in resources.items():
                    totals[team][resource] = totals[team].get(resource, 0) + n
    return totals


def build_manager(
    cfg: config.PlatformConfig, platform: K8sPlatform, kueue: Kueue, namespaces: Mapping[str, pulumi.Input[str]]
) -> None:
    """The MultiKueue objects and the teams' ClusterQueues that dispatch to the workers."""
    cloud = platform.cloud
    peers = worker_configs(cfg)
    organization = cfg.fleet.organization or pulumi.get_organization()
    workers: list[FleetWorker] = []
    for worker in cfg.fleet.workers:
        if worker.stack:
            ref = pulumi.StackReference(
                f"fleet-{worker.name}", stack_name=f"{organization}/{pulumi.get_project()}/{worker.stack}"
            )
            # require_output fails the deploy loudly when the worker stack has not been deployed as a worker yet
            kubeconfig: pulumi.Input[str] = pulumi.Output.secret(ref.require_output(KUBECONFIG_OUTPUT))
            where = peers[worker.name].cloud
        else:
            assert worker.kubeconfig is not None  # one of stack / kubeconfig, checked by the config
            kubeconfig = pulumi.Output.secret(worker.kubeconfig.get_secret_value())
            where = "existing"
        gpus = {team: accelerators(r) for team, r in worker_team_resources(cfg, worker, peers).items()}
        workers.append(
            FleetWorker(
                name=worker.name,
                kubeconfig=kubeconfig,
                annotations={
                    cv.FLEET_CLOUD_ANNOTATION: where,
                    cv.FLEET_TEAM_ACCELERATORS_ANNOTATION: json.dumps(gpus, sort_keys=True),
                },
            )
        )
    after_kueue = pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[kueue, *platform.waits])
    manager = MultiKueueManager("multikueue", MultiKueueManagerArgs(workers=workers), opts=after_kueue)
    totals = manager_queues(cfg, peers)
    resources = tuple(sorted({r for t in totals.values() for r in t}, key=lambda r: (r not in ("cpu", "memory"), r)))
    queues = []
    for team in cfg.teams:
        mine = totals[team.name]
        quotas = {r: Quota(_memory(mine.get(r, 0)) if r == "memory" else mine.get(r, 0), 0) for r in resources}
        queues.append(
            TeamQueue(
                team=team.name,
                namespace=namespaces[team.name],
                groups=[ResourceGroup(resources=resources, flavors={FLEET_FLAVOR: quotas})],
                namespace_selector={cv.TEAM_LABEL: team.name},
            )
        )
    KueueQueues(
        "kueue-queues",
        KueueQueuesArgs(flavors=[Flavor(name=FLEET_FLAVOR)], queues=queues, admission_checks={ADMISSION_CHECK: None}),
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[kueue, manager.admission_check, *platform.waits]),
    )


def build_worker(cfg: config.PlatformConfig, platform: K8sPlatform, kueue: Kueue) -> None:
    """The identity the manager uses on this worker; its kubeconfig is the secret output :data:`KUBECONFIG_OUTPUT`."""
    cloud = platform.cloud
    server = cfg.fleet.api_server or cloud.api_server
    if server is None:  # refused by the config on cloud: existing; EKS / GKE layers always set it
        raise ValueError("fleet worker: no API server URL (fleet.apiServer)")
    access = MultiKueueWorkerAccess(
        "multikueue-worker",
        MultiKueueWorkerAccessArgs(cluster=cloud.cluster_name, server=server),
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[kueue, *platform.waits]),
    )
    pulumi.export(KUBECONFIG_OUTPUT, access.kubeconfig)
    pulumi.export(TEAMS_OUTPUT, [t.name for t in cfg.teams])
