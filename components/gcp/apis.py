"""Google APIs a project must have enabled before anything else is created in it.

A new project has only a few APIs on; creating a resource of a disabled API fails with
``SERVICE_DISABLED`` ("... API has not been used in project ... or it is disabled"). Each API is
enabled with ``gcp.projects.Service`` and left enabled on destroy: disabling an API while other
stacks or Google's own agents use it breaks them, and re-enabling is free.

Every other resource must wait for the APIs; the usual way is a provider that depends on
:attr:`ProjectApis.services` (see ``infra.layers.gcp``), so every resource using it waits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.base import Component

_API = re.compile(r"^[a-z0-9.-]+\.googleapis\.com$")


@dataclass(frozen=True)
class ProjectApisArgs:
    """Arguments of :class:`ProjectApis`.

    :param project: Project id.
    :param apis: Service names (``container.googleapis.com``), each once.
    """

    project: str
    apis: Sequence[str]

    def __post_init__(self) -> None:
        if not self.apis or len(set(self.apis)) != len(self.apis):
            raise ValueError("apis must name at least one API, each once")
        for api in self.apis:
            if not _API.match(api):
                raise ValueError(f"{api!r} is not a Google API service name")


class ProjectApis(Component):
    """One ``gcp.projects.Service`` per API, kept enabled when the stack is destroyed."""

    apis: tuple[str, ...]
    services: list[gcp.projects.Service]
    by_api: dict[str, gcp.projects.Service]
    """The ``Service`` enabling each API, by service name (for a resource that names its API as a dependency)."""

    def __init__(self, resource_name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:ProjectApis", resource_name, opts)
        services = [
            gcp.projects.Service(
                f"{resource_name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=self.child_opts(),
            )
            for api in args.apis
        ]
        self.publish(apis=tuple(args.apis), services=services, by_api=dict(zip(args.apis, services, strict=True)))
