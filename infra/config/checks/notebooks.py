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
    if nb.enabled and cfg.cloud not in ("aws", "gcp"):
        # home volumes must be encrypted with the platform key (EBS kmsKeyId / GCE PD disk-encryption-kms-key); on a
        # cluster you bring, a StorageClass we cannot vouch for
        yield ns + "enabled", f"notebooks are built on cloud 'aws' and 'gcp' (encrypted home volumes); cloud {cfg.cloud!r} is not supported yet"
    if cfg.serving.enabled and cfg.cloud not in ("aws", "gcp"):
        # the <team>-serving identity that reads the registry's artifacts: IRSA / Pod Identity, or GKE Workload Identity
        yield NAMESPACE + ":serving.enabled", f"serving is built on cloud 'aws' and 'gcp' (the serving identity); cloud {cfg.cloud!r} is not supported yet"
    if nb.enabled and not teams:
        yield ns + "enabled", "notebooks are charged to teams; the stack has no teams"
    for user, team in nb.users.items():
        if team not in teams:
            yield ns + f"users.{user}", f"{team!r} is not a team; allowed: {', '.join(teams) or 'none'}"

