"""GPU catalog: the GPU models and the AWS / GCP node shapes that carry them.

Prices are on-demand list prices per node-hour in the reference regions (AWS ``us-east-1``,
GCP ``us-central1``, Linux) as published on the providers' pricing pages; ``PRICE_DATE`` says
when they were recorded. Other regions are priced with :data:`REGION_MULTIPLIERS` (see
:func:`region_multiplier`). Spot discounts are rough long-run averages, good for a budget
estimate and nothing more. Refresh both before relying on the cost figures. The source of every
figure (and which ones are estimates) is tabled in ``docs/cost.md`` ("GPU catalog sources").

Accelerators that are not NVIDIA GPUs (AWS Trainium / Inferentia, driven by the Neuron SDK) are
models of ``vendor="neuron"``: their nodes advertise ``aws.amazon.com/neuron`` (whole devices) and
``aws.amazon.com/neuroncore`` instead of ``nvidia.com/gpu`` (:attr:`GpuModel.resource`).

Shapes the platform cannot run are listed in :data:`UNSUPPORTED` with the reason and what to use
instead; the stack config refuses them (exit 2) rather than planning something that cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PRICE_DATE = "2025-07-01"
"""Date the on-demand list prices below were recorded (after AWS's June 2025 P4/P5 price cut)."""

REFERENCE_REGION = {"aws": "us-east-1", "gcp": "us-central1"}

Cloud = Literal["aws", "gcp"]
Vendor = Literal["nvidia", "neuron"]

NVIDIA_RESOURCE = "nvidia.com/gpu"
NEURON_RESOURCE = "aws.amazon.com/neuron"
"""Whole Neuron devices (Trainium / Inferentia chips), as the Neuron device plugin advertises them."""
NEURONCORE_RESOURCE = "aws.amazon.com/neuroncore"
"""Single NeuronCores, the Neuron device plugin's finer-grained resource."""
NEURON_TAINT_KEY = "aws.amazon.com/neuron"
"""Taint on Neuron nodes; the Neuron chart's device plugin tolerates it (``operator: Exists``)."""


@dataclass(frozen=True)
class GpuModel:
    """One GPU model.

    :param key: Our name for the model, used in stack config (``gpu: A100-40GB``).
    :param memory_gib: Memory of one GPU.
    :param pci_device_ids: PCI device ids as NVIDIA's mig-parted config spells them in ``device-filter``.
    :param mig_profiles: MIG profile name -> how many instances of it fit one GPU (empty: no MIG).
    :param gcp_accelerator: The GKE ``guest_accelerator`` type, where GCP offers the model.
    :param vendor: ``nvidia`` (GPU operator, ``nvidia.com/gpu``) or ``neuron`` (AWS Trainium /
        Inferentia: Neuron device plugin, ``aws.amazon.com/neuron``).
    :param neuron_cores: NeuronCores per device (``neuron`` models only).
    """

    key: str
    memory_gib: int
    pci_device_ids: tuple[str, ...]
    mig_profiles: dict[str, int] = field(default_factory=dict)
    gcp_accelerator: str | None = None
    vendor: Vendor = "nvidia"
    neuron_cores: int = 0

    @property
    def supports_mig(self) -> bool:
        return bool(self.mig_profiles)

    @property
    def is_neuron(self) -> bool:
        return self.vendor == "neuron"

    @property
    def resource(self) -> str:
        """The Kubernetes extended resource one device of this model is requested as."""
        return NEURON_RESOURCE if self.is_neuron else NVIDIA_RESOURCE


@dataclass(frozen=True)
class NodeType:
    """A node shape that carries GPUs: an EC2 instance type or a GCE machine type (+ accelerators).

    :param on_demand_usd_hour: On-demand list price of the whole node (GPUs included) per hour.
    :param spot_discount: Typical spot discount, 0..1 (0.6 means spot costs 40% of on-demand).
    :param efa_interfaces: AWS: most Elastic Fabric Adapter interfaces the type takes (one per
        network card that supports EFA; 0: no EFA). Training across nodes uses them.
    :param gpu_nics: GCP: NICs reserved for GPU-to-GPU traffic (GPUDirect-TCPXO on A3 Mega,
        RDMA over RoCE on A3 Ultra / A4); 0 elsewhere.
    :param gpu_direct: GCP: how those NICs carry NCCL traffic: ``tcpxo`` (A3 Mega: 8 extra gVNIC VPCs and the
        TCPXO NCCL plugin) or ``rdma`` (A3 Ultra / A4: a second gVNIC VPC, a RoCE VPC of 8 subnets and the gIB
        NCCL plugin); ``None`` elsewhere.
    :param gke_accelerator: GCP: the GKE accelerator type when the machine's differs from its GPU model's
        (A3 Mega's H100s are ``nvidia-h100-mega-80gb``, not ``nvidia-h100-80gb``).
    """

    cloud: Cloud
    name: str
    gpu: str
    gpus: int
    vcpu: int
    memory_gib: int
    on_demand_usd_hour: float
    spot_discount: float
    efa_interfaces: int = 0
    gpu_nics: int = 0
    gpu_direct: Literal["tcpxo", "rdma"] | None = None
    gke_accelerator: str | None = None

    @property
    def family(self) -> str:
        return self.name.split(".")[0] if self.cloud == "aws" else self.name.rsplit("-", 1)[0]

    def hourly_usd(self, *, spot: bool, region: str | None = None) -> float:
        """Expected price per node-hour, spot discount applied when ``spot``, in ``region`` when given
        (:func:`region_multiplier`; reference-region price for a region not in the table)."""
        factor = region_multiplier(self.cloud, region) if region else 1.0
        return self.on_demand_usd_hour * factor * ((1.0 - self.spot_discount) if spot else 1.0)


_A100_40 = {"1g.5gb": 7, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1}
_X_80 = {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1}
_H200 = {"1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1}
# Blackwell: NVIDIA's default mig-parted config (../shared/upstream/gpu-operator/default-mig-parted-config.yaml,
# the "GB200, B200" / "RTX-PRO-6000-96GB" entries and the per-device "all-balanced" filters); the graphics (+gfx)
# and media-extension (+me) variants are left out: the platform cuts whole GPUs into one compute profile.
_B200 = {"1g.23gb": 7, "1g.45gb": 4, "2g.45gb": 3, "3g.90gb": 2, "4g.90gb": 1, "7g.180gb": 1}
_GB200 = {"1g.23gb": 7, "1g.47gb": 4, "2g.47gb": 3, "3g.93gb": 2, "4g.93gb": 1, "7g.186gb": 1}
_RTX_PRO_6000 = {"1g.24gb": 4, "2g.48gb": 2, "4g.96gb": 1}

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
        GpuModel("H200-141GB", 141, ("0x233510DE",), dict(_H200), "nvidia-h200-141gb"),
        GpuModel("B200", 180, ("0x290110DE",), dict(_B200), "nvidia-b200"),
        GpuModel("GB200", 186, ("0x294110DE",), dict(_GB200), "nvidia-gb200"),
        GpuModel("RTX-PRO-6000", 96, ("0x2BB510DE",), dict(_RTX_PRO_6000), "nvidia-rtx-pro-6000"),
        # AWS accelerators driven by the Neuron SDK (no PCI ids in mig-parted, no MIG): memory and
        # NeuronCores per device from the Trainium / Inferentia2 architecture pages of the Neuron docs
        GpuModel("Trainium", 32, (), vendor="neuron", neuron_cores=2),
        GpuModel("Trainium2", 96, (), vendor="neuron", neuron_cores=8),
        GpuModel("Inferentia2", 32, (), vendor="neuron", neuron_cores=2),
    )
}


