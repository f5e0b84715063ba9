"""The GPU catalog: the families ML teams use, sane shapes, and MIG profiles true to NVIDIA's config."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from catalog import cost_model, gpus
from infra.plan import engine, report


def test_required_aws_families_present() -> None:
    assert {"g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "trn1", "trn2", "inf2"} <= set(
        gpus.families("aws")
    )


def test_required_gcp_accelerators_present() -> None:
    offered = {gpus.gpu_model(n.gpu).gcp_accelerator for n in gpus.node_types("gcp")}
    assert {
        "nvidia-tesla-t4",
        "nvidia-l4",
        "nvidia-tesla-a100",
        "nvidia-a100-80gb",
        "nvidia-h100-80gb",
        "nvidia-h200-141gb",
        "nvidia-b200",
        "nvidia-rtx-pro-6000",
    } <= offered
    assert {"a3-megagpu", "a3-ultragpu", "a4-highgpu", "g4-standard"} <= set(gpus.families("gcp"))


def test_gb200_shapes_are_refused_not_planned() -> None:
    """GB200 NVL72 nodes are known (for their MIG data and the refusal) but no pool can launch them."""
    assert ("aws", "p6e-gb200.36xlarge") in gpus.UNSUPPORTED and ("gcp", "a4x-highgpu-4g") in gpus.UNSUPPORTED
    assert "GB200" in gpus.UNSUPPORTED_GPUS
    assert not [n for n in gpus.NODE_TYPES.values() if n.gpu == "GB200"]
    for refused in (*gpus.UNSUPPORTED.values(), *gpus.UNSUPPORTED_GPUS.values()):
        assert refused.reason and refused.instead
    for (cloud, _), refused in gpus.UNSUPPORTED.items():
        # the alternative named is a shape the catalog offers on that cloud
        assert any(n.name in refused.instead for n in gpus.node_types(cloud)), refused.instead


def test_neuron_accelerators_use_neuron_resources() -> None:
    for key in ("Trainium", "Trainium2", "Inferentia2"):
        model = gpus.gpu_model(key)
        assert model.is_neuron and model.resource == gpus.NEURON_RESOURCE and model.neuron_cores > 0
        assert not model.supports_mig and not model.pci_device_ids
    assert gpus.gpu_model("B200").resource == gpus.NVIDIA_RESOURCE
    # every Neuron shape is AWS-only and carries a Neuron model
    for node in gpus.NODE_TYPES.values():
        assert gpus.gpu_model(node.gpu).is_neuron == node.name.startswith(("trn", "inf")), node.name


def test_efa_counts_for_multi_node_training_shapes() -> None:
    """The 8-GPU / 16-chip training shapes carry EFA (the training issue attaches them); small shapes none."""
    for name in (
        "p4d.24xlarge",
        "p5.48xlarge",
        "p5e.48xlarge",
        "p5en.48xlarge",
        "p6-b200.48xlarge",
        "trn1.32xlarge",
        "trn2.48xlarge",
    ):
        assert gpus.node_type("aws", name).efa_interfaces >= 4, name
    for name in ("g4dn.xlarge", "g5.xlarge", "inf2.xlarge", "trn1.2xlarge"):
        assert gpus.node_type("aws", name).efa_interfaces == 0, name
    assert all(n.efa_interfaces == 0 for n in gpus.node_types("gcp"))
    assert gpus.node_type("gcp", "a4-highgpu-8g").gpu_nics == 8


def test_region_multiplier_prices_a_region_and_falls_back_to_reference() -> None:
    node = gpus.node_type("aws", "p5en.48xlarge")
    assert node.hourly_usd(spot=False, region="eu-central-1") > node.hourly_usd(spot=False) * 1.1
    assert node.hourly_usd(spot=False, region="us-east-1") == node.hourly_usd(spot=False)
    assert gpus.region_multiplier("aws", "mars-north-1") == 1.0 and not gpus.region_priced("aws", "mars-north-1")
    for cloud, table in gpus.REGION_MULTIPLIERS.items():
        assert table[gpus.REFERENCE_REGION[cloud]] == 1.0
        assert all(0.8 <= f <= 2.0 for f in table.values()), cloud


@pytest.mark.parametrize("node", list(gpus.NODE_TYPES.values()), ids=lambda n: f"{n.cloud}-{n.name}")
def test_node_shapes_are_plausible(node: gpus.NodeType) -> None:
    assert node.gpu in gpus.GPU_MODELS
    assert node.gpus in (1, 2, 4, 6, 8, 12, 16)
    assert node.vcpu >= 4 and node.memory_gib >= 16
    assert 0 < node.on_demand_usd_hour < 200
    assert 0 <= node.spot_discount < 0.9
    assert node.hourly_usd(spot=True) < node.hourly_usd(spot=False)
    # price per accelerator is in a band that separates the generations (B200 ~14/h, T4 ~0.5/h)
    per_gpu = node.on_demand_usd_hour / node.gpus
    assert 0.3 < per_gpu < 20
    assert node.efa_interfaces >= 0 and node.gpu_nics >= 0


def test_bigger_gpus_cost_more_per_gpu() -> None:
    def per_gpu(name: str) -> float:
        n = gpus.node_type("aws", name)
        return n.on_demand_usd_hour / n.gpus

    assert per_gpu("g4dn.xlarge") < per_gpu("g6.xlarge") < per_gpu("g5.xlarge") < per_gpu("p4d.24xlarge") < per_gpu("p5.48xlarge")
    assert per_gpu("p5.48xlarge") < per_gpu("p5en.48xlarge") < per_gpu("p6-b200.48xlarge")


def test_lookup_errors_name_known_values() -> None:
    with pytest.raises(gpus.CatalogError, match="A100-40GB"):
        gpus.gpu_model("A200")
    with pytest.raises(gpus.CatalogError, match=r"p5\.48xlarge"):
        gpus.node_type("aws", "p9.huge")


def test_price_date_is_cited(plan_of: Callable[[str], engine.Plan]) -> None:
    """The catalogs' reference date is a real past date, and every estimate states it to its reader."""
    for recorded in (gpus.PRICE_DATE, cost_model.PRICE_DATE):
        assert datetime.date.fromisoformat(recorded) <= datetime.date.today(), recorded
    plan = plan_of("dev")
    assert (plan.cost["price_date"], plan.cost["gpu_price_date"]) == (cost_model.PRICE_DATE, gpus.PRICE_DATE)
    assert f"List prices of {cost_model.PRICE_DATE}" in report.markdown(plan)


