"""The Pulumi SDK internals the offline plan relies on still have the shape infra/plan/sdk_compat.py expects.

If a ``pulumi`` / ``pulumi_policy`` upgrade moves or changes one of them, this file fails with its
name; and no other module may reach for SDK internals on its own.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path

import pulumi
import pulumi_policy
import pytest

from infra.plan import sdk_compat as sdk
from infra.plan.model import UNKNOWN

ROOT = Path(__file__).resolve().parent.parent
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_wire_signatures_are_the_sdks_and_distinct() -> None:
    sigs = [sdk.SIG_KEY, sdk.SECRET_SIG, sdk.RESOURCE_SIG, *sdk.ASSET_SIGS]
    assert all(isinstance(s, str) and HEX32.match(s) for s in sigs), sigs
    assert len(set(sigs)) == len(sigs)


def test_secret_envelope_survives_serialization_as_the_recorder_uses_it() -> None:
    """RecordingMonitor wraps additionalSecretOutputs in the secret envelope and serializes them back."""
    from google.protobuf import json_format

    from infra.plan.recorder import plain

    wrapped = {"password": {sdk.SIG_KEY: sdk.SECRET_SIG, "value": "p4ss"}, "port": 5432}
    struct = sdk.sync_await(sdk.serialize_properties(wrapped, {}))
    raw = json_format.MessageToDict(struct)
    assert raw["password"] == {sdk.SIG_KEY: sdk.SECRET_SIG, "value": "p4ss"}
    assert plain(raw) == {"password": "[secret]", "port": 5432}
    state = sdk.deserialize_properties(struct, keep_unknowns=True)
    assert state["port"] == 5432 and "p4ss" in str(state["password"])


def test_unknown_sentinels_of_both_sdks_agree() -> None:
    """The plan writes unknowns as [unknown]; policy_hook hands packs the policy SDK's sentinel."""
    assert sdk.UNKNOWN_VALUE == sdk.UNKNOWN_POLICY_VALUE
    assert UNKNOWN not in (sdk.UNKNOWN_VALUE, sdk.UNKNOWN_POLICY_VALUE)
    props = sdk.unknown_checking_proxy({"a": sdk.UNKNOWN_POLICY_VALUE, "b": [1]})
    assert list(props["b"]) == [1]
    with pytest.raises(sdk.UnknownValueError):
        props["a"]


def test_sync_await_and_event_loop() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    sdk.ensure_event_loop()
    assert sdk.sync_await(answer()) == 42


def test_runtime_reset_and_program_runner_exist_with_their_shapes() -> None:
    sdk.reset_runtime()
    assert pulumi.runtime.get_root_resource() is None
    assert inspect.iscoroutinefunction(inspect.unwrap(sdk._stack.run_pulumi_func))
    monitor = sdk.MockMonitor
    assert callable(getattr(monitor, "RegisterResource", None)) and callable(getattr(monitor, "make_urn", None))
    assert list(inspect.signature(monitor.make_urn).parameters)[1:] == ["parent", "type_", "name"]
    assert sdk.under_engine() in (True, False)
    assert isinstance(sdk.program_config(), dict)
    assert isinstance(sdk.program_secret_keys(), set)


def test_not_applicable_is_what_the_policy_sdk_raises() -> None:
    opts = pulumi_policy.PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=pulumi_policy.PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=None,
    )
    args = pulumi_policy.ResourceValidationArgs("t", {}, "urn", "n", opts, None, None)
    with pytest.raises(sdk.NotApplicableError):
        args.not_applicable("no")


def test_input_type_introspection() -> None:
    import pulumi_aws

    assert sdk.is_input_type(pulumi_aws.s3.BucketVersioningV2VersioningConfigurationArgs) or sdk.is_input_type(
        pulumi_aws.ec2.InstanceMetadataOptionsArgs
    )
    assert isinstance(sdk.input_type_types(pulumi_aws.ec2.InstanceMetadataOptionsArgs), dict)


# ---- nobody else reaches for SDK internals -------------------------------------------------------

PRIVATE_MODULES = (
    "pulumi._types",
    "pulumi.runtime.rpc",
    "pulumi.runtime.settings",
    "pulumi.runtime.sync_await",
    "pulumi.runtime.mocks",
    "pulumi.runtime.stack",
    "pulumi.runtime.config",
    "pulumi_policy.policy",
    "pulumi_policy.proxy",
)
KNOWN_ELSEWHERE = {
    # policies cannot import infra (their own virtualenv); catching UnknownValueError is all they do
    "policies/common/base.py": {"pulumi_policy.proxy"},
}


def private_sdk_uses(path: Path) -> set[str]:
    """SDK-internal modules ``path`` imports (anywhere, lazily too) or underscore names it imports from the SDKs."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("pulumi", "pulumi_policy"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in PRIVATE_MODULES or node.module in PRIVATE_MODULES or alias.name.startswith("_"):
                    found.add(full if full in PRIVATE_MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in PRIVATE_MODULES)
    return found


def test_no_module_but_sdk_compat_uses_sdk_internals() -> None:
    offenders = {}
    for path in sorted(ROOT.glob("[a-z]*/**/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "build/")) or rel == "infra/plan/sdk_compat.py":
            continue
        uses = private_sdk_uses(path) - KNOWN_ELSEWHERE.get(rel, set())
        if uses:
            offenders[rel] = sorted(uses)
    assert offenders == {}


def test_the_scan_finds_a_private_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from pulumi.runtime.sync_await import _sync_await\n    from pulumi_policy.policy import _NotApplicableError\n"
    )
    assert private_sdk_uses(bad) == {"pulumi.runtime.sync_await", "pulumi_policy.policy"}
