"""Reading IAM policy documents from resource inputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from policies.common.base import decoded, get, items

IDENTITY_POLICIES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ROLE = "aws:iam/role:Role"
TYPES = (*IDENTITY_POLICIES, ROLE)


def documents(resource_type: str, props: Any) -> Iterator[tuple[str, Any]]:
    """``(where, document)`` for every identity-policy document in a resource's inputs."""
    if resource_type == ROLE:
        for i, inline in enumerate(items(get(props, "inlinePolicies"))):
            yield f"inlinePolicies[{i}]", decoded(get(inline, "policy"))
        return
    yield "policy", decoded(get(props, "policy"))


def allow_statements(document: Any) -> Iterator[tuple[int, Any]]:
    for i, st in enumerate(items(get(document, "Statement"))):
        if get(st, "Effect", default="Allow") == "Allow":
            yield i, st
