"""GPUDirect on GKE: the cluster's extra pod networks and the NCCL plugin installers of A3 Mega / A3 Ultra / A4 nodes.

* One ``GKENetworkParamSet`` (the VPC, its subnet and the device mode) and one ``Network`` (``type: Device``)
  per extra NIC (:class:`components.gcp.gpu_network.GpuNetworkAttachment`); a pod asks for them by name in
  its ``networking.gke.io/interfaces`` annotation. GKE serves both kinds once the cluster has
  multi-networking (``enable_multi_networking``). Shapes from GoogleCloudPlatform/cluster-toolkit v1.95.0
  ``modules/scheduler/gke-cluster/templates/{gke-network-paramset,network-object}.yaml.tftpl``; schemas from
  GoogleCloudPlatform/gke-networking-api ``config/crds`` (commit 34c617f).
* ``tcpxo`` (A3 Mega): the NCCL GPUDirect-TCPXO plugin installer DaemonSet (it loads the ``import-helper`` module,
  exposes the NICs' aperture devices and copies the plugin next to GKE's NVIDIA libraries) and the NRI device
  injector DaemonSet that hands those devices to the TCPXO daemon sidecar of a workload (GoogleCloudPlatform/
  container-engine-accelerators ``gpudirect-tcpxo/nccl-tcpxo-installer.yaml`` and
  ``nri_device_injector/nri-device-injector.yaml`` at 992db81).
* ``rdma`` (A3 Ultra / A4): the NCCL gIB plugin installer DaemonSet (container-engine-accelerators
  ``gpudirect-rdma/nccl-rdma-installer.yaml`` at 992db81).

Each DaemonSet runs only on nodes of its accelerator types (``cloud.google.com/gke-accelerator``), tolerates
every taint (GPU nodes are tainted) and is pinned (a tag of Google's GPUDirect images, digests where upstream has them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component
from components.gcp.gpu_network import GpuNetworkAttachment

NAMESPACE = cv.NS_GPUDIRECT
"""Upstream installs into kube-system; a namespace of its own keeps the privileged pods where the security policy
allows them (mlp-sec-019) and Pod Security admits them (``privileged``)."""
NETWORKING_GROUP = "networking.gke.io"
PAUSE_IMAGE = "gke.gcr.io/pause:3.8@sha256:880e63f94b145e46f1b1082bb71b85e21f16b99b180b9996407d61240ceb9830"
TCPXO_PLUGIN_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/nccl-plugin-gpudirecttcpx-dev:v1.0.15"
TCPXO_HOST_PREP_IMAGE = "ubuntu:24.04"
"""Runs ``nsenter`` into the host (upstream names the unpinned ``ubuntu``; a release tag here)."""
NRI_INJECTOR_IMAGE = (
    "gcr.io/gke-release/nri-device-injector@sha256:6e79483d52abdc28454bf186320b10a56b0f117a10e8d65d5c74dbb821a76970"
)
GIB_PLUGIN_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.1.1"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
GKE_LIB_DIR = "/home/kubernetes/bin"
"""Where GKE's NVIDIA driver installer puts the libraries (``nvidia/lib64``) the NCCL plugins are copied next to."""

_TCPXO_HOST_PREP = """\
/sbin/iptables -I INPUT -p tcp -m tcp -j ACCEPT && modprobe import-helper
mkdir -p /dev/aperture_devices
lspci -nn -D | grep '1ae0:0084' | while read -r bdf _; do
  target=/dev/aperture_devices/$bdf
  mkdir -p "$target"; umount -R "$target" 2>/dev/null || true
  mount --bind "$(readlink -f /sys/bus/pci/devices/$bdf)" "$target"
done
if [ -d /dev/aperture_devices ]; then chmod -R a+r /dev/aperture_devices/; chmod a+rw /dev/aperture_devices/*/resource* || true; fi
"""
"""TCPXO host preparation, run in the host's namespaces: accept the NICs' TCP traffic, load the import helper and
expose each GPUDirect NIC's aperture device (PCI id 1ae0:0084) under /dev/aperture_devices (upstream installer)."""
_TCPXO_INSTALL = """\
set -ex
/scripts/container_entry.sh install --install-nccl
mkdir -p /usr/local/nvidia/lib64
cp -r /var/lib/tcpxo/lib64/. /usr/local/nvidia/lib64
"""
_GIB_INSTALL = """\
set -ex
/scripts/container_entry.sh install
cp -r /var/lib/gib/lib64/. /usr/local/home/kubernetes/bin/nvidia/lib64
cp -r /var/lib/gib/. /usr/local/home/kubernetes/bin/gib
"""