def _mig_configs(upstream: Path) -> dict:
    cm = yaml.safe_load((upstream / "gpu-operator" / "default-mig-parted-config.yaml").read_text())
    return yaml.safe_load(cm["data"]["config.yaml"])["mig-configs"]


def _entry_for(entries: list[dict], device_id: str) -> dict | None:
    """The entry of a mig-parted config that applies to a device (filtered entries first)."""
    for entry in entries:
        filt = entry.get("device-filter")
        ids = [filt] if isinstance(filt, str) else (filt or [])
        if device_id in ids:
            return entry
    return next((e for e in entries if "device-filter" not in e), None)


MIG_GPUS = [m for m in gpus.GPU_MODELS.values() if m.supports_mig]


@pytest.mark.upstream
@pytest.mark.parametrize("model", MIG_GPUS, ids=lambda m: m.key)
def test_mig_profiles_match_nvidia_default_config(upstream: Path, model: gpus.GpuModel) -> None:
    configs = _mig_configs(upstream)
    for profile, count in model.mig_profiles.items():
        name = gpus.mig_config_name(profile)
        assert name in configs, f"{model.key}: {name} not in NVIDIA's mig-parted config"
        entry = _entry_for(configs[name], model.pci_device_ids[0])
        assert entry is not None, f"{name} has no entry for {model.key}"
        assert entry["mig-devices"] == {profile: count}, f"{model.key} {profile}: upstream {entry['mig-devices']}"


@pytest.mark.upstream
def test_every_catalog_gpu_nvidia_can_partition_has_mig_profiles(upstream: Path) -> None:
    """A catalog GPU whose PCI id has a device-filtered entry in NVIDIA's all-balanced config is MIG-capable
    hardware: the catalog must offer its profiles (else a MIG-capable model silently misses the MIG test)."""
    filtered = {
        i
        for entry in _mig_configs(upstream)["all-balanced"]
        for i in ([entry["device-filter"]] if isinstance(entry.get("device-filter"), str) else entry.get("device-filter", []))
    }
    capable = [m.key for m in gpus.GPU_MODELS.values() if set(m.pci_device_ids) & filtered]
    assert {"A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB", "B200", "GB200", "RTX-PRO-6000"} <= set(capable)
    for key in capable:
        assert gpus.gpu_model(key).supports_mig, key


@pytest.mark.upstream
def test_every_mig_gpu_appears_in_the_balanced_config(upstream: Path) -> None:
    entries = _mig_configs(upstream)["all-balanced"]
    for model in MIG_GPUS:
        entry = _entry_for(entries, model.pci_device_ids[0])
        assert entry is not None and "device-filter" in entry, model.key
        assert set(entry["mig-devices"]) <= set(model.mig_profiles), model.key


def test_gpus_without_mig_have_no_profiles() -> None:
    for key in ("T4", "A10G", "L4", "L40S"):
        assert not gpus.gpu_model(key).supports_mig


def test_a3_mega_is_its_own_gke_accelerator_type() -> None:
    """GKE names A3 Mega's H100s ``nvidia-h100-mega-80gb`` (cluster-toolkit's gke-a3-megagpu blueprint, the TCPXO
    installer's node affinity); a pool asking for ``nvidia-h100-80gb`` on a3-megagpu-8g is refused by GKE."""
    assert gpus.gke_accelerator(gpus.node_type("gcp", "a3-megagpu-8g")) == "nvidia-h100-mega-80gb"
    assert gpus.gke_accelerator(gpus.node_type("gcp", "a3-highgpu-8g")) == "nvidia-h100-80gb"
    assert {gpus.node_type("gcp", m).gpu_direct for m in ("a3-ultragpu-8g", "a4-highgpu-8g")} == {"rdma"}
    assert [n.name for n in gpus.node_types("gcp") if n.gpu_nics and not n.gpu_direct] == []
