"""What every part of the config package shares: the namespace, the key patterns, the model base."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

NAMESPACE = "ml-platform"
DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
RUNNER_ENV = "ML_PLATFORM_RUNNER"
"""Set by the workflows to ``${{ runner.environment }}`` (``github-hosted`` or ``self-hosted``)."""
SECRET_PLACEHOLDER = "[secret]"
DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
LABEL_NAME = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$"

Environment = Literal["dev", "staging", "prod"]
Cloud = Literal["aws", "gcp", "existing"]

Problem = tuple[str, str]
"""One mistake in a stack file: ``(key path, reason)``."""


class ConfigModel(BaseModel):
    """Base of every config model: camelCase keys in the stack file, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


def cidr_block(cidr: str, *, everything: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``cidr`` as a network; a ValueError naming it when it is no CIDR block or is ``/0`` (``everything`` says why)."""
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        raise ValueError(f"{cidr!r} is not a CIDR block") from None
    if net.prefixlen == 0:
        raise ValueError(f"{cidr!r} {everything}")
    return net
