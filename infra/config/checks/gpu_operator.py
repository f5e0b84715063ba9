"""The NVIDIA GPU operator: who installs the driver, the labels its monitoring objects carry."""

from __future__ import annotations

import re
from collections.abc import Iterator

from infra.config.base import DNS_SUBDOMAIN, LABEL_NAME, LABEL_VALUE, NAMESPACE, Problem
from infra.config.models import PlatformConfig


def gpu_operator_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":"
    if cfg.cloud == "gcp" and cfg.gpu_operator.driver:
        # GKE's node image is Container-Optimized OS; NVIDIA's GKE guide supports operator-installed
        # drivers (its driver manager) only on Ubuntu node images, which this platform does not
        # build. GKE installs the driver itself (gpu_driver_installation_config) and the operator
        # runs on top of it.
        yield (
            ns + "gpuOperator.driver",
            "true is not supported on cloud 'gcp': GKE installs the NVIDIA driver on its Container-Optimized OS "
            "nodes, where the GPU operator cannot; allowed: false or unset",
        )
    elif cfg.gpu_operator.driver and not cfg.gpu_operator_enabled:
        # on gcp it would also turn GKE's driver installation off: GPU nodes without a driver
        yield (
            ns + "gpuOperator.driver",
            f"true has the GPU operator install the driver, but the operator is off on cloud {cfg.cloud!r} "
            "(gpuOperator.enabled); set gpuOperator.enabled: true, or drop gpuOperator.driver",
        )
    for key, value in cfg.gpu_operator.monitoring_labels.items():
        name = key.rsplit("/", 1)[-1]
        if (
            not re.match(LABEL_NAME, name)
            or len(name) > 63
            or ("/" in key and not re.match(DNS_SUBDOMAIN, key.rsplit("/", 1)[0]))
        ):
            yield (
                ns + f"gpuOperator.monitoringLabels.{key}",
                f"{key!r} is not a Kubernetes label key ([prefix/]name, name up to 63 of [A-Za-z0-9_.-])",
            )
        if len(value) > 63 or not re.match(LABEL_VALUE, value):
            yield (
                ns + f"gpuOperator.monitoringLabels.{key}",
                f"{value!r} is not a Kubernetes label value (up to 63 of [A-Za-z0-9_.-], alphanumeric at both ends)",
            )
