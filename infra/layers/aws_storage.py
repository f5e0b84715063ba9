"""Storage next to the GPUs on AWS: FSx for Lustre linked to the lake (``dataLake.lustre``).

The file system sits in one availability zone (``dataLake.lustre.availabilityZone``, the private
subnet there), reachable from the cluster's security group; each linked lake zone is a directory
backed by that zone's bucket. Every team gets a volume pre-bound to the claim ``lustre`` in its
namespace (the Kubernetes layer creates the claims from ``layer.shared_volumes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from components.aws.fsx import CLAIM, LakeLustre, LakeLustreArgs
from infra import config, tagging
from infra.layers.context import CloudLayer, SharedVolumes

if TYPE_CHECKING:
    from infra.layers.aws_foundation import AwsFoundation


def subnet_in(foundation: AwsFoundation, zone: str) -> pulumi.Output[Any]:
    """The VPC's private subnet in ``zone`` (none: :mod:`infra.layers.aws_zones` fails the plan naming the key)."""

    def pick(pairs: list[list[str]]) -> str:
        return next((sid for az, sid in pairs if az == zone), "")

    return pulumi.Output.all(*[pulumi.Output.all(s.availability_zone, s.id) for s in foundation.vpc.private_subnets]).apply(pick)


def build(cfg: config.PlatformConfig, foundation: AwsFoundation, layer: CloudLayer) -> None:
    lustre = cfg.data_lake.lustre
    cluster = getattr(foundation, "cluster", None)
    if lustre is None or cluster is None:
        return
    assert lustre.availability_zone is not None  # config check
    waits = list(getattr(cluster, "depends_on", []) or [])
    fs = LakeLustre(
        "lustre",
        LakeLustreArgs(
            subnet_id=subnet_in(foundation, lustre.availability_zone),
            vpc_id=foundation.vpc.vpc_id,
            client_security_group_id=cluster.cluster_security_group_id,
            zone_buckets={z: foundation.lake.bucket_names[z] for z in lustre.zones},
            storage_gb=lustre.storage_gb,
            throughput_mb_per_tib=lustre.throughput_mb_per_tib,
            kms_key_arn=foundation.key.arn,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=pulumi.Output.from_input(cluster.oidc_issuer).apply(lambda i: i.removeprefix("https://")),
            protect=cfg.is_prod,
            s3_prefix_list_id=foundation.vpc.s3_endpoint.prefix_list_id,
            teams={t.name: t.name for t in cfg.teams},
            tags=tagging.platform_tags(cfg),
        ),
        pulumi.ResourceOptions(
            providers={"aws": foundation.provider, "kubernetes": foundation.k8s_provider}, depends_on=waits or None
        ),
    )
    layer.shared_volumes = SharedVolumes(
        claim=CLAIM, volumes={t.name: (f"lustre-{t.name}", f"{lustre.storage_gb}Gi") for t in cfg.teams}, file_system=fs
    )
    pulumi.export("lustreFileSystemId", fs.file_system.id)
