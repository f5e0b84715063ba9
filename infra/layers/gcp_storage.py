"""Storage next to the GPUs on GCP: the lake as a file system through Cloud Storage FUSE (``dataLake.gcsFuse``).

The cluster has the Cloud Storage FUSE CSI driver add-on (``components.gcp.gke``). Each team gets a volume of its
``teams/<team>/`` prefix in the configured zone's bucket, pre-bound to the claim ``lake`` in its namespace; pods mount
it with the ``gke-gcsfuse/volumes: "true"`` annotation and run as ``<team>-workloads``, whose Google identity is the
only one allowed that prefix (``gcp_teams``). The Kubernetes layer creates the claims from ``layer.shared_volumes``,
after the team namespaces. No fixed cost beyond the bucket (already in the estimate): the reads are Cloud Storage
operations, the file cache sits on the nodes' disks.
"""

from __future__ import annotations

import pulumi

from components.gcp.lake_fuse import LakeFuseVolumes, LakeFuseVolumesArgs
from infra import config
from infra.layers.context import CloudLayer, SharedVolumes
from infra.layers.gcp_foundation import GcpFoundation
from infra.layers.gcp_teams import TEAM_PREFIX

CLAIM = "lake"


def build(cfg: config.PlatformConfig, foundation: GcpFoundation, layer: CloudLayer) -> None:
    fuse = cfg.data_lake.gcs_fuse
    if fuse is None or not cfg.teams:
        return
    volumes = LakeFuseVolumes(
        "lake-fuse",
        LakeFuseVolumesArgs(
            bucket=foundation.buckets[fuse.zone],
            teams={t.name: (t.name, TEAM_PREFIX.format(team=t.name)) for t in cfg.teams},
            claim=CLAIM,
            file_cache_gi=fuse.file_cache_gi,
        ),
        # the driver is a cluster add-on: the volumes need the cluster's API, nothing else
        pulumi.ResourceOptions(provider=layer.k8s_provider),
    )
    # the Kubernetes layer claims them in the team namespaces (the claims wait for the volumes)
    layer.shared_volumes = SharedVolumes(claim=CLAIM, volumes=dict(volumes.volumes), file_system=volumes)
    pulumi.export("lakeFuseZone", fuse.zone)
