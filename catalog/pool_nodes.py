"""What a GPU pool's nodes carry, on every cloud: labels, taints, and the tolerations that match them.

One place for the facts both sides of the cloud -> Kubernetes contract use: the cloud layers stamp
:func:`node_labels` and :func:`taint` on Karpenter NodePools, EKS node groups and GKE node pools (an
``existing`` cluster's admin puts them on the nodes, docs/gpu.md); the Kubernetes layer schedules onto
them with :func:`toleration` and the pool label (Kueue ResourceFlavors, notebook profiles, templates).
The GPU operator picks each node's MIG / time-slicing config by these labels.

The decoder of pools from resource inputs is :mod:`catalog.pools`.
"""

from __future__ import annotations

from typing import Literal

from catalog import conventions as cv
from catalog import gpus

GPU_TAINT: dict[str, str] = {"key": cv.GPU_TAINT_KEY, "value": cv.GPU_TAINT_VALUE, "effect": cv.GPU_TAINT_EFFECT}
NEURON_TAINT: dict[str, str] = {"key": gpus.NEURON_TAINT_KEY, "value": "true", "effect": cv.GPU_TAINT_EFFECT}
GPU_TOLERATION: dict[str, str] = {"key": cv.GPU_TAINT_KEY, "operator": "Exists", "effect": cv.GPU_TAINT_EFFECT}
NEURON_TOLERATION: dict[str, str] = {"key": gpus.NEURON_TAINT_KEY, "operator": "Exists", "effect": cv.GPU_TAINT_EFFECT}
GPU_OPERATOR_OPERANDS_LABEL = "nvidia.com/gpu.deploy.operands"
"""``false`` on a node keeps every GPU-operator operand off it (the operator's master switch, NVIDIA GPU operator
docs, getting-started "Operands": https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html#operands)."""
BOTTLEROCKET_SKIPPED_OPERANDS = ("device-plugin", "mig-manager")
"""Bottlerocket's NVIDIA variants ship their own device plugin: the operator's stays off those nodes."""

MigStrategy = Literal["single", "mixed"]
FORCED_MIG_STRATEGY: dict[str, MigStrategy] = {"gcp": "single"}
"""Clouds that decide how MIG slices appear: GKE partitions MIG GPUs itself and advertises each slice as
``nvidia.com/gpu`` (node label ``cloud.google.com/gke-gpu-partition-size``), never ``nvidia.com/mig-<profile>``."""


def forced_mig_strategy(cloud: str) -> MigStrategy | None:
    """The MIG strategy ``cloud`` imposes, or ``None`` where ``gpuOperator.migStrategy`` decides."""
    return FORCED_MIG_STRATEGY.get(cloud)


def mig_strategy(cloud: str, configured: MigStrategy) -> MigStrategy:
    """How MIG slices appear on ``cloud`` given the configured strategy."""
    return forced_mig_strategy(cloud) or configured


def device_plugin_entry(pool: str, time_slicing_replicas: int | None) -> str | None:
    """A pool's entry in the GPU operator's device-plugin config (named after the pool), or ``None`` without
    time-slicing."""
    return pool if time_slicing_replicas else None


def taint(model: gpus.GpuModel) -> dict[str, str]:
    """The taint on a pool's nodes: Trainium / Inferentia nodes carry the Neuron one, the rest the NVIDIA one."""
    return dict(NEURON_TAINT if model.is_neuron else GPU_TAINT)


def toleration(model: gpus.GpuModel) -> dict[str, str]:
    """The toleration matching :func:`taint`."""
    return dict(NEURON_TOLERATION if model.is_neuron else GPU_TOLERATION)


def node_labels(
    *,
    pool: str,
    purpose: str,
    model: gpus.GpuModel,
    mig_profile: str | None = None,
    device_plugin_entry: str | None = None,
    bottlerocket: bool = False,
) -> dict[str, str]:
    """Labels on a pool's nodes: pool, purpose, GPU model, and the MIG / device-plugin config to apply.

    :param device_plugin_entry: the GPU operator's device-plugin config entry (time-slicing), if any.
    :param bottlerocket: the nodes run Bottlerocket (its own device plugin: the operator's stays off).
    """
    labels = {cv.POOL_LABEL: pool, cv.PURPOSE_LABEL: purpose, cv.GPU_MODEL_LABEL: model.key}
    if model.is_neuron:
        # Trainium / Inferentia: no NVIDIA device; the GPU operator stays off (its operands also lack
        # the Neuron taint's toleration), the Neuron device plugin serves the node
        labels[GPU_OPERATOR_OPERANDS_LABEL] = "false"
        return labels
    if mig_profile:
        labels[cv.MIG_CONFIG_LABEL] = gpus.mig_config_name(mig_profile)
    if device_plugin_entry:
        labels[cv.DEVICE_PLUGIN_CONFIG_LABEL] = device_plugin_entry
    if bottlerocket:
        for operand in BOTTLEROCKET_SKIPPED_OPERANDS:
            labels[cv.GPU_OPERATOR_DEPLOY_LABEL.format(operand=operand)] = "false"
    return labels
