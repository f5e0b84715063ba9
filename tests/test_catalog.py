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
    assert {"g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e"} <= set(gpus.families("aws"))


def test_required_gcp_accelerators_present() -> None:
    offered = {gpus.gpu_model(n.gpu).gcp_accelerator for n in gpus.node_types("gcp")}
    assert {"nvidia-tesla-t4", "nvidia-l4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"} <= offered


@pytest.mark.parametrize("node", list(gpus.NODE_TYPES.values()), ids=lambda n: f"{n.cloud}-{n.name}")
def test_node_shapes_are_plausible(node: gpus.NodeType) -> None:
    assert node.gpu in gpus.GPU_MODELS
    assert node.gpus in (1, 2, 4, 8)
    assert node.vcpu >= 4 and node.memory_gib >= 16
    assert 0 < node.on_demand_usd_hour < 200
    assert 0 <= node.spot_discount < 0.9
    assert node.hourly_usd(spot=True) < node.hourly_usd(spot=False)
    # price per GPU is in a band that separates the GPU generations
    per_gpu = node.on_demand_usd_hour / node.gpus
    assert 0.3 < per_gpu < 12


def test_bigger_gpus_cost_more_per_gpu() -> None:
    def per_gpu(name: str) -> float:
        n = gpus.node_type("aws", name)
        return n.on_demand_usd_hour / n.gpus

    assert per_gpu("g6.xlarge") < per_gpu("g5.xlarge") < per_gpu("p4d.24xlarge") < per_gpu("p5.48xlarge")


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
def test_every_mig_gpu_appears_in_the_balanced_config(upstream: Path) -> None:
    entries = _mig_configs(upstream)["all-balanced"]
    for model in MIG_GPUS:
        entry = _entry_for(entries, model.pci_device_ids[0])
        assert entry is not None and "device-filter" in entry, model.key
        assert set(entry["mig-devices"]) <= set(model.mig_profiles), model.key


def test_gpus_without_mig_have_no_profiles() -> None:
    for key in ("T4", "A10G", "L4", "L40S"):
        assert not gpus.gpu_model(key).supports_mig