@dataclass(frozen=True)
class GpuDirectArgs:
    """Arguments of :class:`GpuDirect`.

    :param attachments: ``tcpxo`` / ``rdma`` -> the extra NICs (:attr:`components.gcp.gpu_network.GpuNetworks.attachments`).
    :param accelerators: ``tcpxo`` / ``rdma`` -> the GKE accelerator types of the pools of that layout (the
        installers' node affinity).
    """

    attachments: Mapping[str, Sequence[GpuNetworkAttachment]]
    accelerators: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.attachments or set(self.attachments) - {"tcpxo", "rdma"}:
            raise ValueError(f"GpuDirect: attachments must be keyed by tcpxo / rdma, got {sorted(self.attachments)}")
        for layout in self.attachments:
            if not self.accelerators.get(layout):
                raise ValueError(f"GpuDirect: no accelerator type for the {layout} installer")
        names = [a.k8s_name for nics in self.attachments.values() for a in nics]
        if len(set(names)) != len(names):
            raise ValueError(f"GpuDirect: network names must be unique, got {names}")


class GpuDirect(Component):
    """The GKE ``Network`` objects of the extra NICs and the NCCL plugin installers (the Kubernetes provider via ``opts``)."""

    networks: dict[str, k8s.apiextensions.CustomResource]
    """Kubernetes network name -> its ``Network``."""
    installers: dict[str, k8s.apps.v1.DaemonSet]

    def __init__(self, resource_name: str, args: GpuDirectArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:GpuDirect", resource_name, opts)
        networks: dict[str, k8s.apiextensions.CustomResource] = {}
        for nics in args.attachments.values():
            for nic in nics:
                params = k8s.apiextensions.CustomResource(
                    f"{resource_name}-{nic.k8s_name}-params",
                    api_version=f"{NETWORKING_GROUP}/v1",
                    kind="GKENetworkParamSet",
                    metadata={"name": nic.k8s_name, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                    spec={"vpc": nic.network, "vpcSubnet": nic.subnetwork, "deviceMode": nic.device_mode},
                    opts=self.child_opts(),
                )
                networks[nic.k8s_name] = k8s.apiextensions.CustomResource(
                    f"{resource_name}-{nic.k8s_name}",
                    api_version=f"{NETWORKING_GROUP}/v1",
                    kind="Network",
                    metadata={"name": nic.k8s_name, "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
                    spec={
                        "type": "Device",
                        "parametersRef": {"group": NETWORKING_GROUP, "kind": "GKENetworkParamSet", "name": nic.k8s_name},
                    },
                    opts=self.child_opts(depends_on=[params]),
                )
        self._namespace = k8s.core.v1.Namespace(
            f"{resource_name}-namespace",
            metadata={
                "name": NAMESPACE,
                "labels": {cv.MANAGED_BY_LABEL: cv.MANAGED_BY, "pod-security.kubernetes.io/enforce": "privileged"},
            },
            opts=self.child_opts(),
        )
        installers: dict[str, k8s.apps.v1.DaemonSet] = {}
        if "tcpxo" in args.attachments:
            accelerators = list(args.accelerators["tcpxo"])
            installers["nccl-tcpxo-installer"] = self._daemonset("nccl-tcpxo-installer", accelerators, _tcpxo_pod())
            installers["device-injector"] = self._daemonset("device-injector", accelerators, _nri_pod())
        if "rdma" in args.attachments:
            installers["nccl-rdma-installer"] = self._daemonset(
                "nccl-rdma-installer", list(args.accelerators["rdma"]), _gib_pod()
            )
        self.publish(networks=networks, installers=installers)

    def _daemonset(self, app: str, accelerators: list[str], pod: dict[str, Any]) -> k8s.apps.v1.DaemonSet:
        labels = {"k8s-app": app}
        return k8s.apps.v1.DaemonSet(
            f"{self._name}-{app}",
            metadata={"name": app, "namespace": NAMESPACE, "labels": {**labels, cv.MANAGED_BY_LABEL: cv.MANAGED_BY}},
            spec={
                "selector": {"matchLabels": labels},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "priorityClassName": "system-node-critical",
                        "affinity": {
                            "nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [
                                        {
                                            "matchExpressions": [
                                                {"key": ACCELERATOR_LABEL, "operator": "In", "values": sorted(accelerators)}
                                            ]
                                        }
                                    ]
                                }
                            }
                        },
                        "tolerations": [{"operator": "Exists"}],
                        "hostNetwork": True,
                        "hostPID": True,
                        **pod,
                    },
                },
            },
            opts=self.child_opts(depends_on=[self._namespace]),
        )