def _aws(name: str, gpu: str, gpus: int, vcpu: int, mem: int, price: float, spot: float, efa: int = 0) -> NodeType:
    return NodeType("aws", name, gpu, gpus, vcpu, mem, price, spot, efa_interfaces=efa)


def _gcp(
    name: str,
    gpu: str,
    gpus: int,
    vcpu: int,
    mem: int,
    price: float,
    spot: float,
    nics: int = 0,
    direct: Literal["tcpxo", "rdma"] | None = None,
    accelerator: str | None = None,
) -> NodeType:
    return NodeType("gcp", name, gpu, gpus, vcpu, mem, price, spot, gpu_nics=nics, gpu_direct=direct, gke_accelerator=accelerator)


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
        # AWS g4dn: NVIDIA T4 16 GB (EFA from 8xlarge up)
        _aws("g4dn.xlarge", "T4", 1, 4, 16, 0.526, 0.60),
        _aws("g4dn.2xlarge", "T4", 1, 8, 32, 0.752, 0.60),
        _aws("g4dn.4xlarge", "T4", 1, 16, 64, 1.204, 0.60),
        _aws("g4dn.8xlarge", "T4", 1, 32, 128, 2.176, 0.60, efa=1),
        _aws("g4dn.12xlarge", "T4", 4, 48, 192, 3.912, 0.60, efa=1),
        _aws("g4dn.16xlarge", "T4", 1, 64, 256, 4.352, 0.60, efa=1),
        # AWS p4d / p4de / p5 / p5e / p5en / p6-b200: A100 40 GB, A100 80 GB, H100 80 GB, H200 141 GB, B200 180 GB
        _aws("p4d.24xlarge", "A100-40GB", 8, 96, 1152, 21.958, 0.55, efa=4),
        _aws("p4de.24xlarge", "A100-80GB", 8, 96, 1152, 27.447, 0.50, efa=4),
        _aws("p5.48xlarge", "H100-80GB", 8, 192, 2048, 55.040, 0.45, efa=32),
        _aws("p5e.48xlarge", "H200-141GB", 8, 192, 2048, 63.296, 0.40, efa=32),
        _aws("p5en.48xlarge", "H200-141GB", 8, 192, 2048, 63.296, 0.55, efa=16),
        _aws("p6-b200.48xlarge", "B200", 8, 192, 2048, 113.9328, 0.40, efa=8),
        # AWS trn1 / trn2 (Trainium, Trainium2) and inf2 (Inferentia2): Neuron devices, not GPUs
        _aws("trn1.2xlarge", "Trainium", 1, 8, 32, 1.34375, 0.60),
        _aws("trn1.32xlarge", "Trainium", 16, 128, 512, 21.50, 0.60, efa=8),
        _aws("trn2.48xlarge", "Trainium2", 16, 192, 2048, 85.964, 0.40, efa=16),
        _aws("inf2.xlarge", "Inferentia2", 1, 4, 16, 0.7582, 0.60),
        _aws("inf2.8xlarge", "Inferentia2", 1, 32, 128, 1.9679, 0.60),
        _aws("inf2.24xlarge", "Inferentia2", 6, 96, 384, 6.4906, 0.60),
        _aws("inf2.48xlarge", "Inferentia2", 12, 192, 768, 12.9813, 0.60),
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
        # A3 Mega (H100 80 GB, GPUDirect-TCPXO), A3 Ultra (H200 141 GB), A4 (B200), G4 (RTX PRO 6000)
        # A3 Mega: 8 x the "H100 80GB Plus" GPU SKU (10.344) + the A3 High's vCPU / memory share (88.49 - 8 x 9.797).
        # A4 is priced per GPU slice, vCPU and memory included: 8 x the "A4 Nvidia B200 (1 gpu slice)" SKU (16.11);
        # A4 is not sold on demand (spot, flex-start, reservations): SPOT_ONLY. Americas SKUs, see docs/cost.md
        # GPUDirect and accelerator types from GoogleCloudPlatform/cluster-toolkit examples/gke-a3-megagpu,
        # gke-a3-ultragpu, gke-a4 (v1.95.0) and the installers' node affinities in container-engine-accelerators
        # gpudirect-tcpxo/nccl-tcpxo-installer.yaml (nvidia-h100-mega-80gb), gpudirect-rdma/nccl-rdma-installer.yaml
        _gcp("a3-megagpu-8g", "H100-80GB", 8, 208, 1872, 92.870, 0.60, nics=8, direct="tcpxo", accelerator="nvidia-h100-mega-80gb"),
        _gcp("a3-ultragpu-8g", "H200-141GB", 8, 224, 2952, 84.806, 0.60, nics=8, direct="rdma"),
        _gcp("a4-highgpu-8g", "B200", 8, 224, 3968, 128.880, 0.60, nics=8, direct="rdma"),
        # G4 list prices in us-central1 (dstack PR #3213 offer listing): 4.5001 per RTX PRO 6000
        _gcp("g4-standard-48", "RTX-PRO-6000", 1, 48, 180, 4.5001, 0.60),
        _gcp("g4-standard-96", "RTX-PRO-6000", 2, 96, 360, 9.0002, 0.60),
        _gcp("g4-standard-192", "RTX-PRO-6000", 4, 192, 720, 18.0003, 0.60),
        _gcp("g4-standard-384", "RTX-PRO-6000", 8, 384, 1440, 36.0006, 0.60),
    )
}


