"""NVIDIA GPU operator (cloud-agnostic): driver/toolkit, device plugin with time-slicing, MIG manager, DCGM.

The component generates two ConfigMaps the operator reads instead of its defaults:

* a **device-plugin config** with a ``default`` entry plus one entry per time-sliced node group;
  a node picks its entry by the label ``nvidia.com/device-plugin.config=<entry>``;
* a **mig-parted config** with ``all-disabled`` plus exactly one ``all-<profile>`` entry per MIG
  profile in use, each listing the mig-devices for the GPU models (by PCI device id) that use it;
  a node picks its entry by the label ``nvidia.com/mig.config=all-<profile>``.

Both are validated against the GPU catalog when the component is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from catalog import conventions as cv
from catalog import gpus as catalog
from components.base import Component
from components.k8s.helm import pinned_release

CHART = "gpu-operator"
REPOSITORY = "https://helm.ngc.nvidia.com/nvidia"
CHART_VERSION = "v26.7.0"
"""Pinned chart version (the upstream values / CRD pin; a test compares them)."""
DEVICE_PLUGIN_CONFIG = "ml-platform-device-plugin-config"
MIG_PARTED_CONFIG = "ml-platform-mig-parted-config"
MIG_DISABLED = "all-disabled"
DEFAULT_DEVICE_PLUGIN_ENTRY = "default"
_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class MigLayout:
    """GPUs of model ``gpu`` cut into ``profile`` instances (``1g.10gb``)."""

    gpu: str
    profile: str


@dataclass(frozen=True)
class GpuOperatorArgs:
    """Arguments of :class:`GpuOperator`.

    :param install_driver: Install the NVIDIA driver (off where the node image ships it).
    :param install_toolkit: Install the container toolkit (off where the node image ships it).
    :param mig_strategy: ``single`` (MIG slices appear as ``nvidia.com/gpu``) or ``mixed``
        (``nvidia.com/mig-<profile>``).
    :param time_slicing: Device-plugin entry name -> replicas per GPU (>= 1).
    :param mig_layouts: The MIG layouts in use; each must exist in the GPU catalog.
    :param namespace: Namespace of the operator (created here).
    :param gpu_tolerations: Tolerations for the operands on GPU nodes; default: the platform GPU taint.
    :param service_monitor_labels: Extra labels on the DCGM exporter ServiceMonitor (for a Prometheus selector).
    :param host_driver_dir: Where a driver the node image installed lives, when not at the chart's
        default (GKE: ``/home/kubernetes/bin/nvidia``). The toolkit is installed there too, as
        NVIDIA's GKE guide has it ("Using the Google driver installer"), and the namespace gets a
        ResourceQuota admitting ``system-node-critical`` pods (GKE admits pods of the critical
        priority classes outside ``kube-system`` only with one).
    """

    install_driver: bool
    install_toolkit: bool
    mig_strategy: Literal["single", "mixed"] = "mixed"
    time_slicing: Mapping[str, int] = field(default_factory=dict)
    mig_layouts: Sequence[MigLayout] = ()
    namespace: str = cv.NS_GPU_OPERATOR
    gpu_tolerations: Sequence[Mapping[str, str]] = field(
        default_factory=lambda: [{"key": cv.GPU_TAINT_KEY, "operator": "Exists", "effect": cv.GPU_TAINT_EFFECT}]
    )
    service_monitor_labels: Mapping[str, str] = field(default_factory=dict)
    host_driver_dir: str | None = None
    service_monitor: bool = True
    """Create the DCGM exporter's ServiceMonitor (only where the prometheus-operator CRDs are installed)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_slicing", dict(self.time_slicing))
        object.__setattr__(self, "mig_layouts", tuple(self.mig_layouts))
        object.__setattr__(self, "gpu_tolerations", tuple(dict(t) for t in self.gpu_tolerations))
        if self.host_driver_dir is not None and (self.install_driver or not self.host_driver_dir.startswith("/")):
            raise ValueError(
                "GpuOperatorArgs: host_driver_dir is the absolute path of a preinstalled driver (install_driver off)"
            )
        if self.mig_strategy not in ("single", "mixed"):
            raise ValueError(f"GpuOperatorArgs: mig_strategy must be single or mixed, got {self.mig_strategy!r}")
        for entry, replicas in self.time_slicing.items():
            if not _KEY.match(entry) or entry == DEFAULT_DEVICE_PLUGIN_ENTRY:
                raise ValueError(f"GpuOperatorArgs: time_slicing entry {entry!r} must be a lowercase name other than 'default'")
            if not isinstance(replicas, int) or replicas < 1:
                raise ValueError(f"GpuOperatorArgs: time_slicing[{entry!r}] replicas must be an integer >= 1, got {replicas!r}")
        for layout in self.mig_layouts:
            model = catalog.gpu_model(layout.gpu)
            if layout.profile not in model.mig_profiles:
                allowed = ", ".join(model.mig_profiles) or f"none ({model.key} has no MIG)"
                raise ValueError(f"GpuOperatorArgs: {layout.profile!r} is not a MIG profile of {model.key}; allowed: {allowed}")


def device_plugin_config(strategy: str, time_slicing: Mapping[str, int]) -> dict[str, str]:
    """ConfigMap data for the device plugin: ``default`` plus one time-slicing entry per name."""
    mig = strategy
    data = {DEFAULT_DEVICE_PLUGIN_ENTRY: yaml.safe_dump({"version": "v1", "flags": {"migStrategy": mig}}, sort_keys=False)}
    for entry, replicas in sorted(time_slicing.items()):
        doc = {
            "version": "v1",
            "flags": {"migStrategy": mig},
            "sharing": {
                "timeSlicing": {
                    "renameByDefault": False,
                    "failRequestsGreaterThanOne": True,
                    "resources": [{"name": cv.GPU_RESOURCE, "replicas": replicas}],
                }
            },
        }
        data[entry] = yaml.safe_dump(doc, sort_keys=False)
    return data


