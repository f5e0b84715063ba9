"""GPU operator (MIG, time-slicing), PriorityClasses, GPU alerts - the same on every cloud.

Also the node labels every cloud's GPU nodes carry (:func:`pool_node_labels`): the cloud layers
stamp them on Karpenter NodePools, EKS / GKE node groups, and an ``existing`` cluster's admin
puts them on the nodes, so the GPU operator picks each node's MIG / time-slicing config.
"""

from __future__ import annotations

import pulumi

from catalog import conventions as cv
from catalog import gpus as catalog
from components.k8s.gpu_monitoring import GpuMonitoring
from components.k8s.gpu_operator import GpuOperator, GpuOperatorArgs, MigLayout
from components.k8s.monitoring import RELEASE_LABEL
from components.k8s.neuron import NeuronArgs, NeuronDevicePlugin
from components.k8s.scheduling import PriorityClasses
from components.k8s.training import TrainingControllers
from infra import config
from infra.layers.context import CloudLayer

GPU_TAINT = {"key": cv.GPU_TAINT_KEY, "value": cv.GPU_TAINT_VALUE, "effect": cv.GPU_TAINT_EFFECT}
NEURON_TAINT = {"key": catalog.NEURON_TAINT_KEY, "value": "true", "effect": cv.GPU_TAINT_EFFECT}
GPU_OPERATOR_OPERANDS_LABEL = "nvidia.com/gpu.deploy.operands"
"""``false`` on a node keeps every GPU-operator operand off it (the operator's master switch, NVIDIA GPU operator
docs, getting-started "Operands": https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html#operands)."""
BOTTLEROCKET_SKIPPED_OPERANDS = ("device-plugin", "mig-manager")


def time_slicing_entry(pool: config.GpuPoolConfig) -> str | None:
    """Name of the pool's device-plugin config entry, or ``None`` without time-slicing."""
    return pool.name if pool.time_slicing_replicas else None


def pool_node_labels(cfg: config.PlatformConfig, pool: config.GpuPoolConfig) -> dict[str, str]:
    """Labels on a pool's nodes: pool, purpose, GPU model, and the MIG / device-plugin config to apply."""
    labels = {
        cv.POOL_LABEL: pool.name,
        cv.PURPOSE_LABEL: pool.purpose,
        cv.GPU_MODEL_LABEL: cfg.pool_gpu(pool).key,
    }
    if cfg.pool_gpu(pool).is_neuron:
        # Trainium / Inferentia: no NVIDIA device; the GPU operator stays off (its operands also lack
        # the Neuron taint's toleration), the Neuron device plugin serves the node
        labels[GPU_OPERATOR_OPERANDS_LABEL] = "false"
        return labels
    if pool.mig_profile:
        labels[cv.MIG_CONFIG_LABEL] = catalog.mig_config_name(pool.mig_profile)
    entry = time_slicing_entry(pool)
    if entry:
        labels[cv.DEVICE_PLUGIN_CONFIG_LABEL] = entry
    if cfg.cloud == "aws" and pool.ami_family == "bottlerocket":
        # Bottlerocket's NVIDIA variants ship their own device plugin: keep the operator's off
        for operand in BOTTLEROCKET_SKIPPED_OPERANDS:
            labels[cv.GPU_OPERATOR_DEPLOY_LABEL.format(operand=operand)] = "false"
    return labels


def neuron_instance_types(cfg: config.PlatformConfig) -> list[str]:
    """Instance types of the Trainium / Inferentia pools (the Neuron device plugin's node affinity)."""
    if cfg.cloud == "gcp":
        return []
    names: set[str] = set()
    for pool in cfg.gpu_pools:
        model = cfg.pool_gpu(pool)
        if not model.is_neuron:
            continue
        if pool.instance_types:
            names.update(pool.instance_types)
        else:  # every type of the model: on a cluster you bring the nodes may be of any of them
            names.update(n.name for n in (cfg.pool_node_types(pool) if cfg.cloud == "aws" else catalog.node_types("aws", gpu=model.key)))
    return sorted(names)