SPOT_ONLY: frozenset[tuple[str, str]] = frozenset({("gcp", "a4-highgpu-8g")})
"""Shapes the cloud does not sell on demand: GCP A4 comes as spot, DWS flex-start or a reservation
(gpuhunt PR #176 drops its on-demand offers as not available); a pool of them must use ``capacity: spot``."""


@dataclass(frozen=True)
class Unsupported:
    """A node shape (or GPU model) the platform refuses, and why.

    :param reason: What the shape needs that this platform does not build.
    :param instead: What to ask for instead.
    """

    reason: str
    instead: str


_GB200_WHY = (
    "GB200 NVL72 nodes only work as part of an NVLink domain spanning a rack: they need the NVIDIA "
    "DRA driver with ComputeDomains (IMEX daemons) and capacity bought as a reservation of whole "
    "racks, neither of which this platform installs or buys"
)
UNSUPPORTED: dict[tuple[str, str], Unsupported] = {
    ("aws", "p6e-gb200.36xlarge"): Unsupported(
        _GB200_WHY + "; on AWS P6e-GB200 UltraServers are sold only as EC2 Capacity Blocks for UltraServers "
        "and Karpenter cannot place an UltraServer",
        "p6-b200.48xlarge (8 x B200, gpu: B200), or run the UltraServer in a node group of your own",
    ),
    ("gcp", "a4x-highgpu-4g"): Unsupported(
        _GB200_WHY + "; on GKE A4X needs a reservation and a workload-policy placement of whole NVL72 racks",
        "a4-highgpu-8g (8 x B200, gpu: B200, capacity: spot)",
    ),
    ("aws", "g6f.xlarge"): Unsupported(
        "g6f carries a fraction of an L4 through NVIDIA vGPU, which needs the GRID driver; the GPU operator "
        "here installs no vGPU driver and the EKS NVIDIA AMI ships the datacenter driver",
        "g6.xlarge (a whole L4), or timeSlicingReplicas on an L4 pool",
    ),
}
"""Shapes that exist but cannot run on this platform; the config refuses them naming the reason."""
UNSUPPORTED_GPUS: dict[str, Unsupported] = {
    "GB200": Unsupported(_GB200_WHY, "gpu: B200 (p6-b200.48xlarge on aws, a4-highgpu-8g with capacity: spot on gcp)"),
}
"""GPU models in the catalog (for their MIG data) that no platform pool can carry."""


