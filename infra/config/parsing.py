"""From the raw ``ml-platform:`` keys to a validated :class:`PlatformConfig`, or a :class:`ConfigError`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from infra.config.checks import cross_checks, plain_text_secrets
from infra.config.errors import ConfigError, pydantic_problems
from infra.config.models import PlatformConfig


def parse(raw: Mapping[str, Any], *, secret_keys: Collection[str] | None = None) -> PlatformConfig:
    """Validate the ``ml-platform:`` keys (prefix stripped) and return the typed config.

    :param secret_keys: The top-level keys (prefix stripped) that hold secure values; when given,
        a plain-text value of a :data:`~infra.config.checks.SECRET_ONLY_KEYS` path is an error.
    :raises ConfigError: naming every bad key path, its value and what is allowed.
    """
    try:
        cfg = PlatformConfig.model_validate(dict(raw))
    except ValidationError as err:
        raise ConfigError(pydantic_problems(err, PlatformConfig)) from None
    problems = list(plain_text_secrets(raw, secret_keys)) if secret_keys is not None else []
    problems += cross_checks(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg
