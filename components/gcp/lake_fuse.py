"""The lake as a file system on GKE: one Cloud Storage FUSE PersistentVolume per team, on the team's prefix.

The GKE Cloud Storage FUSE CSI driver (cluster add-on ``gcs_fuse_csi_driver_config``) mounts a bucket into a pod
through a sidecar it injects into pods annotated ``gke-gcsfuse/volumes: "true"``; the sidecar authenticates as the
pod's Kubernetes service account, so a team's pods (``<team>-workloads``, Workload Identity) read and write exactly
what the team's Google identity may: its ``teams/<team>/`` prefix (:mod:`components.gcp.team_iam`). Each volume is
a static, pre-bound PersistentVolume (GoogleCloudPlatform/gcs-fuse-csi-driver ``examples/static/sub-dir-mount``):

* ``volumeHandle``: the zone's bucket; ``mountOptions: only-dir=teams/<team>`` (the team sees its prefix as the
  root) and ``implicit-dirs`` (folders written by other tools show up);
* the file cache (``volumeAttributes.fileCacheCapacity``, ``fileCacheForRangeRead: "true"``: repeated and
  random reads of training data come from the node, not the bucket; docs/troubleshooting.md "file cache"). By default
  the cache is an ``emptyDir`` of the sidecar on the node's boot disk (or its local SSD when the node pool puts
  ephemeral storage there); the pod's ``gke-gcsfuse/ephemeral-storage-limit`` annotation must exceed the capacity;
* the size is nominal (a bucket has none): small, so the claim fits the team's ``requests.storage`` quota.

Objects stay encrypted at rest with the lake's CMEK key; the cache lives on the node's disk for the pod's lifetime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component

DRIVER = "gcsfuse.csi.storage.gke.io"
NOMINAL_SIZE = "1Gi"
"""A Cloud Storage FUSE volume has no size; claims ask for this much (it counts against the team's storage quota)."""
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class LakeFuseVolumesArgs:
    """Arguments of :class:`LakeFuseVolumes`.

    :param bucket: The lake zone's bucket.
    :param teams: Team -> (namespace, object prefix ending in ``/``, e.g. ``teams/research/``).
    :param claim: The claim name each team namespace gets (the volumes' ``claimRef.name``).
    :param file_cache_gi: File cache per mount in GiB; 0 turns the cache off.
    :param labels: Labels of the volumes.
    """

    bucket: pulumi.Input[str]
    teams: Mapping[str, tuple[str, str]]
    claim: str = "lake"
    file_cache_gi: int = 100
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _DNS.match(self.claim):
            raise ValueError(f"LakeFuseVolumes: claim {self.claim!r} must be a DNS label")
        if self.file_cache_gi < 0:
            raise ValueError(f"LakeFuseVolumes: file_cache_gi {self.file_cache_gi} must be 0 (no cache) or more")
        for team, (namespace, prefix) in self.teams.items():
            if not _DNS.match(team) or not _DNS.match(namespace):
                raise ValueError(f"LakeFuseVolumes: team {team!r} / namespace {namespace!r} must be DNS labels")
            if not prefix.endswith("/") or prefix.startswith("/") or "," in prefix:
                raise ValueError(f"LakeFuseVolumes: prefix {prefix!r} of {team!r} must be relative and end with '/'")

    def volume_name(self, team: str) -> str:
        return f"{self.claim}-{team}"


class LakeFuseVolumes(Component):
    """One pre-bound Cloud Storage FUSE PersistentVolume per team (the Kubernetes provider via ``opts``)."""

    volumes: dict[str, tuple[str, str]]
    """Team -> (PersistentVolume name, size), for the claims in the team namespaces."""
    claim: str

    def __init__(self, resource_name: str, args: LakeFuseVolumesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:LakeFuseVolumes", resource_name, opts)
        attributes = (
            {"fileCacheCapacity": f"{args.file_cache_gi}Gi", "fileCacheForRangeRead": "true"} if args.file_cache_gi else {}
        )
        for team, (namespace, prefix) in sorted(args.teams.items()):
            k8s.core.v1.PersistentVolume(
                f"{resource_name}-{team}",
                metadata={
                    "name": args.volume_name(team),
                    "labels": {**args.labels, cv.TEAM_LABEL: team, cv.MANAGED_BY_LABEL: cv.MANAGED_BY},
                },
                spec={
                    "accessModes": ["ReadWriteMany"],
                    "capacity": {"storage": NOMINAL_SIZE},
                    # deleting the volume never touches the bucket (a static volume); Retain keeps it from being reused
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "claimRef": {"namespace": namespace, "name": args.claim},
                    "mountOptions": [f"only-dir={prefix.rstrip('/')}", "implicit-dirs"],
                    "csi": {
                        "driver": DRIVER,
                        "volumeHandle": args.bucket,
                        **({"volumeAttributes": attributes} if attributes else {}),
                    },
                },
                opts=self.child_opts(),
            )
        self.publish(claim=args.claim, volumes={t: (args.volume_name(t), NOMINAL_SIZE) for t in sorted(args.teams)})