def _pause() -> list[dict[str, Any]]:
    return [{"name": "pause", "image": PAUSE_IMAGE}]


def _tcpxo_pod() -> dict[str, Any]:
    privileged = {"privileged": True}
    return {
        "volumes": [
            {"name": "var-lib", "hostPath": {"path": "/var/lib"}},
            {"name": "library-dir-host", "hostPath": {"path": GKE_LIB_DIR}},
        ],
        "initContainers": [
            {
                "name": "pre-installation",
                "image": TCPXO_HOST_PREP_IMAGE,
                "securityContext": privileged,
                "command": ["nsenter", "-at", "1", "--", "bash", "-c", _TCPXO_HOST_PREP],
            },
            {
                "name": "nccl-tcpxo-installer",
                "image": TCPXO_PLUGIN_IMAGE,
                "resources": {"requests": {"cpu": "150m"}},
                "securityContext": privileged,
                "volumeMounts": [
                    {"name": "var-lib", "mountPath": "/var/lib"},
                    {"name": "library-dir-host", "mountPath": "/usr/local"},
                ],
                "command": ["/bin/sh", "-c", _TCPXO_INSTALL],
            },
        ],
        "containers": _pause(),
    }


def _nri_pod() -> dict[str, Any]:
    return {
        "volumes": [{"name": "nri", "hostPath": {"path": "/var/run/nri"}}, {"name": "dev", "hostPath": {"path": "/dev"}}],
        "containers": [
            {
                "name": "device-injector",
                "image": NRI_INJECTOR_IMAGE,
                "resources": {"requests": {"cpu": "150m"}},
                "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "dev", "mountPath": "/dev"}, {"name": "nri", "mountPath": "/var/run/nri"}],
            }
        ],
    }


def _gib_pod() -> dict[str, Any]:
    return {
        "volumes": [
            {"name": "library-dir-host", "hostPath": {"path": f"{GKE_LIB_DIR}/nvidia/lib64", "type": "DirectoryOrCreate"}},
            {"name": "gib", "hostPath": {"path": f"{GKE_LIB_DIR}/gib"}},
        ],
        "initContainers": [
            {
                "name": "nccl-rdma-installer",
                "image": GIB_PLUGIN_IMAGE,
                "resources": {"requests": {"cpu": "150m"}},
                "securityContext": {"privileged": True},
                "volumeMounts": [
                    {"name": "library-dir-host", "mountPath": "/usr/local/home/kubernetes/bin/nvidia/lib64"},
                    {"name": "gib", "mountPath": "/usr/local/home/kubernetes/bin/gib"},
                ],
                "command": ["/bin/sh", "-c", _GIB_INSTALL],
            }
        ],
        "containers": _pause(),
    }
