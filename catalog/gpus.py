"""GPU catalog: the GPU models and the AWS / GCP node shapes that carry them.

Prices are on-demand list prices per node-hour in the reference regions (AWS ``us-east-1``,
GCP ``us-central1``, Linux) as published on the providers' pricing pages; ``PRICE_DATE`` says
when they were recorded. Spot discounts are rough long-run averages, good for a budget
estimate and nothing more. Refresh both before relying on the cost figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PRICE_DATE = "2025-07-01"
"""Date the on-demand list prices below were recorded (after AWS's June 2025 P4/P5 price cut)."""

REFERENCE_REGION = {"aws": "us-east-1", "gcp": "us-central1"}

Cloud = Literal["aws", "gcp"]


@dataclass(frozen=True)
class GpuModel:
    """One GPU model.

    :param key: Our name for the model, used in stack config (``gpu: A100-40GB``).
    :param memory_gib: Memory of one GPU.
    :param pci_device_ids: PCI device ids as NVIDIA's mig-parted config spells them in ``device-filter``.
    :param mig_profiles: MIG profile name -> how many instances of it fit one GPU (empty: no MIG).
    :param gcp_accelerator: The GKE ``guest_accelerator`` type, where GCP offers the model.
    """

    key: str
    memory_gib: int
    pci_device_ids: tuple[str, ...]
    mig_profiles: dict[str, int] = field(default_factory=dict)
    gcp_accelerator: str | None = None

    @property
    def supports_mig(self) -> bool:
        return bool(self.mig_profiles)


@dataclass(frozen=True)
class NodeType:
    """A node shape that carries GPUs: an EC2 instance type or a GCE machine type (+ accelerators).

    :param on_demand_usd_hour: On-demand list price of the whole node (GPUs included) per hour.
    :param spot_discount: Typical spot discount, 0..1 (0.6 means spot costs 40% of on-demand).
    """

    cloud: Cloud
    name: str
    gpu: str
    gpus: int
    vcpu: int
    memory_gib: int
    on_demand_usd_hour: float
    spot_discount: float

    @property
    def family(self) -> str:
        return self.name.split(".")[0] if self.cloud == "aws" else self.name.rsplit("-", 1)[0]

    def hourly_usd(self, *, spot: bool) -> float:
        """Expected price per node-hour, spot discount applied when ``spot``."""
        return self.on_demand_usd_hour * ((1.0 - self.spot_discount) if spot else 1.0)


_A100_40 = {"1g.5gb": 7, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1}
_X_80 = {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1}
_H200 = {"1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1}

GPU_MODELS: dict[str, GpuModel] = {
    m.key: m
    for m in (
        GpuModel("T4", 16, ("0x1EB810DE",), gcp_accelerator="nvidia-tesla-t4"),
        GpuModel("A10G", 24, ("0x223710DE",)),
        GpuModel("L4", 24, ("0x27B810DE",), gcp_accelerator="nvidia-l4"),
        GpuModel("L40S", 48, ("0x26B910DE",)),
        GpuModel("A100-40GB", 40, ("0x20B010DE",), dict(_A100_40), "nvidia-tesla-a100"),
        GpuModel("A100-80GB", 80, ("0x20B210DE",), dict(_X_80), "nvidia-a100-80gb"),
        GpuModel("H100-80GB", 80, ("0x233010DE",), dict(_X_80), "nvidia-h100-80gb"),
        GpuModel("H200-141GB", 141, ("0x233510DE",), dict(_H200)),
    )
}


def _aws(name: str, gpu: str, gpus: int, vcpu: int, mem: int, price: float, spot: float) -> NodeType:
    return NodeType("aws", name, gpu, gpus, vcpu, mem, price, spot)


def _gcp(name: str, gpu: str, gpus: int, vcpu: int, mem: int, price: float, spot: float) -> NodeType:
    return NodeType("gcp", name, gpu, gpus, vcpu, mem, price, spot)


NODE_TYPES: dict[tuple[str, str], NodeType] = {
    (n.cloud, n.name): n
    for n in (
        # AWS g5: NVIDIA A10G 24 GB
        _aws("g5.xlarge", "A10G", 1, 4, 16, 1.006, 0.60),
        _aws("g5.2xlarge", "A10G", 1, 8, 32, 1.212, 0.60),
        _aws("g5.4xlarge", "A10G", 1, 16, 64, 1.624, 0.60),
        _aws("g5.8xlarge", "A10G", 1, 32, 128, 2.448, 0.60),
        _aws("g5.12xlarge", "A10G", 4, 48, 192, 5.672, 0.60),
        _aws("g5.16xlarge", "A10G", 1, 64, 256, 4.096, 0.60),
        _aws("g5.24xlarge", "A10G", 4, 96, 384, 8.144, 0.60),
        _aws("g5.48xlarge", "A10G", 8, 192, 768, 16.288, 0.60),
        # AWS g6: NVIDIA L4 24 GB
        _aws("g6.xlarge", "L4", 1, 4, 16, 0.8048, 0.60),
        _aws("g6.2xlarge", "L4", 1, 8, 32, 0.9776, 0.60),
        _aws("g6.4xlarge", "L4", 1, 16, 64, 1.3232, 0.60),
        _aws("g6.8xlarge", "L4", 1, 32, 128, 2.0144, 0.60),
        _aws("g6.12xlarge", "L4", 4, 48, 192, 4.6016, 0.60),
        _aws("g6.16xlarge", "L4", 1, 64, 256, 3.3968, 0.60),
        _aws("g6.24xlarge", "L4", 4, 96, 384, 6.6752, 0.60),
        _aws("g6.48xlarge", "L4", 8, 192, 768, 13.3504, 0.60),
        # AWS g6e: NVIDIA L40S 48 GB
        _aws("g6e.xlarge", "L40S", 1, 4, 32, 1.861, 0.50),
        _aws("g6e.2xlarge", "L40S", 1, 8, 64, 2.242, 0.50),
        _aws("g6e.4xlarge", "L40S", 1, 16, 128, 3.004, 0.50),
        _aws("g6e.8xlarge", "L40S", 1, 32, 256, 4.529, 0.50),
        _aws("g6e.12xlarge", "L40S", 4, 48, 384, 10.493, 0.50),
        _aws("g6e.16xlarge", "L40S", 1, 64, 512, 7.577, 0.50),
        _aws("g6e.24xlarge", "L40S", 4, 96, 768, 15.066, 0.50),
        _aws("g6e.48xlarge", "L40S", 8, 192, 1536, 30.131, 0.50),
        # AWS p4d / p4de / p5 / p5e: A100 40 GB, A100 80 GB, H100 80 GB, H200 141 GB
        _aws("p4d.24xlarge", "A100-40GB", 8, 96, 1152, 21.958, 0.55),
        _aws("p4de.24xlarge", "A100-80GB", 8, 96, 1152, 27.447, 0.50),
        _aws("p5.48xlarge", "H100-80GB", 8, 192, 2048, 55.040, 0.45),
        _aws("p5e.48xlarge", "H200-141GB", 8, 192, 2048, 63.296, 0.40),
        # GCP: N1 + T4, G2 (L4), A2 high-GPU (A100 40 GB), A2 ultra-GPU (A100 80 GB), A3 high-GPU (H100 80 GB)
        _gcp("n1-standard-8", "T4", 1, 8, 30, 0.730, 0.60),
        _gcp("n1-standard-16", "T4", 2, 16, 60, 1.460, 0.60),
        _gcp("g2-standard-4", "L4", 1, 4, 16, 0.707, 0.60),
        _gcp("g2-standard-8", "L4", 1, 8, 32, 0.854, 0.60),
        _gcp("g2-standard-24", "L4", 2, 24, 96, 2.000, 0.60),
        _gcp("g2-standard-48", "L4", 4, 48, 192, 4.000, 0.60),
        _gcp("g2-standard-96", "L4", 8, 96, 384, 8.000, 0.60),
        _gcp("a2-highgpu-1g", "A100-40GB", 1, 12, 85, 3.673, 0.65),
        _gcp("a2-highgpu-2g", "A100-40GB", 2, 24, 170, 7.347, 0.65),
        _gcp("a2-highgpu-4g", "A100-40GB", 4, 48, 340, 14.694, 0.65),
        _gcp("a2-highgpu-8g", "A100-40GB", 8, 96, 680, 29.387, 0.65),
        _gcp("a2-ultragpu-1g", "A100-80GB", 1, 12, 170, 5.069, 0.65),
        _gcp("a2-ultragpu-8g", "A100-80GB", 8, 96, 1360, 40.550, 0.65),
        _gcp("a3-highgpu-8g", "H100-80GB", 8, 208, 1872, 88.490, 0.60),
    )
}


class CatalogError(LookupError):
    """A GPU model or node type the catalog does not know."""


def gpu_model(key: str) -> GpuModel:
    """Return the GPU model named ``key`` (``A100-40GB``) or raise :class:`CatalogError`."""
    try:
        return GPU_MODELS[key]
    except KeyError:
        raise CatalogError(f"unknown GPU {key!r}; known: {', '.join(GPU_MODELS)}") from None


def node_type(cloud: str, name: str) -> NodeType:
    """Return the node type ``name`` on ``cloud`` or raise :class:`CatalogError`."""
    try:
        return NODE_TYPES[(cloud, name)]
    except KeyError:
        known = ", ".join(n for c, n in NODE_TYPES if c == cloud)
        raise CatalogError(f"unknown {cloud} GPU node type {name!r}; known: {known}") from None


def node_types(cloud: str, *, gpu: str | None = None) -> list[NodeType]:
    """All node types of ``cloud``, optionally only those carrying ``gpu``, cheapest first."""
    found = [n for (c, _), n in NODE_TYPES.items() if c == cloud and (gpu is None or n.gpu == gpu)]
    return sorted(found, key=lambda n: (n.on_demand_usd_hour, n.name))


def families(cloud: str) -> list[str]:
    """Instance families (``p5``) or machine series (``a2-highgpu``) of ``cloud``."""
    return sorted({n.family for (c, _), n in NODE_TYPES.items() if c == cloud})


def mig_config_name(profile: str) -> str:
    """The mig-parted configuration name that cuts every GPU into ``profile`` (``all-1g.10gb``)."""
    return f"all-{profile}"


def mig_resource_name(profile: str) -> str:
    """The Kubernetes extended resource of a MIG profile under the mixed strategy."""
    return f"nvidia.com/mig-{profile}"
