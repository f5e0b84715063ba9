"""A ``MockMonitor`` that records every registration request as the engine would see it."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from pulumi.runtime import Mocks
from pulumi.runtime.proto import resource_pb2

from infra.plan import sdk_compat as sdk
from infra.plan.model import SECRET as SECRET
from infra.plan.model import UNKNOWN as UNKNOWN
from infra.plan.model import RecordedResource as RecordedResource

_SIG = sdk.SIG_KEY
_SECRET_SIG = sdk.SECRET_SIG
_RESOURCE_SIG = sdk.RESOURCE_SIG
_ASSET_SIGS = sdk.ASSET_SIGS


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
    if value == sdk.UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(sdk.MockMonitor):
    """Records each ``RegisterResource`` request and honours ``additionalSecretOutputs``."""

    def __init__(self, mocks: Mocks) -> None:
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
        sdk.ensure_event_loop()
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
        record = self.recorded[-1]
        try:
            response = super().RegisterResource(request)
        except Exception as exc:
            self.errors.append(f"{urn}: {exc}")
            raise
        secret_keys = set(request.additionalSecretOutputs)
        if secret_keys:
            state = sdk.deserialize_properties(response.object, keep_unknowns=True)
            wrapped = {k: ({_SIG: _SECRET_SIG, "value": v} if k in secret_keys else v) for k, v in state.items()}
            obj = sdk.sync_await(sdk.serialize_properties(wrapped, {}))
            response = resource_pb2.RegisterResourceResponse(urn=response.urn, id=response.id, object=obj)
        record.id = str(response.id)
        record.state = plain(json_format.MessageToDict(response.object, preserving_proto_field_name=True))
        return response
