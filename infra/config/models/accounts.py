"""Cloud account-level settings (``gcp:``, ``aws:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.base import ConfigModel


class GcpConfig(ConfigModel):
    project: str | None = Field(default=None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    billing_account: str | None = None


class AwsConfig(ConfigModel):
    """``cloud: aws`` account-level facts."""

    autoscaling_service_linked_role: Literal["create", "existing"] = "create"
    """``create``: the stack creates ``AWSServiceRoleForAutoScaling`` (a new account has none and the
    KMS key policy names it; kept on destroy). ``existing``: the account has it already (any Auto
    Scaling group or EKS node group ever made it; another stack created it; this stack was
    destroyed and is being re-created) - ``python -m infra ops preflight`` tells which."""
