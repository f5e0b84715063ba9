"""GPU operator (MIG, time-slicing), PriorityClasses, GPU alerts - the same on every cloud.

The node labels and taints every cloud's GPU nodes carry are :mod:`catalog.pool_nodes`' (the cloud layers
stamp them; an ``existing`` cluster's admin puts them on the nodes), so the GPU operator picks each node's
MIG / time-slicing config. What differs by cloud (driver and toolkit on the image, the driver's directory)
arrives as facts of the :class:`~infra.layers.context.CloudLayer`.
"""

from __future__ import annotations

import pulumi

from catalog import gpus as catalog
from components.k8s.gpu_monitoring import GpuMonitoring, GpuMonitoringArgs
from components.k8s.gpu_operator import GpuOperator, GpuOperatorArgs, MigLayout
from components.k8s.monitoring import RELEASE_LABEL
from components.k8s.neuron import NeuronDevicePlugin, NeuronDevicePluginArgs
from components.k8s.scheduling import PriorityClasses, PriorityClassesArgs
from components.k8s.training import TrainingControllers, TrainingControllersArgs
from infra import config
from infra.layers.context import CloudLayer
from infra.layers.k8s_context import K8sPlatform


def neuron_instance_types(cfg: config.PlatformConfig) -> list[str]:
    """Instance types of the Trainium / Inferentia pools (the Neuron device plugin's node affinity).

    Without ``instanceTypes``, every EC2 type of the model (Trainium / Inferentia exist only there): on a
    cluster you bring the nodes may be of any of them."""
    names: set[str] = set()
    for pool in cfg.gpu_pools:
        model = cfg.pool_gpu(pool)
        if model.is_neuron:
            names.update(pool.instance_types or [n.name for n in catalog.node_types("aws", gpu=model.key)])
    return sorted(names)


def operator_enabled(cfg: config.PlatformConfig) -> bool:
    """Whether the GPU operator is installed: :attr:`infra.config.PlatformConfig.gpu_operator_enabled`."""
    return cfg.gpu_operator_enabled


def operator_args(cfg: config.PlatformConfig, cloud: CloudLayer, *, service_monitor: bool = True) -> GpuOperatorArgs:
    install_driver = config.effective(cfg.gpu_operator.driver, "gpuOperator.driver")
    # a preinstalled driver outside the chart's default path (GKE): the toolkit goes next to it
    host_driver_dir = None if install_driver else cloud.host_driver_dir
    return GpuOperatorArgs(
        install_driver=install_driver,
        # the EKS NVIDIA AMIs ship the container toolkit with the driver; elsewhere the operator
        # configures the runtime itself
        install_toolkit=install_driver or not cloud.toolkit_preinstalled or host_driver_dir is not None,
        mig_strategy=cfg.gpu_operator.mig_strategy,
        time_slicing={p.name: p.time_slicing_replicas for p in cfg.gpu_pools if p.time_slicing_replicas},
        mig_layouts=[MigLayout(gpu=cfg.pool_gpu(p).key, profile=p.mig_profile) for p in cfg.gpu_pools if p.mig_profile],
        service_monitor_labels={**RELEASE_LABEL, **cfg.gpu_operator.monitoring_labels},
        service_monitor=service_monitor,
        host_driver_dir=host_driver_dir,
    )


def build_priorities(cfg: config.PlatformConfig, cloud: CloudLayer) -> PriorityClasses:
    """PriorityClasses first: pods naming one are rejected until it exists, so every later workload waits."""
    return PriorityClasses(
        "priorities",
        PriorityClassesArgs(),
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=list(cloud.depends_on)),
    )


def build(cfg: config.PlatformConfig, platform: K8sPlatform) -> None:
    cloud = platform.cloud
    opts = pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=platform.waits)
    if any(p.purpose == "training" for p in cfg.gpu_pools):
        # multi-node jobs are JobSets (and LeaderWorkerSets); Kueue's integrations queue them
        replicas = config.effective(cfg.cluster.controller_replicas, "cluster.controllerReplicas")
        TrainingControllers("training", TrainingControllersArgs(replicas=replicas), opts=opts)
    neuron_types = neuron_instance_types(cfg)
    if neuron_types:
        NeuronDevicePlugin(
            "neuron", NeuronDevicePluginArgs(instance_types=neuron_types, cluster_version=cloud.cluster_version), opts=opts
        )
    only_neuron = bool(cfg.gpu_pools) and all(cfg.pool_gpu(p).is_neuron for p in cfg.gpu_pools)
    if not operator_enabled(cfg) or only_neuron:  # no NVIDIA GPU to serve
        return
    release = platform.monitoring_release
    # the DCGM ServiceMonitor the operator creates needs the chart's CRDs: install the operator after it
    operator = GpuOperator(
        "gpu-operator",
        operator_args(cfg, cloud, service_monitor=release is not None),
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[*platform.waits, *([release] if release else [])]),
    )
    if release is None:
        return  # no prometheus-operator CRDs in this plan: the managed backend gets its rules elsewhere
    GpuMonitoring(
        "gpu-monitoring",
        GpuMonitoringArgs(create_namespace=False, rule_labels={**RELEASE_LABEL, **cfg.gpu_operator.monitoring_labels}),
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[operator, release, *platform.waits]),
    )
