"""The Pulumi program: compose the components from the typed stack config.

No resource logic lives here: a cloud layer builds the cloud resources and hands a
:class:`~infra.layers.context.CloudLayer` to the Kubernetes layer, which builds the same
in-cluster platform on every cloud.
"""

from __future__ import annotations

import pulumi

from infra import config
from infra.layers import aws as aws_layer
from infra.layers import existing as existing_layer
from infra.layers import gcp as gcp_layer
from infra.layers import k8s as k8s_layer


def build(cfg: config.PlatformConfig) -> None:
    """Build the whole platform for ``cfg``."""
    if cfg.cloud == "aws":
        cloud = aws_layer.build(cfg)
    elif cfg.cloud == "gcp":
        cloud = gcp_layer.build(cfg)
    else:
        cloud = existing_layer.build(cfg)
    k8s_layer.build(cfg, cloud)
    pulumi.export("cloud", cfg.cloud)
    pulumi.export("environment", cfg.environment)
    if cfg.region:
        pulumi.export("region", cfg.region)
    pulumi.export("clusterName", cloud.cluster_name)


def main() -> None:
    """Entry point used by ``pulumi up`` and by the offline plan."""
    try:
        cfg = config.from_pulumi()
        config.check_fleet_stacks(cfg, pulumi.get_stack())
    except config.ConfigError as err:
        # RunError is shown by the CLI without a Python traceback.
        raise pulumi.RunError(f"invalid stack config:\n{err}") from None
    build(cfg)
