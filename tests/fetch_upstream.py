"""Download the pinned upstream files the schema tests read (CRDs, chart values, mig-parted config).

    python tests/fetch_upstream.py [--dest DIR]    (default: $ML_PLATFORM_UPSTREAM or ../shared/upstream)

Each file comes from a fixed commit of its repository, so the tests check against exactly the
versions our charts and CRs are pinned to.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
import urllib.request
from pathlib import Path

# local path, repository, commit, path in the repository
PINNED = [
    # charts/karpenter/crds/*.yaml are git symlinks to these files; fetch the targets themselves
    (
        "karpenter/crds/karpenter.sh_nodepools.yaml",
        "aws/karpenter-provider-aws",
        "bde00654cd316fddb3dccfba3f5ac07039865429",
        "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    ),
    (
        "karpenter/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",
        "aws/karpenter-provider-aws",
        "bde00654cd316fddb3dccfba3f5ac07039865429",
        "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",
    ),
    (
        "karpenter/values.yaml",
        "aws/karpenter-provider-aws",
        "bde00654cd316fddb3dccfba3f5ac07039865429",
        "charts/karpenter/values.yaml",
    ),
    (
        "karpenter/Chart.yaml",
        "aws/karpenter-provider-aws",
        "bde00654cd316fddb3dccfba3f5ac07039865429",
        "charts/karpenter/Chart.yaml",
    ),
    (
        "gpu-operator/values.yaml",
        "NVIDIA/gpu-operator",
        "10ee5b3638b89e11e949412aafa5ba99279c3721",
        "deployments/gpu-operator/values.yaml",
    ),
    (
        "gpu-operator/crds/nvidia.com_clusterpolicies.yaml",
        "NVIDIA/gpu-operator",
        "10ee5b3638b89e11e949412aafa5ba99279c3721",
        "deployments/gpu-operator/crds/nvidia.com_clusterpolicies.yaml",
    ),
    (
        "gpu-operator/default-mig-parted-config.yaml",
        "NVIDIA/gpu-operator",
        "10ee5b3638b89e11e949412aafa5ba99279c3721",
        "assets/state-mig-manager/0400_configmap.yaml",
    ),
    (
        "kueue/crds/kueue.x-k8s.io_clusterqueues.yaml",
        "kubernetes-sigs/kueue",
        "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb",
        "config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml",
    ),
    (
        "kueue/crds/kueue.x-k8s.io_localqueues.yaml",
        "kubernetes-sigs/kueue",
        "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb",
        "config/components/crd/bases/kueue.x-k8s.io_localqueues.yaml",
    ),
    (
        "kueue/crds/kueue.x-k8s.io_resourceflavors.yaml",
        "kubernetes-sigs/kueue",
        "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb",
        "config/components/crd/bases/kueue.x-k8s.io_resourceflavors.yaml",
    ),
    (
        "kueue/crds/kueue.x-k8s.io_cohorts.yaml",
        "kubernetes-sigs/kueue",
        "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb",
        "config/components/crd/bases/kueue.x-k8s.io_cohorts.yaml",
    ),
    (
        "kueue/crds/kueue.x-k8s.io_workloadpriorityclasses.yaml",
        "kubernetes-sigs/kueue",
        "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb",
        "config/components/crd/bases/kueue.x-k8s.io_workloadpriorityclasses.yaml",
    ),
    ("kueue/values.yaml", "kubernetes-sigs/kueue", "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb", "charts/kueue/values.yaml"),
    ("kueue/Chart.yaml", "kubernetes-sigs/kueue", "8eab68778fc1b52affe165fdf5af29d1e9b4f3cb", "charts/kueue/Chart.yaml"),
    (
        "mlflow/values.yaml",
        "community-charts/helm-charts",
        "ae700fffcd2bf190f59b3ed614d82aede1643ae1",
        "charts/mlflow/values.yaml",
    ),
    (
        "mlflow/values.schema.json",
        "community-charts/helm-charts",
        "ae700fffcd2bf190f59b3ed614d82aede1643ae1",
        "charts/mlflow/values.schema.json",
    ),
    ("mlflow/Chart.yaml", "community-charts/helm-charts", "ae700fffcd2bf190f59b3ed614d82aede1643ae1", "charts/mlflow/Chart.yaml"),
    (
        "feast/feature-server/values.yaml",
        "feast-dev/feast",
        "1d5be950cf718a674cb01eaf0fd0ad6f0a4c6335",
        "infra/charts/feast-feature-server/values.yaml",
    ),
    (
        "feast/feature-server/Chart.yaml",
        "feast-dev/feast",
        "1d5be950cf718a674cb01eaf0fd0ad6f0a4c6335",
        "infra/charts/feast-feature-server/Chart.yaml",
    ),
    (
        "feast/crds/feast.dev_featurestores.yaml",
        "feast-dev/feast",
        "1d5be950cf718a674cb01eaf0fd0ad6f0a4c6335",
        "infra/feast-operator/config/crd/bases/feast.dev_featurestores.yaml",
    ),
    (
        "prometheus-operator/crds/crd-prometheusrules.yaml",
        "prometheus-community/helm-charts",
        "cf408a290aec489277a94450bb3511432477a53a",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-prometheusrules.yaml",
    ),
    (
        "prometheus-operator/crds/crd-servicemonitors.yaml",
        "prometheus-community/helm-charts",
        "cf408a290aec489277a94450bb3511432477a53a",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-servicemonitors.yaml",
    ),
    # Google Managed Prometheus (GKE installs them with managed collection)
    (
        "google-managed-prometheus/crds/monitoring.googleapis.com_clusterrules.yaml",
        "GoogleCloudPlatform/prometheus-engine",
        "2ffde4ec7b7e4ca1da4e32f36b692945b78a60e4",
        "charts/operator/crds/monitoring.googleapis.com_clusterrules.yaml",
    ),
    (
        "google-managed-prometheus/crds/monitoring.googleapis.com_podmonitorings.yaml",
        "GoogleCloudPlatform/prometheus-engine",
        "2ffde4ec7b7e4ca1da4e32f36b692945b78a60e4",
        "charts/operator/crds/monitoring.googleapis.com_podmonitorings.yaml",
    ),
    (
        "prometheus-operator/crds/crd-podmonitors.yaml",
        "prometheus-community/helm-charts",
        "cf408a290aec489277a94450bb3511432477a53a",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-podmonitors.yaml",
    ),
    # GKE multi-networking (GKE serves them on a cluster with enable_multi_networking; the GPUDirect NICs)
    (
        "gke-networking/crds/networking.gke.io_networks.yaml",
        "GoogleCloudPlatform/gke-networking-api",
        "34c617f213240483385491398d7904e20d0b6adc",
        "config/crds/networking.gke.io_networks.yaml",
    ),
    (
        "gke-networking/crds/networking.gke.io_gkenetworkparamsets.yaml",
        "GoogleCloudPlatform/gke-networking-api",
        "34c617f213240483385491398d7904e20d0b6adc",
        "config/crds/networking.gke.io_gkenetworkparamsets.yaml",
    ),
]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.read()


def _symlink_target(body: bytes) -> str | None:
    """The relative path a git symlink stores, or None for a regular file."""
    text = body.decode("utf-8", "replace").strip()
    if "\n" not in text and text.startswith("../") and len(text) < 300:
        return text
    return None


def main(argv: list[str] | None = None) -> int:
    default = os.environ.get("ML_PLATFORM_UPSTREAM", str(Path(__file__).resolve().parent.parent.parent / "shared" / "upstream"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=default)
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    lines = ["file\trepository\tcommit\tpath"]
    for local, repo, commit, path in PINNED:
        url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
        target = dest / local
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            body = _fetch(url)
            link = _symlink_target(body)
            if link is not None:  # raw.githubusercontent serves a git symlink as its target path
                path = posixpath.normpath(posixpath.join(posixpath.dirname(path), link))
                url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
                body = _fetch(url)
        except OSError as err:
            print(f"error: could not fetch {url}: {err}", file=sys.stderr)
            return 1
        target.write_bytes(body)
        lines.append(f"{local}\t{repo}\t{commit}\t{path}")
        print(f"fetched {local}")
    (dest / "SOURCES.tsv").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