def operator_enabled(cfg: config.PlatformConfig) -> bool:
    """Whether the GPU operator is installed: :attr:`infra.config.PlatformConfig.gpu_operator_enabled`."""
    return cfg.gpu_operator_enabled


def operator_args(cfg: config.PlatformConfig, cloud: CloudLayer) -> GpuOperatorArgs:
    install_driver = config.effective(cfg.gpu_operator.driver, "gpuOperator.driver")
    # a preinstalled driver outside the chart's default path (GKE): the toolkit goes next to it
    host_driver_dir = None if install_driver else (getattr(cloud, "extras", None) or {}).get("host_driver_dir")
    return GpuOperatorArgs(
        install_driver=install_driver,
        # the EKS NVIDIA AMIs ship the container toolkit with the driver; on a cluster
        # you bring the operator configures the runtime itself
        install_toolkit=install_driver or cloud.cloud == "existing" or host_driver_dir is not None,
        mig_strategy=cfg.gpu_operator.mig_strategy,
        time_slicing={p.name: p.time_slicing_replicas for p in cfg.gpu_pools if p.time_slicing_replicas},
        mig_layouts=[MigLayout(gpu=cfg.pool_gpu(p).key, profile=p.mig_profile) for p in cfg.gpu_pools if p.mig_profile],
        service_monitor_labels={**RELEASE_LABEL, **cfg.gpu_operator.monitoring_labels},
        service_monitor=getattr(cloud, "extras", {}).get("monitoring_release") is not None,
        host_driver_dir=host_driver_dir,
    )


def build_priorities(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    """PriorityClasses first: pods naming one are rejected until it exists, so every later workload waits."""
    if "priority_classes" in cloud.extras:
        return
    opts = pulumi.ResourceOptions(depends_on=list(cloud.depends_on)) if cloud.depends_on else None
    priorities = PriorityClasses("priorities", k8s_provider=cloud.k8s_provider, opts=opts)
    cloud.depends_on.append(priorities)
    cloud.extras["priority_classes"] = priorities


def build(cfg: config.PlatformConfig, cloud: CloudLayer) -> None:
    build_priorities(cfg, cloud)
    opts = pulumi.ResourceOptions(depends_on=list(cloud.depends_on)) if cloud.depends_on else None
    if any(p.purpose == "training" for p in cfg.gpu_pools):
        # multi-node jobs are JobSets (and LeaderWorkerSets); Kueue's integrations queue them
        cloud.extras["training_controllers"] = TrainingControllers(
            "training", replicas=config.effective(cfg.cluster.controller_replicas, "cluster.controllerReplicas"), k8s_provider=cloud.k8s_provider,
            opts=pulumi.ResourceOptions(depends_on=list(cloud.depends_on)),  # PriorityClasses included
        )
    neuron_types = neuron_instance_types(cfg)
    if neuron_types:
        cloud.extras["neuron"] = NeuronDevicePlugin(
            "neuron",
            NeuronArgs(instance_types=neuron_types, cluster_version=cfg.cluster.version if cfg.cloud == "aws" else None),
            k8s_provider=cloud.k8s_provider,
            opts=opts,
        )
    only_neuron = bool(cfg.gpu_pools) and all(cfg.pool_gpu(p).is_neuron for p in cfg.gpu_pools)
    if not operator_enabled(cfg) or only_neuron:  # no NVIDIA GPU to serve
        return
    release = cloud.extras.get("monitoring_release")
    # the DCGM ServiceMonitor the operator creates needs the chart's CRDs: install the operator after it
    operator_opts = pulumi.ResourceOptions(depends_on=[*cloud.depends_on, release]) if release is not None else opts
    operator = GpuOperator("gpu-operator", operator_args(cfg, cloud), k8s_provider=cloud.k8s_provider, opts=operator_opts)
    if release is None:
        return  # no prometheus-operator CRDs in this plan: the managed backend gets its rules elsewhere
    GpuMonitoring(
        "gpu-monitoring",
        k8s_provider=cloud.k8s_provider,
        create_namespace=False,
        rule_labels={**RELEASE_LABEL, **cfg.gpu_operator.monitoring_labels},
        opts=pulumi.ResourceOptions(depends_on=[operator, release, *cloud.depends_on]),
    )