def mig_parted_config(layouts: Sequence[MigLayout]) -> dict[str, Any]:
    """The mig-parted document: ``all-disabled`` plus one ``all-<profile>`` per profile in ``layouts``."""
    configs: dict[str, list[dict[str, Any]]] = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    for layout in sorted(set(layouts), key=lambda m: (m.profile, m.gpu)):
        model = catalog.gpu_model(layout.gpu)
        entries = configs.setdefault(catalog.mig_config_name(layout.profile), [])
        entries.append(
            {
                "device-filter": list(model.pci_device_ids),
                "devices": "all",
                "mig-enabled": True,
                "mig-devices": {layout.profile: model.mig_profiles[layout.profile]},
            }
        )
    return {"version": "v1", "mig-configs": configs}


def helm_values(args: GpuOperatorArgs, *, device_plugin_cm: str | None, mig_cm: str | None) -> dict[str, Any]:
    """The chart values (every key exists in the chart's ``values.yaml``; a test checks it)."""
    tolerations = [dict(t) for t in args.gpu_tolerations]
    values: dict[str, Any] = {
        "driver": {"enabled": args.install_driver},
        "toolkit": {"enabled": args.install_toolkit},
        "mig": {"strategy": args.mig_strategy},
        "daemonsets": {"tolerations": tolerations},
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
        "dcgmExporter": {
            "enabled": True,
            # honorLabels: keep DCGM's namespace / pod labels (the pod holding the GPU), not the exporter's,
            # so GPU alerts route to the owning team
            "serviceMonitor": {
                "enabled": args.service_monitor,
                "interval": "15s",
                "honorLabels": True,
                "additionalLabels": dict(args.service_monitor_labels),
            },
        },
        "migManager": {"enabled": True},
        "devicePlugin": {"enabled": True},
    }
    if device_plugin_cm:
        values["devicePlugin"]["config"] = {"create": False, "name": device_plugin_cm, "default": DEFAULT_DEVICE_PLUGIN_ENTRY}
    if mig_cm:
        values["migManager"]["config"] = {"create": False, "name": mig_cm, "default": MIG_DISABLED}
    if args.host_driver_dir:
        # NVIDIA's GKE guide (google-gke, "Using the Google driver installer"): driver and toolkit
        # under the node's writable /home/kubernetes/bin/nvidia; the toolkit reads containerd's
        # config from its file (GKE 1.33+ known issue); MIG changes need a node reboot there
        values["hostPaths"] = {"driverInstallDir": args.host_driver_dir}
        values["toolkit"] = {
            "enabled": True,
            "installDir": args.host_driver_dir,
            "env": [{"name": "RUNTIME_CONFIG_SOURCE", "value": "file"}],
        }
        values["migManager"]["env"] = [{"name": "WITH_REBOOT", "value": "true"}]
    return values


class GpuOperator(Component):
    """The NVIDIA GPU operator in its own namespace, with our device-plugin and mig-parted configs (the
    Kubernetes provider comes through ``opts``)."""

    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release
    device_plugin_config: k8s.core.v1.ConfigMap
    mig_parted_config: k8s.core.v1.ConfigMap

    def __init__(self, resource_name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:GpuOperator", resource_name, opts)
        name = resource_name
        labels = {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={
                "name": args.namespace,
                # the driver, toolkit and device plugin run privileged on the host
                "labels": {**labels, "pod-security.kubernetes.io/enforce": "privileged"},
            },
            opts=self.child_opts(),
        )
        ns = self.namespace.metadata["name"]
        needs: list[pulumi.Resource] = []
        if args.host_driver_dir:
            needs.append(
                k8s.core.v1.ResourceQuota(
                    f"{name}-critical-pods",
                    metadata={"name": "critical-pods", "namespace": ns, "labels": labels},
                    spec={
                        "hard": {"pods": "1000"},
                        "scopeSelector": {
                            "matchExpressions": [
                                {
                                    "operator": "In",
                                    "scopeName": "PriorityClass",
                                    "values": ["system-node-critical", "system-cluster-critical"],
                                }
                            ]
                        },
                    },
                    opts=self.child_opts(),
                )
            )
        self.device_plugin_config = k8s.core.v1.ConfigMap(
            f"{name}-device-plugin-config",
            metadata={"name": DEVICE_PLUGIN_CONFIG, "namespace": ns, "labels": labels},
            data=device_plugin_config(args.mig_strategy, args.time_slicing),
            opts=self.child_opts(),
        )
        self.mig_parted_config = k8s.core.v1.ConfigMap(
            f"{name}-mig-parted-config",
            metadata={"name": MIG_PARTED_CONFIG, "namespace": ns, "labels": labels},
            data={"config.yaml": yaml.safe_dump(mig_parted_config(args.mig_layouts), sort_keys=False)},
            opts=self.child_opts(),
        )
        self.release = pinned_release(
            name,
            release="gpu-operator",
            chart=CHART,
            version=CHART_VERSION,
            repo=REPOSITORY,
            namespace=ns,
            values=helm_values(args, device_plugin_cm=DEVICE_PLUGIN_CONFIG, mig_cm=MIG_PARTED_CONFIG),
            timeout=900,  # node feature discovery and validators take minutes on a fresh cluster
            opts=self.child_opts(depends_on=[self.device_plugin_config, self.mig_parted_config, *needs]),
        )
        self.publish(namespace_name=ns, release_name=self.release.name)
