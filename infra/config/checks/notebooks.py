"""JupyterHub notebooks and KServe serving."""

from __future__ import annotations

from collections.abc import Iterator

from infra.config.base import NAMESPACE, Problem
from infra.config.models import PlatformConfig


def notebook_checks(cfg: PlatformConfig) -> Iterator[Problem]:
    ns = NAMESPACE + ":notebooks."
    nb = cfg.notebooks
    teams = [t.name for t in cfg.teams]
    if nb.enabled and nb.oidc is None:
        yield ns + "oidc", "required when notebooks.enabled is true (clientId, authorizeUrl, tokenUrl, userdataUrl, callbackUrl)"
    if nb.enabled and nb.oidc is not None and nb.oidc.client_secret is None:
        yield ns + "oidc.clientSecret", "required: pulumi config set --secret --path ml-platform:notebooks.oidc.clientSecret ..."
    if nb.enabled and cfg.cloud == "existing" and nb.storage_class is None:
        # home volumes must be encrypted: on aws / gcp with the platform key (EBS kmsKeyId / GCE PD
        # disk-encryption-kms-key); on a cluster you bring, with a StorageClass its admin vouches for
        yield ns + "storageClass", "required on cloud 'existing': an existing StorageClass that encrypts volumes (home volumes)"
    if nb.storage_class is not None and cfg.cloud != "existing":
        yield (
            ns + "storageClass",
            f"only on cloud 'existing'; on {cfg.cloud!r} the platform makes an encrypted StorageClass with its key",
        )
    if cfg.serving.enabled and cfg.cloud not in ("aws", "gcp"):
        # the <team>-serving identity reads the registry's artifacts from the lake's models bucket: IRSA / Pod Identity
        # or GKE Workload Identity; a cluster you bring has no lake (MLflow keeps artifacts on a volume)
        yield (
            NAMESPACE + ":serving.enabled",
            (f"serving pulls models from the lake's models bucket (cloud 'aws' or 'gcp'); cloud {cfg.cloud!r} has no lake"),
        )
    if nb.enabled and not teams:
        yield ns + "enabled", "notebooks are charged to teams; the stack has no teams"
    for user, team in nb.users.items():
        if team not in teams:
            yield ns + f"users.{user}", f"{team!r} is not a team; allowed: {', '.join(teams) or 'none'}"
