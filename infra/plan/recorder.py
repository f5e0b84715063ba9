"""A ``MockMonitor`` that records every registration request as the engine would see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

SECRET = "[secret]"
UNKNOWN = "[unknown]"
_SIG = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_RESOURCE_SIG = rpc._special_resource_sig
_ASSET_SIGS = (rpc._special_asset_sig, rpc._special_archive_sig)


@dataclass
class RecordedResource:
    """One registration request, in the plan JSON's shape."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    additional_secret_outputs: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input, the resources its value came from (``dependencies`` is their union plus ``dependsOn``)."""
    deleted_with: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "dependencies": self.dependencies,
            "inputs": self.inputs,
            "property_dependencies": self.property_dependencies,
            "deleted_with": self.deleted_with,
        }

    @property
    def provider_urn(self) -> str:
        """The provider's URN (``provider`` is ``urn::id``)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


def plain(value: Any) -> Any:
    """Turn a wire-format property (as a JSON-ish dict) into plain data, secrets as ``[secret]``."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig in _ASSET_SIGS:
            return {k: plain(v) for k, v in value.items() if k != _SIG}
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(_mocks.MockMonitor):
    """Records each ``RegisterResource`` request and honours ``additionalSecretOutputs``."""

    def __init__(self, mocks: _mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self.inputs_by_urn: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine builds them: the root stack is not part of a child's type chain."""
        if parent and parent.split("::")[2].split("$")[-1] == "pulumi:pulumi:Stack":
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        wire = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        inputs = plain(wire)
        self.recorded.append(
            RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                dependencies=sorted(set(request.dependencies)),
                inputs=inputs,
                additional_secret_outputs=list(request.additionalSecretOutputs),
                property_dependencies={
                    key: sorted(set(deps.urns)) for key, deps in sorted(request.propertyDependencies.items()) if deps.urns
                },
                deleted_with=request.deletedWith,
            )
        )
        self.inputs_by_urn[urn] = inputs
        try:
            response = super().RegisterResource(request)
        except Exception as exc:
            self.errors.append(f"{urn}: {exc}")
            raise
        secret_keys = set(request.additionalSecretOutputs)
        if secret_keys:
            state = rpc.deserialize_properties(response.object, keep_unknowns=True)
            wrapped = {
                k: ({_SIG: _SECRET_SIG, "value": v} if k in secret_keys else v) for k, v in state.items()
            }
            obj = _sync_await(rpc.serialize_properties(wrapped, {}))
            response = resource_pb2.RegisterResourceResponse(urn=response.urn, id=response.id, object=obj)
        return response
