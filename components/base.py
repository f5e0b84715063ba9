"""The one shape of an ml-platform component: ``X(resource_name, args, opts=None)``.

Modelled on pulumi-eks / awsx:

* ``args`` is a frozen dataclass (``XArgs``) that validates itself in ``__post_init__``, so a
  mistake fails on construction, before anything is registered;
* providers reach the children only through ``opts`` (``provider=`` or ``providers=``) and the
  parent chain: a child registered with ``parent=self`` takes the component's provider for its
  package (``pulumi.Resource._get_providers``). A second provider of the same package (a DR region)
  is an argument, named for what it is;
* children are built with :meth:`Component.child_opts`, which parents them and makes them wait for
  whatever the component waits for: Pulumi does not pass a component's ``depends_on`` to its
  children (a release inside a component that depends on the system nodes would otherwise start
  without them). ``tests/test_component_shape.py`` walks every plan and checks this;
* outputs are plain attributes in snake_case, registered once with :meth:`Component.publish`.

Copy ``components/aws/cost_allocation.py`` for a new component.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.options import inherited_depends_on

__all__ = ["Component", "inherited_depends_on"]


class Component(pulumi.ComponentResource):
    """Base of every ml-platform component.

    :param type_: the component's type token, ``ml-platform:<aws|gcp|k8s>:<Name>``.
    :param resource_name: the component's name (children's names start with it).
    :param opts: the component's options; ``depends_on`` is passed on to every child.
    """

    def __init__(self, type_: str, resource_name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, resource_name, None, opts)
        self._name = resource_name
        self._waits_for: list[pulumi.Resource] = inherited_depends_on(opts)

    @property
    def waits_for(self) -> list[pulumi.Resource]:
        """The component's own ``depends_on`` (resources only), which every child inherits."""
        return list(self._waits_for)

    def child_opts(
        self,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        parent: pulumi.Resource | None = None,
        keep: bool | None = None,
        **kwargs: Any,
    ) -> pulumi.ResourceOptions:
        """Options for a child: parented here (or under ``parent``, itself a child), waiting for the
        component's dependencies plus ``depends_on``; other keywords are passed to ``ResourceOptions``.

        :param keep: for stateful children (data, keys, audit logs): ``protect`` and ``retain_on_delete``
            together, so a protected resource is also kept if its stack is destroyed or it leaves the program.
        """
        if keep is not None:
            kwargs = {"protect": keep, "retain_on_delete": keep, **kwargs}
        waits = [*self._waits_for, *(d for d in depends_on if d is not None)]
        return pulumi.ResourceOptions(parent=parent or self, depends_on=waits or None, **kwargs)

    def publish(self, **outputs: Any) -> None:
        """Set each output as an attribute and register them with the engine, once."""
        for key, value in outputs.items():
            setattr(self, key, value)
        self.register_outputs(outputs)