# ---- regional prices ------------------------------------------------------------------------------

REGION_MULTIPLIERS: dict[str, dict[str, float]] = {
    "aws": {
        # the reference region and the US regions that list the same GPU prices
        "us-east-1": 1.0,
        "us-east-2": 1.0,
        "us-west-2": 1.0,
        # p5en.48xlarge on-demand: us-west-1 79.12 and eu-north-1 67.7267 against 63.296 in us-east-1
        "us-west-1": 1.25,
        "eu-north-1": 1.07,
        # g5.xlarge on-demand: eu-central-1 1.258 against 1.006 in us-east-1
        "eu-central-1": 1.25,
    },
    "gcp": {
        # a2-highgpu-1g per-region list prices (us-central1 0.73948): europe-west4 0.81406,
        # asia-northeast1 / asia-northeast3 0.94803, asia-southeast1 0.9122, us-west3 0.8882, us-west4 0.8328,
        # me-west1 0.81342; us-east1 / us-west1 list the us-central1 price
        "us-central1": 1.0,
        "us-east1": 1.0,
        "us-east4": 1.0,
        "us-west1": 1.0,
        "us-west3": 1.20,
        "us-west4": 1.13,
        "europe-west4": 1.10,
        "me-west1": 1.10,
        "asia-northeast1": 1.28,
        "asia-northeast3": 1.28,
        "asia-southeast1": 1.23,
    },
}
"""Price of a GPU node in a region relative to the reference region, per cloud (sources in
``docs/cost.md``). One factor per region: GPU families differ by a few percent, which a budget
estimate accepts."""


def region_multiplier(cloud: str, region: str | None) -> float:
    """The price factor of ``region`` on ``cloud``; 1.0 for the reference region and for a region not in the table."""
    if not region:
        return 1.0
    return REGION_MULTIPLIERS.get(cloud, {}).get(region, 1.0)


def region_priced(cloud: str, region: str | None) -> bool:
    """Whether ``region`` has a multiplier (or is the reference region) on ``cloud``."""
    return not region or region in REGION_MULTIPLIERS.get(cloud, {})


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


def gke_accelerator(node: NodeType) -> str:
    """The GKE ``guest_accelerator`` type of a GCE machine type: its own (A3 Mega) or its GPU model's."""
    accelerator = node.gke_accelerator or gpu_model(node.gpu).gcp_accelerator
    if node.cloud != "gcp" or accelerator is None:
        raise CatalogError(f"{node.name} is not a GKE GPU machine type")
    return accelerator


def cloud_of(name: str) -> str | None:
    """The cloud whose catalog (or unsupported list) has a node type ``name``, if exactly one does."""
    clouds = {c for c, n in (*NODE_TYPES, *UNSUPPORTED) if n == name}
    return clouds.pop() if len(clouds) == 1 else None


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
