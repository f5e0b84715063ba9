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


class ProjectApis(pulumi.ComponentResource):
    """One ``gcp.projects.Service`` per API, kept enabled when the stack is destroyed."""

    services: list[gcp.projects.Service]
    by_api: dict[str, gcp.projects.Service]
    """The ``Service`` enabling each API, by service name (for a resource that names its API as a dependency)."""

    def __init__(self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:ProjectApis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in args.apis
        ]
        self.by_api = dict(zip(args.apis, self.services, strict=True))
        self.register_outputs({"apis": list(args.apis)})
